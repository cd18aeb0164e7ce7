"""Belgian structured communication and the EPC (SEPA) QR code payload."""

import pytest

from billing import payment_refs


def test_structured_communication_appends_the_mod_97_check_and_formats_it():
    assert payment_refs.structured_communication(1_234_567_890) == "+++123/4567/89002+++"


def test_structured_communication_pads_a_small_base_with_zeros():
    assert payment_refs.structured_communication(42) == "+++000/0000/04242+++"


@pytest.mark.parametrize(("base", "expected"), [(0, "+++000/0000/00097+++"), (97, "+++000/0000/09797+++")])
def test_a_remainder_of_zero_gives_the_check_digits_97(base, expected):
    assert payment_refs.structured_communication(base) == expected


@pytest.mark.parametrize("base", [-1, 10**10])
def test_a_base_outside_ten_digits_is_refused(base):
    with pytest.raises(ValueError):
        payment_refs.structured_communication(base)


def test_a_structured_communication_reads_back_to_its_base():
    for base in (0, 42, 97, 1_234_567_890, 9_999_999_999):
        assert payment_refs.parse_structured_communication(payment_refs.structured_communication(base)) == base


@pytest.mark.parametrize("text", ["+++123/4567/89003+++", "123/4567/89002", "+++123/4567/8900+++", ""])
def test_a_wrong_check_or_a_malformed_communication_reads_as_none(text):
    assert payment_refs.parse_structured_communication(text) is None


def test_epc_payload_lists_the_fields_of_a_sepa_credit_transfer():
    payload = payment_refs.epc_payload(
        "Atelier Conseil", "FR76 3000 6000 0112 3456 7890 189", 12_345, bic="AGRIFRPPXXX", text="F-2026-0001"
    )
    assert payload.split("\n") == [
        "BCD",
        "002",
        "1",
        "SCT",
        "AGRIFRPPXXX",
        "Atelier Conseil",
        "FR7630006000011234567890189",
        "EUR123.45",
        "",
        "",
        "F-2026-0001",
    ]


def test_epc_payload_carries_a_structured_reference_in_its_own_field_and_no_bic_when_none():
    payload = payment_refs.epc_payload("Brasserie", "BE68539007547034", 10_000, reference="000000004242")
    assert payload.split("\n") == [
        "BCD", "002", "1", "SCT", "", "Brasserie", "BE68539007547034", "EUR100.00", "", "000000004242",
    ]


def test_epc_payload_is_utf8_with_the_name_cut_at_70_characters():
    name = "Œuvres éditées & Fils " + "x" * 80
    payload = payment_refs.epc_payload(name, "BE68539007547034", 1, text="Facture")
    fields = payload.split("\n")
    assert fields[2] == "1"  # UTF-8
    assert fields[5] == name[:70] and len(fields[5]) == 70
    assert fields[7] == "EUR0.01"
    assert payload.encode("utf-8").decode("utf-8") == payload


def test_epc_payload_puts_a_multiline_text_on_one_line_and_cuts_it_at_140():
    payload = payment_refs.epc_payload("A", "BE68539007547034", 100, text="ligne 1\nligne 2 " + "y" * 200)
    text = payload.split("\n")[10]
    assert text.startswith("ligne 1 ligne 2 ") and len(text) == 140


@pytest.mark.parametrize("cents", [0, -100, 100_000_000_000])
def test_epc_payload_refuses_an_amount_outside_the_standard(cents):
    with pytest.raises(ValueError):
        payment_refs.epc_payload("A", "BE68539007547034", cents, text="x")


def test_epc_payload_refuses_a_reference_and_a_text_together():
    with pytest.raises(ValueError):
        payment_refs.epc_payload("A", "BE68539007547034", 100, reference="1", text="x")


def test_epc_payload_cuts_the_text_to_fit_in_331_bytes():
    payload = payment_refs.epc_payload("Ä" * 70, "BE68539007547034", 99_999_999_999, text="é" * 140)
    assert len(payload.encode("utf-8")) <= payment_refs.MAX_EPC_BYTES
    assert payload.split("\n")[10].startswith("éééé")


def test_epc_qr_uses_error_correction_m_and_at_most_version_13():
    payload = payment_refs.epc_payload("Ä" * 70, "BE68539007547034", 99_999_999_999, text="é" * 140)
    qr = payment_refs.epc_qr(payload)
    assert qr.error == "M"
    assert qr.version <= 13
    assert qr.png_data_uri().startswith("data:image/png;base64,")
