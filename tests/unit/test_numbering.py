"""Number formats and the per-series, per-year counters."""

from datetime import date

import pytest
from sqlalchemy import select

from billing import numbering, settings
from billing.models import NumberSequence, db


@pytest.fixture
def ctx(app, owner):
    with app.app_context():
        yield


@pytest.mark.parametrize(
    "fmt", ["F-{YYYY}-{SEQ:04}", "AV-{YYYY}-{SEQ:04}", "{SEQ}", "{YY}{MM}-{SEQ:03}", "2026/F#{SEQ:06}"]
)
def test_valid_formats_are_accepted(fmt):
    numbering.check_format(fmt)


def test_format_without_seq_is_refused():
    with pytest.raises(numbering.NumberingError, match=r"une seule fois \{SEQ\}"):
        numbering.check_format("F-{YYYY}")


def test_format_with_two_seq_is_refused():
    with pytest.raises(numbering.NumberingError, match=r"une seule fois"):
        numbering.check_format("{SEQ}-{SEQ:04}")


def test_unknown_tokens_are_named_in_the_message():
    with pytest.raises(numbering.NumberingError) as error:
        numbering.check_format("F-{ANNEE}-{SEQ:4}-{SEQ}")
    assert "{ANNEE}" in str(error.value)
    assert "{SEQ:4}" in str(error.value)


def test_empty_and_too_long_formats_are_refused():
    with pytest.raises(numbering.NumberingError, match="obligatoire"):
        numbering.check_format("")
    with pytest.raises(numbering.NumberingError, match="trop long"):
        numbering.check_format("FACTURE-" * 4 + "{SEQ}")


def test_spaces_and_stray_braces_are_refused():
    with pytest.raises(numbering.NumberingError, match="espace"):
        numbering.check_format("F {SEQ}")
    with pytest.raises(numbering.NumberingError, match=r"Caractères non permis : \{"):
        numbering.check_format("F-{YYYY-{SEQ}")


def test_format_number_fills_every_token():
    assert numbering.format_number("F-{YYYY}-{SEQ:04}", 2026, 3, 7) == "F-2026-0007"
    assert numbering.format_number("{YY}{MM}-{SEQ}", 2026, 3, 7) == "2603-7"
    assert numbering.format_number("F{SEQ:02}", 2026, 1, 12345) == "F12345"


def test_preview_uses_the_date_and_checks_the_format():
    assert numbering.preview("F-{YYYY}-{MM}-{SEQ:03}", date(2027, 11, 2), 5) == "F-2027-11-005"
    with pytest.raises(numbering.NumberingError):
        numbering.preview("F-{FOO}-{SEQ}", date(2027, 1, 1))


def test_sequence_year_is_zero_without_a_year_token():
    assert numbering.sequence_year("F-{YYYY}-{SEQ}", date(2026, 5, 1)) == 2026
    assert numbering.sequence_year("F-{YY}-{SEQ}", date(2026, 5, 1)) == 2026
    assert numbering.sequence_year("F-{MM}-{SEQ}", date(2026, 5, 1)) == 0


def test_next_value_is_one_for_a_new_series(ctx):
    assert numbering.next_value("invoice", 2026) == 1


def test_allocate_gives_consecutive_numbers(ctx):
    today = date(2026, 3, 15)
    assert numbering.allocate("invoice", today) == "F-2026-0001"
    assert numbering.allocate("invoice", today) == "F-2026-0002"
    assert numbering.next_value("invoice", 2026) == 3


def test_allocate_restarts_each_year_when_the_format_has_a_year(ctx):
    numbering.allocate("invoice", date(2026, 12, 31))
    assert numbering.allocate("invoice", date(2027, 1, 1)) == "F-2027-0001"


def test_allocate_never_restarts_without_a_year_token(ctx):
    settings.business().invoice_number_format = "F{SEQ:05}"
    assert numbering.allocate("invoice", date(2026, 12, 31)) == "F00001"
    assert numbering.allocate("invoice", date(2027, 1, 1)) == "F00002"
    row = db.session.scalar(select(NumberSequence).where(NumberSequence.series == "invoice"))
    assert row.year == 0


def test_credit_notes_have_their_own_series(ctx):
    today = date(2026, 3, 15)
    numbering.allocate("invoice", today)
    assert numbering.allocate("credit_note", today) == "AV-2026-0001"


def test_allocate_continues_from_the_value_set_in_settings(ctx):
    numbering.set_next_value("invoice", 2026, 42)
    assert numbering.allocate("invoice", date(2026, 6, 1)) == "F-2026-0042"
    assert numbering.upcoming("invoice", date(2026, 6, 1)) == "F-2026-0043"


def test_next_value_can_move_down_while_nothing_was_issued(ctx):
    numbering.set_next_value("invoice", 2026, 50)
    numbering.set_next_value("invoice", 2026, 10)
    assert numbering.next_value("invoice", 2026) == 10


def test_next_value_cannot_go_back_to_a_number_already_issued(ctx):
    today = date(2026, 6, 1)
    for _ in range(3):
        numbering.allocate("invoice", today)
    with pytest.raises(numbering.NumberingError, match="Le numéro 3 a déjà été attribué"):
        numbering.set_next_value("invoice", 2026, 3)
    numbering.set_next_value("invoice", 2026, 4)
    assert numbering.allocate("invoice", today) == "F-2026-0004"


def test_next_value_must_be_positive(ctx):
    with pytest.raises(numbering.NumberingError, match="entre 1 et"):
        numbering.set_next_value("invoice", 2026, 0)
    assert db.session.scalar(select(NumberSequence)) is None


def test_allocated_number_is_kept_only_if_the_transaction_commits(ctx):
    numbering.allocate("invoice", date(2026, 6, 1))
    db.session.rollback()
    assert numbering.allocate("invoice", date(2026, 6, 1)) == "F-2026-0001"


def test_a_hand_edited_number_is_never_given_again(app, owner):
    """Allocate 1, jump to 10, hand-edit an invoice to 7: going back to 2 is refused."""
    from datetime import date

    import pytest

    from billing import numbering

    today = date(2026, 11, 24)
    with app.test_request_context():
        numbering.allocate("invoice", today)
        numbering.set_next_value("invoice", 2026, 10)
        numbering.continue_after("invoice", today, "F-2026-0007")
        with pytest.raises(numbering.NumberingError):
            numbering.set_next_value("invoice", 2026, 2)
        assert numbering.allocate("invoice", today) == "F-2026-0010"
