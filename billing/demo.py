"""Realistic demo data: a Paris consultant, French taxes, clients, a catalog and jobs.

`load()` runs one step per kind of data; each step returns what it created
in `Demo`. `add_invoices(n)` then adds two years of invoices to the demo
clients, built in Python and inserted in bulk (`flask --app app demo --invoices N`),
exactly as the lifecycle verbs (finalize, mark sent, add a payment, cancel) would
have left them: every statement built on them adds up.
"""

from __future__ import annotations

import random
import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import selectinload

from billing import accounts, invoices, money, numbering, settings, taxes
from billing.models import (
    Business,
    Client,
    Country,
    Event,
    Instalment,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceLineTax,
    InvoiceStatus,
    InvoiceTax,
    Item,
    Job,
    JobStatus,
    NumberSequence,
    Payment,
    PaymentMethod,
    TaxRate,
    db,
    utcnow,
)

DEMO_EMAIL = "demo@camille-laurent-conseil.fr"
VAT_NUMBER = "FR81841234560"


class DemoRefused(Exception):
    """A reason, in French, why the demo data was not loaded."""


@dataclass
class Demo:
    password: str | None = None
    taxes: dict[str, TaxRate] = field(default_factory=dict)
    clients: dict[str, Client] = field(default_factory=dict)
    items: dict[str, Item] = field(default_factory=dict)
    jobs: list[Job] = field(default_factory=list)


def load(force: bool = False) -> str:
    """Add the demo data (refused if clients exist, unless `force`); return a summary."""
    if not force and db.session.scalar(select(func.count()).select_from(Client)):
        raise DemoRefused(
            "La base contient déjà des clients : les données de démonstration n'ont pas été "
            "ajoutées. Utilisez --force pour les ajouter quand même."
        )
    demo = Demo()
    demo.password = _owner()
    business = settings.business()
    _business(business)
    demo.taxes = _tax_rates(business)
    demo.clients = _clients()
    demo.items = _catalog(demo.taxes)
    demo.jobs = _jobs(demo.clients)
    db.session.flush()
    return _summary(demo)


def _owner() -> str | None:
    """Create the demo owner when there is none; return its new password."""
    if accounts.owner_exists():
        return None
    password = secrets.token_urlsafe(12)
    accounts.create_owner(DEMO_EMAIL, password, "Camille Laurent Conseil")
    return password


def _business(business: Business) -> None:
    business.name = "Camille Laurent Conseil"
    business.email = "contact@camille-laurent-conseil.fr"
    business.address = "18 rue de la Roquette\n75011 Paris\nFrance"
    business.phone = "+33 6 12 34 56 78"
    business.country = Country.FR
    business.currency = "EUR"
    business.timezone = "Europe/Paris"
    business.siren = "841234560"
    business.vat_number = VAT_NUMBER
    business.iban = "FR7630006000011234567890189"
    business.bic = "AGRIFRPPXXX"
    business.payment_terms_days = 30
    business.vat_exempt = False
    business.legal_footer = (
        "Camille Laurent Conseil, EURL au capital de 5 000 € — RCS Paris 841 234 560 — "
        f"TVA intracommunautaire {VAT_NUMBER}"
    )
    settings.apply_country_defaults(business)


def _tax_rates(business: Business) -> dict[str, TaxRate]:
    """The French VAT preset (20, 10, 5,5 and 2,1 %), with the business's VAT number."""
    taxes.add_preset(taxes.preset(Country.FR), business)
    return {rate.name: rate for rate in taxes.all_rates()}


def _clients() -> dict[str, Client]:
    group = Client(
        name="Groupe Hexalis",
        company_number="528140734",
        vat_number="FR61528140734",
        address="Tour Hexalis\n1 place de la Défense\n92400 Courbevoie",
        emails=["comptabilite@hexalis.fr", "achats@hexalis.fr"],
        payment_terms_days=45,
    )
    clients = [
        group,
        Client(
            name="Hexalis Services",
            parent=group,
            company_number="443061841",
            vat_number="FR64443061841",
            address="27 quai Perrache\n69002 Lyon",
            emails=["factures@hexalis-services.fr"],
            payment_terms_days=45,
        ),
        Client(
            name="Association Les Jardins du Onzième",
            address="5 passage Courtois\n75011 Paris",
            emails=["tresorerie@jardins-onze.org", "presidence@jardins-onze.org"],
            notes="Association loi 1901, RNA W751234567. Pas de numéro de TVA.",
        ),
        Client(
            name="Atelier Moreau",
            company_number="897654323",
            vat_number="FR93897654323",
            address="42 cours de l'Argonne\n33000 Bordeaux",
            emails=["contact@atelier-moreau.fr"],
            by_email=False,
            notes="Préfère recevoir les factures par courrier.",
        ),
        Client(
            name="Northwind Analytics Ltd",
            vat_number="IE6388047V",
            address="14 Fitzwilliam Square\nDublin 2, D02 X285\nIreland",
            emails=["accounts@northwind-analytics.ie"],
            language="en",
            notes="Autoliquidation de la TVA (client établi dans l'UE).",
        ),
        Client(
            name="Coopérative Boréale",
            company_number="1171234567",
            address="1250 rue Sainte-Catherine Ouest\nMontréal (Québec) H3G 1P1\nCanada",
            emails=["comptes@cooperative-boreale.ca"],
            currency="CAD",
            payment_terms_days=30,
        ),
    ]
    db.session.add_all(clients)
    return {client.name: client for client in clients}


def _catalog(taxes: dict[str, TaxRate]) -> dict[str, Item]:
    standard, books = [taxes["TVA 20 %"]], [taxes["TVA 5,5 %"]]
    items = [
        Item(name="Journée de conseil", unit="jour", unit_price_cents=65_000, tax_rates=standard,
             description="Accompagnement, ateliers et recommandations sur site ou à distance."),
        Item(name="Demi-journée de conseil", unit="demi-journée", unit_price_cents=35_000,
             tax_rates=standard),
        Item(name="Heure de développement", unit="heure", unit_price_cents=8_500,
             tax_rates=standard),
        Item(name="Forfait audit technique", unit="forfait", unit_price_cents=180_000,
             tax_rates=standard,
             description="Audit du code, de l'hébergement et de la sécurité, rapport écrit."),
        Item(name="Formation (journée)", unit="jour", unit_price_cents=110_000,
             tax_rates=standard, description="Jusqu'à 8 participants, supports fournis."),
        Item(name="Maintenance mensuelle", unit="mois", unit_price_cents=24_000,
             tax_rates=standard),
        Item(name="Frais de déplacement", unit="km", unit_price_cents=60, tax_rates=standard),
        Item(name="Livre « Piloter un projet numérique »", unit="exemplaire",
             unit_price_cents=2_900, tax_rates=books),
    ]
    db.session.add_all(items)
    return {item.name: item for item in items}


def _jobs(clients: dict[str, Client]) -> list[Job]:
    planned = [
        ("Groupe Hexalis", "Audit de sécurité 2025", JobStatus.CLOSED),
        ("Groupe Hexalis", "Schéma directeur du SI", JobStatus.OPEN),
        ("Hexalis Services", "Refonte de l'intranet", JobStatus.OPEN),
        ("Association Les Jardins du Onzième", "Site des adhérents", JobStatus.OPEN),
        ("Atelier Moreau", "Boutique en ligne", JobStatus.CLOSED),
        ("Northwind Analytics Ltd", "Data dashboard", JobStatus.OPEN),
        ("Coopérative Boréale", "Formation de l'équipe data", JobStatus.CLOSED),
    ]
    jobs = [Job(client=clients[owner], name=name, status=status) for owner, name, status in planned]
    db.session.add_all(jobs)
    return jobs


def _summary(demo: Demo) -> str:
    open_jobs = sum(job.status is JobStatus.OPEN for job in demo.jobs)
    lines = [
        f"Demo data loaded: {len(demo.clients)} clients, {len(demo.items)} catalog items, "
        f"{len(demo.taxes)} tax rates, {len(demo.jobs)} jobs ({open_jobs} open)."
    ]
    if demo.password:
        lines.append(f"Log in as {DEMO_EMAIL} with the password: {demo.password}")
    return "\n".join(lines)


# --- Invoices (`demo --invoices N`) ---------------------------------------------
# Two years of invoices for the demo clients, planned in Python (totals from
# `money.compute_totals`, exactly as `invoices.recompute` stores them) and
# inserted in bulk: 5 000 invoices take a few seconds.

DAYS = 730  # the invoices spread over the last two years
S = InvoiceStatus
M = PaymentMethod

# How clients pay, by default: mostly by transfer, every method now and then.
PAYMENT_METHODS = (
    (M.BANK_TRANSFER, 50), (M.CHEQUE, 12), (M.STRIPE, 10), (M.CREDIT_CARD, 8), (M.ONLINE, 6),
    (M.PAYPAL, 5), (M.DEBIT_CARD, 4), (M.CASH, 3), (M.CREDIT, 2),
)


@dataclass(frozen=True)
class Habit:
    """How a demo client is invoiced: how often, for what, with or without French VAT."""

    weight: int
    items: tuple[str, ...]
    vat: bool = True
    notes: str = ""
    po_prefix: str = ""  # the client's purchase orders go in the reference
    methods: tuple[tuple[PaymentMethod, int], ...] = PAYMENT_METHODS  # how it pays, weighted


HABITS = {
    "Groupe Hexalis": Habit(
        5, ("Journée de conseil", "Forfait audit technique", "Formation (journée)",
            "Frais de déplacement"), po_prefix="BC-HX-",
        methods=((M.BANK_TRANSFER, 90), (M.CHEQUE, 5), (M.CREDIT, 5))),
    "Hexalis Services": Habit(
        4, ("Heure de développement", "Maintenance mensuelle", "Demi-journée de conseil"),
        po_prefix="HS-", methods=((M.BANK_TRANSFER, 80), (M.CHEQUE, 15), (M.CREDIT, 5))),
    "Association Les Jardins du Onzième": Habit(
        2, ("Heure de développement", "Maintenance mensuelle",
            "Livre « Piloter un projet numérique »"),
        methods=((M.CHEQUE, 45), (M.BANK_TRANSFER, 35), (M.CASH, 10), (M.DEBIT_CARD, 10))),
    "Atelier Moreau": Habit(
        2, ("Heure de développement", "Demi-journée de conseil", "Frais de déplacement"),
        methods=((M.CHEQUE, 40), (M.BANK_TRANSFER, 30), (M.CREDIT_CARD, 15),
                 (M.DEBIT_CARD, 10), (M.CASH, 5))),
    "Northwind Analytics Ltd": Habit(
        3, ("Journée de conseil", "Heure de développement"), vat=False,
        notes="Reverse charge: VAT to be accounted for by the recipient "
              "(art. 196, Directive 2006/112/EC).",
        methods=((M.BANK_TRANSFER, 50), (M.STRIPE, 30), (M.PAYPAL, 20))),
    "Coopérative Boréale": Habit(
        2, ("Formation (journée)", "Journée de conseil",
            "Livre « Piloter un projet numérique »"),
        vat=False, notes="Prestation de services hors UE : TVA non applicable, art. 259-1 du CGI.",
        methods=((M.BANK_TRANSFER, 40), (M.CREDIT_CARD, 25), (M.STRIPE, 20), (M.ONLINE, 15))),
}

# Quantities that make sense for each unit of the catalog (as typed: 0,5 day, 3,5 hours).
QUANTITIES = {
    "jour": ("0.5", "1", "2", "3", "5", "8"),
    "demi-journée": ("1", "2", "3"),
    "heure": ("2", "3.5", "7", "12", "20", "35"),
    "forfait": ("1",),
    "mois": ("1", "3"),
    "km": ("42", "118", "465", "584", "1160"),
    "exemplaire": ("1", "5", "12", "30"),
}
FREE_LINES = (
    ("Licence logicielle (refacturation)", 14_900),
    ("Hébergement annuel (refacturation)", 29_900),
    ("Nom de domaine (refacturation)", 1_500),
)
LINE_COUNTS = (1, 1, 2, 2, 3, 4, 6)
# The chance a sent invoice is still unpaid, by days past its due date.
UNPAID_CHANCES = ((0, 0.8), (30, 0.4), (120, 0.12), (DAYS, 0.03))


@dataclass
class World:
    """The demo clients (those with something to buy), the catalog and the jobs."""

    clients: list[Client]
    items: dict[str, Item]
    jobs: dict[int, list[Job]]


@dataclass
class PlannedLine:
    item_id: int | None
    description: str
    quantity: Decimal
    unit: str
    unit_price_cents: int
    discount: money.Discount
    taxes: list[TaxRate]

    def as_money(self) -> money.Line:
        keys = tuple(money.TaxKey(t.name, t.rate_millis, t.registration_number) for t in self.taxes)
        return money.Line(self.quantity, self.unit_price_cents, self.discount, keys)


@dataclass
class PlannedPayment:
    """A payment as `payments.add` records it: its row, and the « payment_added » event."""

    day: date
    amount_cents: int
    method: PaymentMethod
    at: datetime  # when it was recorded
    notes: str = ""
    reference: str | None = None


@dataclass
class Plan:
    """One invoice or credit note, ready to insert."""

    client: Client
    job_id: int | None
    issue: date
    terms: int
    due: date
    lines: list[PlannedLine]
    totals: money.Totals
    reference: str = ""
    notes: str = ""
    kind: InvoiceKind = InvoiceKind.INVOICE
    status: InvoiceStatus = S.DRAFT
    number: str | None = None
    schedule: list[tuple[date, Decimal, int]] = field(default_factory=list)  # due, %, cents
    paid_cents: int = 0  # always the sum of `payments`
    credited_cents: int = 0
    payments: list[PlannedPayment] = field(default_factory=list)
    issue_date_chosen: bool = False
    created: datetime | None = None
    finalized: datetime | None = None
    sent: datetime | None = None
    updated: datetime | None = None
    credit_note: Plan | None = None  # on a cancelled invoice
    credits: Plan | None = None  # on a credit note: the invoice it cancels
    id: int | None = None


@dataclass
class Clock:
    """Working hours in the business's time zone, stored as naive UTC, never after now."""

    zone: ZoneInfo
    now: datetime
    rng: random.Random

    def at(self, day: date, after: datetime | None = None) -> datetime:
        """A moment of `day` (local), after `after` if given, yet on that day when `after`
        is (what happens on a day is recorded that day), and never after now."""
        local = datetime.combine(day, time(8)) + timedelta(minutes=self.rng.randrange(11 * 60))
        moment = self._utc(local)
        if after is not None:
            later = after + timedelta(minutes=self.rng.randrange(5, 120))
            moment = max(moment, min(later, self._utc(datetime.combine(day, time(23, 59)))))
            moment = max(moment, after)
        return min(moment, self.now)

    def _utc(self, local: datetime) -> datetime:
        return local.replace(tzinfo=self.zone).astimezone(timezone.utc).replace(tzinfo=None)


def loaded() -> bool:
    """Whether the demo clients and their catalog are in the database."""
    return bool(_world().clients)


def add_invoices(count: int, seed: int = 42) -> str:
    """Add `count` invoices to the demo clients, dated over the last two years; return a summary.

    Every status is there: drafts, « À envoyer », « Paiement attendu » (some late,
    some partly paid), « Payée » with its payments, « Annulée » with its credit note.
    Everything is as the verbs leave it: `paid_cents` is the sum of the invoice's
    payments (dated from its sending to today, in the client's usual methods), a
    cancelled invoice is mirrored by its credit note as `invoices.cancel` makes it,
    sent invoices were sent by hand (« Facture envoyée »). Numbers follow the date
    order and continue each series' counter, which is left ready for the next
    finalize: a later batch dates its invoices (and credit notes) on or after the
    last numbered one of the series, so issue dates never go back in number order.
    Messages have no rows (nothing was emailed). Dates come from the app's clock.
    The caller took `numbering.lock()` first and commits.
    """
    world = _world()
    if not world.clients:
        raise DemoRefused("Les clients de démonstration sont absents : chargez d'abord la démo.")
    business = settings.business()
    today = settings.today(business)
    rng = random.Random(seed)
    clock = Clock(ZoneInfo(business.timezone), utcnow(), rng)
    last_invoice = invoices.last_issue_date(InvoiceKind.INVOICE)
    last_note = invoices.last_issue_date(InvoiceKind.CREDIT_NOTE)
    days = DAYS if last_invoice is None else max(1, min(DAYS, (today - last_invoice).days + 1))

    drafts = min(count, max(1, count // 40))
    plans = [
        _plan(world, business, rng, today - timedelta(days=rng.randrange(days)))
        for _ in range(count - drafts)
    ]
    plans.sort(key=lambda plan: plan.issue)
    to_send = min(len(plans), max(1, count // 50))
    for plan in plans[: len(plans) - to_send]:
        _settle(plan, rng, today)
    for plan in plans[len(plans) - to_send :]:
        plan.status = S.TO_SEND
    for plan in plans:
        _timeline(plan, clock, rng, today, last_note)
    plans.sort(key=_in_order)  # ids, like numbers, follow the order of finalization
    notes = sorted((plan.credit_note for plan in plans if plan.credit_note), key=_in_order)
    _number(plans, "invoice")
    _number(notes, "credit_note")
    for note in notes:
        note.reference = note.credits.number
    for _ in range(drafts):
        draft = _plan(world, business, rng, today - timedelta(days=rng.randrange(15)))
        draft.created = clock.at(draft.issue)
        draft.updated = clock.at(draft.issue, after=draft.created)
        plans.append(draft)

    _insert(plans, notes, business)
    return _invoices_summary(plans, notes, today)


def _world() -> World:
    clients: dict[str, Client] = {}
    for client in db.session.scalars(
        select(Client).where(Client.name.in_(HABITS)).order_by(Client.id)
    ):
        clients.setdefault(client.name, client)
    names = {name for habit in HABITS.values() for name in habit.items}
    items: dict[str, Item] = {}
    for item in db.session.scalars(
        select(Item)
        .where(Item.name.in_(names))
        .options(selectinload(Item.tax_rates))
        .order_by(Item.id)
    ):
        items.setdefault(item.name, item)
    usable = [c for c in clients.values() if any(name in items for name in HABITS[c.name].items)]
    jobs: dict[int, list[Job]] = {}
    for job in db.session.scalars(
        select(Job).where(Job.client_id.in_([c.id for c in usable])).order_by(Job.id)
    ):
        jobs.setdefault(job.client_id, []).append(job)
    return World(usable, items, jobs)


def _plan(world: World, business: Business, rng: random.Random, issue: date) -> Plan:
    """A draft for a client picked by habit: catalog lines, maybe a free line, maybe a schedule."""
    client = rng.choices(world.clients, [HABITS[c.name].weight for c in world.clients])[0]
    habit = HABITS[client.name]
    choices = [world.items[name] for name in habit.items if name in world.items]
    lines = [_catalog_line(rng.choice(choices), habit, rng) for _ in range(rng.choice(LINE_COUNTS))]
    if rng.random() < 0.1:
        description, price = rng.choice(FREE_LINES)
        lines.append(PlannedLine(None, description, Decimal(1), "", price, money.NO_DISCOUNT,
                                 list(lines[0].taxes)))
    terms = client.payment_terms_days
    terms = business.payment_terms_days if terms is None else terms
    jobs = world.jobs.get(client.id)
    po = f"{habit.po_prefix}{issue.year}-{rng.randrange(1, 1000):03d}" if habit.po_prefix else ""
    plan = Plan(
        client=client,
        job_id=rng.choice(jobs).id if jobs and rng.random() < 0.6 else None,
        issue=issue,
        terms=terms,
        due=issue + timedelta(days=terms),
        lines=lines,
        totals=money.compute_totals([line.as_money() for line in lines]),
        reference=po,
        notes=habit.notes,
    )
    if plan.totals.total_cents >= 300_000 and rng.random() < 0.2:
        _schedule(plan)
    return plan


def _catalog_line(item: Item, habit: Habit, rng: random.Random) -> PlannedLine:
    """A copy of a catalog item, as `invoices.add_line` makes it, with a realistic quantity."""
    quantity = Decimal(rng.choice(QUANTITIES.get(item.unit, ("1",))))
    discount = money.NO_DISCOUNT
    roll = rng.random()
    if roll < 0.05:
        discount = money.Discount(percent=Decimal(rng.choice((5, 10, 15))))
    elif roll < 0.08:
        tenth = money.Line(quantity, item.unit_price_cents).gross_cents // 1000 * 100
        discount = money.Discount(cents=tenth) if tenth else money.NO_DISCOUNT
    return PlannedLine(
        item.id,
        "\n".join(part for part in (item.name, item.description) if part),
        quantity,
        item.unit,
        item.unit_price_cents,
        discount,
        [rate for rate in item.tax_rates if rate.active] if habit.vat else [],
    )


def _schedule(plan: Plan) -> None:
    """30 % at the usual due date, 70 % a month later (« Calendrier de paiement »)."""
    percents = (Decimal(30), Decimal(70))
    amounts = money.split_instalments(
        plan.totals.total_cents, [money.InstalmentSpec(percent=p) for p in percents]
    )
    dues = (plan.due, plan.due + timedelta(days=30))
    plan.schedule = list(zip(dues, percents, amounts, strict=True))
    plan.due = dues[-1]


def _settle(plan: Plan, rng: random.Random, today: date) -> None:
    """What became of a sent invoice: paid, still awaited (maybe late or partly paid), cancelled.

    The older its due date, the likelier it was paid. Only the amount is decided
    here (`paid_cents`); `_timeline` records the payments that make it up.
    """
    total = plan.totals.total_cents
    if rng.random() < 0.04:
        plan.status = S.CANCELLED
        return
    late_days = (today - plan.due).days
    unpaid = next(chance for days, chance in UNPAID_CHANCES if late_days <= days)
    if rng.random() >= unpaid:
        plan.status, plan.paid_cents = S.PAID, total
        return
    plan.status = S.AWAITING_PAYMENT
    if rng.random() < 0.25:
        share = rng.choice((30, 40, 50))
        plan.paid_cents = plan.schedule[0][2] if plan.schedule else total * share // 100


def _timeline(
    plan: Plan, clock: Clock, rng: random.Random, today: date, last_note: date | None
) -> None:
    """When it was created, finalized, sent, paid or cancelled (then with its credit note).

    Each step is recorded on its own day, in order: finalized on the issue date, sent
    within two days, paid from then on (never after today), cancelled after it was
    sent and on or after the series' last credit note.
    """
    plan.finalized = clock.at(plan.issue)
    plan.created = plan.finalized - timedelta(minutes=rng.randrange(10, 3 * 24 * 60))
    plan.updated = plan.finalized
    sent = plan.status in (S.AWAITING_PAYMENT, S.PAID) or (
        plan.status is S.CANCELLED and rng.random() < 0.5
    )
    sent_on = plan.issue
    if sent:
        sent_on = min(plan.issue + timedelta(days=rng.randrange(3)), today)
        plan.sent = clock.at(sent_on, plan.finalized)
        plan.updated = plan.sent
    if plan.paid_cents:
        _pay(plan, clock, rng, today, sent_on)
    if plan.status is S.CANCELLED:
        on = max(min(plan.issue + timedelta(days=rng.randrange(1, 21)), today), sent_on)
        on = max(on, last_note) if last_note else on
        note = Plan(  # as `invoices.cancel` makes it
            client=plan.client,
            job_id=plan.job_id,
            issue=on,
            terms=0,
            due=on,
            lines=plan.lines,
            totals=plan.totals,
            kind=InvoiceKind.CREDIT_NOTE,
            status=S.PAID,
            credited_cents=plan.totals.total_cents,  # an issued credit note owes nothing
            issue_date_chosen=True,
            credits=plan,
        )
        note.finalized = note.created = note.updated = clock.at(on, plan.updated)
        plan.credit_note = note
        plan.credited_cents = plan.totals.total_cents - plan.paid_cents  # its balance: all of it
        plan.updated = note.finalized


def _pay(plan: Plan, clock: Clock, rng: random.Random, today: date, sent_on: date) -> None:
    """The payments that make up `paid_cents`, as `payments.add` records them: around each
    due date (instalments are paid one by one, some invoices in two goes), never before
    the invoice was sent nor after today, in the client's usual methods."""
    if plan.schedule:
        parts, left = [], plan.paid_cents
        for due, _percent, amount in plan.schedule:
            if left > 0:
                parts.append((due, min(amount, left)))
                left -= amount
    elif plan.status is S.PAID and plan.paid_cents >= 100_000 and rng.random() < 0.15:
        deposit = plan.paid_cents * rng.choice((30, 40, 50)) // 100
        parts = [(plan.due - timedelta(days=plan.terms // 2), deposit),
                 (plan.due, plan.paid_cents - deposit)]
    else:
        parts = [(plan.due, plan.paid_cents)]
    habit = HABITS[plan.client.name]
    methods, weights = zip(*habit.methods, strict=True)
    method = rng.choices(methods, weights)[0]  # a client pays one invoice one way, mostly
    day, after = sent_on, plan.updated
    for due, amount in parts:
        delay = rng.randrange(-min(plan.terms, 25), 21)
        if rng.random() < 0.1:
            delay += rng.randrange(20, 90)  # some pay (very) late
        day = min(max(due + timedelta(days=delay), day), today)
        if rng.random() < 0.2:
            method = rng.choices(methods, weights)[0]
        at = clock.at(day, after)
        plan.payments.append(PlannedPayment(day, amount, method, at, *_payment_note(method, rng)))
        after = at
    plan.updated = after


def _payment_note(method: PaymentMethod, rng: random.Random) -> tuple[str, str | None]:
    """The notes and outside reference the owner (or the Stripe webhook) records."""
    if method is M.STRIPE:  # as `portal` records a Checkout payment
        return "Stripe", "pi_" + "".join(rng.choices(_ALPHANUMERIC, k=24))
    if method is M.CHEQUE:
        return f"Chèque n° {rng.randrange(1_000_000, 10_000_000)}", None
    if method is M.PAYPAL:
        return "", "".join(rng.choices(_ALPHANUMERIC[:36].upper(), k=17))
    return "", None


_ALPHANUMERIC = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _in_order(plan: Plan) -> tuple[date, datetime]:
    return plan.issue, plan.finalized


def _number(plans: list[Plan], series: str) -> None:
    """Number `plans` in date order after what each year's counter gave; move the counters on."""
    fmt = numbering.series_format(series)
    numbering.check_format(fmt)
    following: dict[int, int] = {}
    for plan in sorted(plans, key=_in_order):
        year = numbering.sequence_year(fmt, plan.issue)
        value = following.get(year) or numbering.next_value(series, year)
        plan.number = numbering.format_number(fmt, plan.issue.year, plan.issue.month, value)
        following[year] = value + 1
    for year, value in following.items():
        row = db.session.scalar(
            select(NumberSequence).where(
                NumberSequence.series == series, NumberSequence.year == year
            )
        )
        if row is None:
            row = NumberSequence(series=series, year=year)
            db.session.add(row)
        row.next_value, row.last_issued = value, value - 1
    db.session.flush()


def _insert(invoices: list[Plan], notes: list[Plan], business: Business) -> None:
    """Bulk inserts: invoices, credit notes, lines, their taxes, schedules, payments, history."""
    for plans in (invoices, notes):
        rows = [_invoice_row(plan, business) for plan in plans]
        for plan, new_id in zip(plans, _insert_returning_ids(Invoice, rows), strict=True):
            plan.id = new_id
    documents = invoices + notes
    lines = [(plan, line) for plan in documents for line in plan.lines]
    line_rows = [
        {
            "invoice_id": plan.id,
            "position": position,
            "item_id": line.item_id,
            "description": line.description,
            "quantity_millis": int(line.quantity * 1000),
            "unit": line.unit,
            "unit_price_cents": line.unit_price_cents,
            "discount_percent_millis": (
                int(line.discount.percent * 1000) if line.discount.percent is not None else None
            ),
            "discount_cents": line.discount.cents,
            "net_cents": net,
        }
        for plan in documents
        for position, (line, net) in enumerate(zip(plan.lines, plan.totals.line_nets, strict=True))
    ]
    line_ids = _insert_returning_ids(InvoiceLine, line_rows)
    _bulk(InvoiceLineTax, [
        {"line_id": line_id, "tax_rate_id": rate.id, "name": rate.name,
         "rate_millis": rate.rate_millis, "registration_number": rate.registration_number}
        for line_id, (_plan, line) in zip(line_ids, lines, strict=True)
        for rate in line.taxes
    ])
    _bulk(InvoiceTax, [
        {"invoice_id": plan.id, "position": position, "name": tax.key.name,
         "rate_millis": tax.key.rate_millis, "registration_number": tax.key.registration_number,
         "base_cents": tax.base_cents, "amount_cents": tax.amount_cents}
        for plan in documents
        for position, tax in enumerate(plan.totals.taxes)
    ])
    _bulk(Instalment, [
        {"invoice_id": plan.id, "position": position, "due_date": due,
         "percent_millis": int(percent * 1000), "amount_cents": amount}
        for plan in invoices
        for position, (due, percent, amount) in enumerate(plan.schedule)
    ])
    _bulk(Payment, [
        {"invoice_id": plan.id, "paid_on": payment.day, "amount_cents": payment.amount_cents,
         "method": payment.method, "notes": payment.notes, "reference": payment.reference,
         "created_at": payment.at}
        for plan in invoices
        for payment in plan.payments
    ])
    _bulk(Event, [
        {"invoice_id": plan.id, "client_id": plan.client.id, "kind": kind, "detail": detail,
         "at": at, "revision": 1}
        for plan in documents
        for kind, detail, at in _events(plan)
    ])
    used = {rate.id for plan in documents if plan.number for line in plan.lines
            for rate in line.taxes}
    if used:  # as `invoices.finalize` does: a rate on an issued invoice no longer changes
        db.session.execute(update(TaxRate).where(TaxRate.id.in_(used)).values(locked=True))
    db.session.flush()


def _invoice_row(plan: Plan, business: Business) -> dict:
    return {
        "kind": plan.kind,
        "number": plan.number,
        "status": plan.status,
        "client_id": plan.client.id,
        "job_id": plan.job_id,
        "issue_date": plan.issue,
        "issue_date_chosen": plan.issue_date_chosen,
        "payment_terms_days": plan.terms,
        "due_date": plan.due,
        "currency": plan.client.currency,
        "reference": plan.reference,
        "notes": plan.notes,
        "footer": business.legal_footer,
        "net_cents": plan.totals.net_cents,
        "tax_cents": plan.totals.tax_cents,
        "total_cents": plan.totals.total_cents,
        "paid_cents": plan.paid_cents,
        "credited_cents": plan.credited_cents,
        "revision": 1,
        "finalized_at": plan.finalized,
        "sent_at": plan.sent,
        "sent_revision": 1 if plan.sent else None,
        "credited_invoice_id": plan.credits.id if plan.credits else None,
        "created_at": plan.created,
        "updated_at": plan.updated,
    }


def _events(plan: Plan) -> list[tuple[str, str, datetime]]:
    """The history the lifecycle verbs would have written (« Historique »)."""
    if plan.kind is InvoiceKind.CREDIT_NOTE:
        return [("finalized", plan.number, plan.finalized)]
    events = [("created", "", plan.created)]
    if plan.number:
        events.append(("finalized", plan.number, plan.finalized))
    if plan.sent:
        events.append(("sent_manually", "", plan.sent))
    for payment in plan.payments:  # as `payments.add` logs it
        events.append(("payment_added", f"{payment.amount_cents} {payment.method.value}",
                       payment.at))
    if plan.credit_note:
        events.append(("cancelled", plan.credit_note.number, plan.credit_note.finalized))
    return events


# render_nulls: rows with a None here and a value there stay in one multi-row INSERT.


def _insert_returning_ids(model, rows: list[dict]) -> list[int]:
    if not rows:
        return []
    statement = (
        insert(model)
        .returning(model.id, sort_by_parameter_order=True)
        .execution_options(render_nulls=True)
    )
    return list(db.session.scalars(statement, rows))


def _bulk(model, rows: list[dict]) -> None:
    if rows:
        db.session.execute(insert(model).execution_options(render_nulls=True), rows)


def _invoices_summary(plans: list[Plan], notes: list[Plan], today: date) -> str:
    statuses = Counter(plan.status for plan in plans)
    awaiting = [plan for plan in plans if plan.status is S.AWAITING_PAYMENT]
    late = sum(plan.due < today for plan in awaiting)
    partly = sum(plan.paid_cents > 0 for plan in awaiting)
    received = sum(len(plan.payments) for plan in plans)
    first = min(plan.issue for plan in plans)
    return (
        f"Demo invoices added: {len(plans)} invoices ({statuses[S.DRAFT]} drafts, "
        f"{statuses[S.TO_SEND]} to send, {len(awaiting)} awaiting payment of which {late} overdue "
        f"and {partly} partly paid, {statuses[S.PAID]} paid, {statuses[S.CANCELLED]} cancelled), "
        f"{len(notes)} credit notes and {received} payments, from {first} to {today}."
    )
