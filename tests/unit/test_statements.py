"""Statements of account, domain only: the period's edges, the opening balance, what stood at the
end, credit notes, unpaid only, parent and children, two currencies, the checks, the sending."""

from datetime import date, timedelta

import pytest
from sqlalchemy import insert, select

from billing import invoices, payments, statements
from billing.models import (
    Event,
    Invoice,
    InvoiceStatus,
    Message,
    Payment,
    PaymentMethod,
    Statement,
    db,
)
from tests.conftest import TODAY, count_queries
from tests.factories import insert_invoices, make_client, make_invoice

START, END = date(2026, 1, 1), date(2026, 6, 30)


@pytest.fixture
def ctx(app, owner):
    with app.test_request_context():
        yield


def issued(client, day, cents=10_000, due=None, currency="EUR"):
    """An invoice of `cents` issued on `day` and sent (due 30 days later unless `due`)."""
    invoice = make_invoice(client, lines=((1, cents),), issue_date=day,
                           due_date=due or day + timedelta(days=30), currency=currency)
    invoices.finalize(invoice, day)
    invoices.mark_sent(invoice)
    return invoice


def pay(invoice, day, cents):
    return payments.add(invoice, day, cents, PaymentMethod.BANK_TRANSFER, TODAY)


def build(client, start=START, end=END, today=TODAY, **options):
    return statements.build(statements.Params(client, start, end, **options), today)


def numbers(view, currency="EUR"):
    section = next(s for s in view.sections if s.currency == currency)
    return [line.invoice.number for line in section.lines]


# --- The period -------------------------------------------------------------------------


def test_invoices_dated_on_debut_and_on_fin_are_in_the_period(ctx):
    client = make_client()
    before = issued(client, START - timedelta(days=1))
    first = issued(client, START)
    last = issued(client, END)
    issued(client, END + timedelta(days=1))
    view = build(client)
    assert numbers(view) == [first.number, last.number]
    [section] = view.sections
    assert section.opening_cents == before.total_cents == 10_000
    assert section.invoiced_cents == 20_000
    assert section.balance_cents == 30_000  # the invoice after Fin is not owed yet at Fin


def test_the_opening_balance_is_invoiced_less_credited_less_paid_before_debut(ctx):
    client = make_client()
    old = issued(client, date(2025, 11, 3), 30_000)
    pay(old, date(2025, 12, 20), 10_000)
    cancelled = issued(client, date(2025, 11, 10), 5_000)
    invoices.cancel(cancelled, date(2025, 12, 1))
    pay(old, date(2026, 1, 10), 5_000)  # in the period
    new = issued(client, date(2026, 2, 1), 40_000)
    [section] = build(client).sections
    assert section.opening_cents == 30_000 + 5_000 - 5_000 - 10_000
    assert (section.invoiced_cents, section.credited_cents, section.paid_cents) == (40_000, 0, 5_000)
    assert section.balance_cents == 20_000 + 40_000 - 5_000
    assert [p.invoice.number for p in section.payments] == [old.number]
    assert numbers(build(client)) == [new.number]


def test_lines_show_what_was_paid_at_fin_and_later_payments_do_not_count(ctx):
    client = make_client()
    invoice = issued(client, date(2026, 3, 1), 10_000, due=date(2026, 3, 31))
    pay(invoice, date(2026, 4, 1), 4_000)
    pay(invoice, date(2026, 8, 1), 6_000)  # after Fin: the invoice is *Payée* today
    assert invoice.status is InvoiceStatus.PAID
    [section] = build(client).sections
    [line] = section.lines
    assert (line.paid_cents, line.balance_cents, line.status) == (4_000, 6_000, "overdue")
    assert section.paid_cents == 4_000 and section.balance_cents == 6_000
    assert [line.status for line in build(client, end=TODAY).sections[0].lines] == ["paid"]


def test_overdue_means_due_before_fin_or_before_today_when_fin_is_to_come(ctx):
    client = make_client()
    late = issued(client, date(2026, 5, 1), due=date(2026, 6, 29))
    on_time = issued(client, date(2026, 6, 1), due=date(2026, 6, 30))
    partial = issued(client, date(2026, 6, 2), due=date(2026, 7, 30))
    pay(partial, date(2026, 6, 5), 1_000)
    statuses = {line.invoice.id: line.label for line in build(client).sections[0].lines}
    assert statuses == {late.id: "En retard", on_time.id: "Paiement attendu",
                        partial.id: "Paiement partiel"}
    future = build(client, end=date(2026, 12, 31), today=date(2026, 6, 30))
    assert future.as_of == date(2026, 6, 30)
    assert [line.status for line in future.sections[0].lines] == ["overdue", "awaiting", "partial"]


def test_credit_notes_of_the_period_are_listed_and_cancel_their_invoice(ctx):
    client = make_client()
    invoice = issued(client, date(2026, 2, 1), 12_000)
    note = invoices.cancel(invoice, date(2026, 3, 1))
    [section] = build(client).sections
    assert section.credit_notes == [note] and section.credit_notes[0].credited_invoice == invoice
    assert (section.invoiced_cents, section.credited_cents, section.balance_cents) == (12_000, 12_000, 0)
    [line] = section.lines
    assert (line.credited_cents, line.balance_cents, line.label) == (12_000, 0, "Annulée")
    [line] = build(client, end=date(2026, 2, 28)).sections[0].lines  # not yet cancelled at Fin
    assert (line.credited_cents, line.status) == (0, "awaiting")


def test_drafts_never_appear(ctx):
    client = make_client()
    issued(client, date(2026, 2, 1))
    make_invoice(client, issue_date=date(2026, 2, 2), due_date=date(2026, 3, 2))
    make_invoice(client, issue_date=date(2025, 2, 2), due_date=date(2025, 3, 2))
    [section] = build(client).sections
    assert len(section.lines) == 1
    assert (section.opening_cents, section.invoiced_cents) == (0, 10_000)


def test_unpaid_only_leaves_out_settled_invoices_but_keeps_the_totals(ctx):
    client = make_client()
    paid = issued(client, date(2026, 2, 1))
    pay(paid, date(2026, 2, 10), 10_000)
    cancelled = issued(client, date(2026, 2, 2))
    invoices.cancel(cancelled, date(2026, 2, 3))
    open_ = issued(client, date(2026, 2, 4))
    everything = build(client).sections[0]
    unpaid = build(client, unpaid_only=True).sections[0]
    assert numbers(build(client, unpaid_only=True)) == [open_.number]
    assert unpaid.hidden == 2 and everything.hidden == 0
    assert [(s.opening_cents, s.invoiced_cents, s.credited_cents, s.paid_cents, s.balance_cents)
            for s in (everything, unpaid)] == [(0, 30_000, 10_000, 10_000, 10_000)] * 2


def test_a_parent_includes_its_children_grouped_by_child_when_asked(ctx):
    parent = make_client("Groupe Dupont")
    zeta = make_client("Zeta Dupont", parent=parent)
    alpha = make_client("Alpha Dupont", parent=parent)
    issued(alpha, date(2025, 12, 1), 5_000)  # numbers follow the order of dates
    of_zeta = issued(zeta, date(2026, 1, 15), 20_000)
    own = issued(parent, date(2026, 2, 1))
    of_alpha = issued(alpha, date(2026, 3, 1), 30_000)

    alone = build(parent)
    assert not alone.grouped and numbers(alone) == [own.number]
    assert alone.sections[0].opening_cents == 0

    family = build(parent, include_children=True)
    assert family.grouped and family.include_children
    [section] = family.sections
    assert [(g.client.name, [line.invoice.number for line in g.lines]) for g in section.groups] == [
        ("Groupe Dupont", [own.number]),
        ("Alpha Dupont", [of_alpha.number]),
        ("Zeta Dupont", [of_zeta.number]),
    ]
    assert (section.opening_cents, section.balance_cents) == (5_000, 65_000)


def test_two_currencies_make_two_sections_the_clients_own_first(ctx):
    client = make_client(currency="CAD")
    issued(client, date(2026, 2, 1), 10_000, currency="EUR")
    cad = issued(client, date(2026, 2, 2), 25_000, currency="CAD")
    pay(cad, date(2026, 3, 1), 5_000)
    view = build(client)
    assert [(s.currency, s.invoiced_cents, s.paid_cents, s.balance_cents) for s in view.sections] == [
        ("CAD", 25_000, 5_000, 20_000), ("EUR", 10_000, 0, 10_000)]
    assert view.balance_text() == "200,00\xa0$ + 100,00\xa0€"


def test_a_client_with_nothing_gets_one_empty_section_in_its_currency(ctx):
    view = build(make_client(currency="CAD"))
    assert [(s.currency, s.lines, s.balance_cents) for s in view.sections] == [("CAD", [], 0)]


def test_a_saved_statement_builds_like_its_params(ctx):
    client = make_client()
    issued(client, date(2026, 2, 1))
    saved = Statement(client=client, start=START, end=END, unpaid_only=True, token="t")
    assert build(client, unpaid_only=True).sections == statements.build(saved, TODAY).sections


# --- Constant number of queries ------------------------------------------------------------


def _bulk(client_id, count, first_number):
    insert_invoices(client_id, count, first_number, issue_date=date(2026, 3, 1),
                    due_date=date(2026, 4, 1))
    ids = db.session.scalars(select(Invoice.id).where(Invoice.client_id == client_id)).all()
    db.session.execute(insert(Payment), [
        {"invoice_id": invoice_id, "paid_on": date(2026, 3, 15), "amount_cents": 2_000,
         "method": PaymentMethod.CHEQUE} for invoice_id in ids])
    db.session.commit()


def test_build_runs_the_same_queries_for_10_and_2000_invoices(app, ctx):
    small, big = make_client("Petit"), make_client("Grand")
    _bulk(small.id, 10, 0)
    _bulk(big.id, 2000, 10)
    counts = []
    for client, size in ((small, 10), (big, 2000)):
        db.session.commit()  # each count starts a transaction and reloads the client
        with count_queries(app) as queries:
            view = build(client)
            [section] = view.sections
            assert len(section.lines) == len(section.payments) == size
            assert section.balance_cents == size * 10_000
            assert sum(line.balance_cents for line in section.lines) == size * 10_000
        counts.append(queries())
    assert counts[0] == counts[1] <= 8


# --- Checks and refusals ------------------------------------------------------------------


@pytest.mark.parametrize(("start", "end", "field", "message"), [
    (date(2026, 5, 2), date(2026, 5, 1), "end", "« Fin » doit être le même jour que « Début » ou après."),
    (date(2016, 1, 1), date(2026, 1, 2), "start", "Un relevé couvre au plus 10 ans"),
    (date(1, 1, 1), date(1, 2, 1), "start", "Choisissez une date entre 1900 et 2999."),
    (date(2026, 1, 1), date(9999, 1, 1), "end", "Choisissez une date entre 1900 et 2999."),
])
def test_a_period_that_cannot_be_a_statement_is_refused(ctx, start, end, field, message):
    with pytest.raises(statements.StatementError) as refused:
        statements.check(start, end)
    assert refused.value.field == field and message in refused.value.message


def test_one_day_and_exactly_ten_years_are_fine(ctx):
    statements.check(date(2026, 5, 1), date(2026, 5, 1))
    statements.check(date(2016, 2, 29), date(2026, 2, 28))


def test_a_statement_needs_two_invoices_drafts_not_counted_children_counted(ctx):
    parent = make_client("Groupe")
    assert "aucune" in statements.refusal(parent)
    issued(parent, date(2026, 2, 1))
    make_invoice(parent)
    assert "n'en a qu'une, envoyez-la directement" in statements.refusal(parent)
    issued(make_client("Filiale", parent=parent), date(2026, 2, 2))
    assert statements.refusal(parent) is None


# --- Sending ---------------------------------------------------------------------------


def test_the_default_draft_speaks_the_clients_language(ctx):
    client = make_client(language="en")
    issued(client, date(2026, 2, 1))
    draft = statements.default_draft(build(client))
    assert draft.subject == "Statement of account" and draft.recipients == ["compta@martin.fr"]
    assert draft.body.startswith("Hello Boulangerie Martin,")
    assert "statement of account from 01/01/2026 to 30/06/2026" in draft.body
    assert "Balance due on" in draft.body and "{lien}" in draft.body and draft.attach_pdf


def test_sending_keeps_a_statement_with_a_token_and_writes_a_statement_message(ctx):
    client = make_client()
    issued(client, date(2026, 2, 1))
    issued(client, date(2026, 3, 1))
    view = build(client, unpaid_only=True)
    message = statements.send(view, statements.default_draft(view), [], "https://factures.test")
    statement = db.session.scalars(select(Statement)).one()
    assert (statement.client, statement.start, statement.end) == (client, START, END)
    assert statement.unpaid_only and not statement.include_children and len(statement.token) >= 43
    assert (message.kind, message.statement_id, message.client_id, message.invoice_id) == (
        "statement", statement.id, client.id, None)
    assert message.subject == "Relevé de compte" and message.link_token is None
    assert f"https://factures.test/p/s/{statement.token}" in message.text_body
    assert "Solde dû au 30/06/2026 : 200,00\xa0€." in message.text_body
    assert [(a.kind, a.filename) for a in message.attachments] == [
        ("statement", "Relevé-2026-01-01-2026-06-30.pdf")]
    event = db.session.scalars(select(Event).where(Event.kind == "statement_sent")).one()
    assert (event.client_id, event.invoice_id) == (client.id, None)
    assert event.detail == "Relevé du 01/01/2026 au 30/06/2026 envoyé à compta@martin.fr"
    assert db.session.scalars(select(Message)).all() == [message]
