"""The registers' queries, batch sending and printing, called directly."""

import io
from datetime import date, datetime

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from billing import invoices, registers, sending
from billing.models import Event, Invoice, InvoiceKind, InvoiceStatus, Message, MessageState, db
from tests.conftest import TODAY
from tests.factories import insert_invoices, make_client, make_invoice

S = InvoiceStatus


@pytest.fixture
def ctx(app, owner):
    with app.test_request_context():
        yield


def numbers(query) -> list:
    return [invoice.number for invoice in db.session.scalars(query)]


def finalized(client, today=TODAY, price=10_000) -> Invoice:
    invoice = make_invoice(client, lines=((1, price),), today=today)
    invoices.finalize(invoice, today)
    return invoice


@pytest.fixture
def two_clients(ctx):
    """F-00001 … F-00003 for a client by email, F-00004 … F-00005 for one on paper, a draft."""
    shop = make_client("Boulangerie Martin")
    garage = make_client("Garage Dupont", emails=(), by_email=False)
    insert_invoices(shop.id, status=S.DRAFT)
    insert_invoices(shop.id, start=1, status=S.TO_SEND, issue_date=date(2026, 1, 1))
    insert_invoices(shop.id, start=2, issue_date=date(2026, 2, 1), sent_at=datetime(2026, 2, 1))
    insert_invoices(shop.id, start=3, status=S.PAID, kind=InvoiceKind.CREDIT_NOTE,
                    issue_date=date(2026, 3, 1))
    insert_invoices(garage.id, start=4, status=S.TO_SEND, issue_date=date(2026, 4, 1))
    insert_invoices(garage.id, start=5, status=S.PAID, issue_date=date(2026, 5, 1),
                    sent_at=datetime(2026, 5, 1))
    return shop, garage


# --- Lists ----------------------------------------------------------------------


def test_each_register_lists_its_numbered_documents_latest_first(two_clients):
    assert numbers(registers.listing("all")) == ["F-00005", "F-00004", "F-00003", "F-00002", "F-00001"]
    assert numbers(registers.listing("email")) == ["F-00003", "F-00002", "F-00001"]
    assert numbers(registers.listing("paper")) == ["F-00005", "F-00004"]


def test_filters_by_client_and_unsent_only(two_clients):
    shop, garage = two_clients
    assert numbers(registers.listing("all", registers.Filters(client_id=garage.id))) == [
        "F-00005", "F-00004"
    ]
    unsent = registers.Filters(unsent_only=True)
    assert numbers(registers.listing("all", unsent)) == ["F-00004", "F-00003", "F-00001"]
    both = registers.Filters(client_id=shop.id, unsent_only=True)
    assert numbers(registers.listing("email", both)) == ["F-00003", "F-00001"]
    assert numbers(registers.listing("paper", registers.Filters(client_id=shop.id))) == []


def test_clients_of_each_register(two_clients):
    assert [c.name for c in registers.clients("all")] == ["Boulangerie Martin", "Garage Dupont"]
    assert [c.name for c in registers.clients("email")] == ["Boulangerie Martin"]
    assert [c.name for c in registers.clients("paper")] == ["Garage Dupont"]


def message_for(invoice: Invoice, state=MessageState.SENT, kind="invoice") -> Message:
    message = sending.new_message(
        sender="a@x.fr", recipients=["b@y.fr"], subject="Facture", text_body="…",
        kind=kind, invoice=invoice,
    )
    message.state = state
    return message


def test_last_messages_keeps_the_latest_invoice_email_of_each(ctx):
    shop = make_client()
    first, second, silent = (finalized(shop) for _ in range(3))
    message_for(first, MessageState.ABANDONED)
    latest = message_for(first, MessageState.PROCESSING)
    only = message_for(second)
    message_for(second, kind="notice")
    found = registers.last_messages([first, second, silent])
    assert found == {first.id: latest, second.id: only}


# --- Selection ----------------------------------------------------------------------


def ids_of(*wanted) -> list[int]:
    return [db.session.scalar(select(Invoice.id).where(Invoice.number == n)) for n in wanted]


def test_selection_is_in_number_order_without_duplicates(two_clients):
    chosen = registers.selection("all", ids_of("F-00004", "F-00001", "F-00004"))
    assert [invoice.number for invoice in chosen] == ["F-00001", "F-00004"]


def test_the_selection_brings_what_the_pdfs_show_in_the_same_queries_for_2_and_20(app, ctx):
    from billing import documents
    from tests.conftest import count_queries

    def queries(count: int) -> int:
        client = make_client(f"Client {count}")
        ids = []
        for _n in range(count):
            invoice = make_invoice(client, lines=((1, 10_000), (2, 5_000)), today=TODAY)
            invoices.finalize(invoice, TODAY)
            ids.append(invoice.id)
        db.session.commit()
        with count_queries(app) as counted:
            pages = [documents.render_html(invoice) for invoice in registers.selection("email", ids)]
        assert len(pages) == count and all("Prestation à 50.00" in page for page in pages)
        return counted() - count  # less the business row, which render_html reads for each

    assert queries(2) == queries(20)


@pytest.mark.parametrize("ids", [[], list(range(1, registers.MAX_SELECTION + 2))])
def test_an_empty_or_too_long_selection_is_refused_in_french(ctx, ids):
    with pytest.raises(registers.SelectionError, match="Sélectionnez au"):
        registers.selection("all", ids)


def test_a_draft_an_unknown_id_or_another_register_is_not_in_the_selection(two_clients):
    draft = db.session.scalar(select(Invoice.id).where(Invoice.status == S.DRAFT))
    for register, ids in [("all", [draft]), ("all", [9999]), ("email", ids_of("F-00004")),
                          ("paper", ids_of("F-00004", "F-00001"))]:
        with pytest.raises(registers.UnknownInvoice):
            registers.selection(register, ids)


# --- Sending by email ----------------------------------------------------------


def test_a_batch_queues_one_message_per_invoice_and_reports_the_others(ctx):
    shop, bakery = make_client("Boulangerie Martin"), make_client("Café Lune", emails=("a@lune.fr",))
    silent = make_client("Garage Muet")
    first, second, third = finalized(shop), finalized(bakery), finalized(silent)
    silent.emails = []
    batch = registers.send_batch([first, second, third], "https://factures.example")
    assert len(batch.id) == 32
    assert [m.invoice for m in batch.messages] == [first, second]
    assert {m.batch for m in batch.messages} == {batch.id}
    assert batch.messages[1].recipients == ["a@lune.fr"]
    assert [(i, reason) for i, reason in batch.refused] == [
        (third, "Le client n'a aucune adresse email : ajoutez-en une sur sa fiche.")
    ]
    assert first.status is second.status is S.AWAITING_PAYMENT
    assert third.status is S.TO_SEND and third.sent_at is None
    assert db.session.scalar(select(Message).where(Message.invoice_id == third.id)) is None


def test_a_cancelled_invoice_is_refused_with_its_status(ctx):
    shop = make_client()
    kept, cancelled = finalized(shop), finalized(shop)
    invoices.cancel(cancelled, TODAY)
    batch = registers.send_batch([cancelled, kept], "https://factures.example")
    assert [m.invoice for m in batch.messages] == [kept]
    [(invoice, reason)] = batch.refused
    assert invoice is cancelled and "Annulée" in reason
    assert cancelled.status is S.CANCELLED


def test_progress_counts_what_the_server_accepted(ctx):
    shop = make_client()
    batch = registers.send_batch([finalized(shop) for _ in range(3)], "https://x.example")
    first, second, third = batch.messages
    first.state, second.state = MessageState.SENT, MessageState.CLICKED
    progress = registers.progress(batch.id)
    assert (progress.sent, progress.total, progress.processing) == (2, 3, True)
    third.state = MessageState.ABANDONED
    assert registers.progress(batch.id).processing is False
    assert registers.progress("0" * 32).messages == []


# --- Printing --------------------------------------------------------------------


def test_print_joins_the_pdfs_in_number_order_and_marks_those_to_send_as_sent(ctx):
    shop = make_client(by_email=False, emails=())
    first = finalized(shop, date(2026, 11, 1))
    second = finalized(shop, date(2026, 11, 2))
    third = finalized(shop, date(2026, 11, 3))
    invoices.mark_sent(second)
    second.paid_cents = second.total_cents
    second.status = S.PAID
    data = registers.print_pdf([third, first, second])
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    positions = [text.index(invoice.number) for invoice in (first, second, third)]
    assert positions == sorted(positions)
    assert first.status is S.TO_SEND  # making the PDF changes nothing
    registers.record_printed([third, first, second])
    assert first.status is third.status is S.AWAITING_PAYMENT
    assert first.sent_at is not None
    assert second.status is S.PAID
    kinds = db.session.scalars(
        select(Event.kind).where(Event.invoice_id == first.id).order_by(Event.id)
    ).all()
    assert kinds[-2:] == ["downloaded", "sent_manually"]
    assert db.session.scalars(select(Event.kind).where(Event.invoice_id == second.id)).all().count(
        "downloaded"
    ) == 1
