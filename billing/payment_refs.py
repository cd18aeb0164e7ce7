"""Payment references printed on an invoice.

The Belgian structured communication (« communication structurée »,
`+++123/4567/89002+++`: ten digits and a mod-97 check) and the payload of an
EPC QR code (« SEPA QR », EPC069-12 version 002) that a banking app scans to
fill in a credit transfer.
"""

from __future__ import annotations

import re

import segno

from billing import money

_STRUCTURED = re.compile(r"\+\+\+(\d{3})/(\d{4})/(\d{5})\+\+\+")
MAX_EPC_BYTES = 331


def structured_communication(base: int) -> str:
    """`+++ddd/dddd/dddcc+++` where cc is base mod 97 (97 when the remainder is 0)."""
    if not 0 <= base < 10**10:
        raise ValueError(f"A structured communication holds 10 digits, not {base}")
    check = base % 97 or 97
    digits = f"{base:010d}{check:02d}"
    return f"+++{digits[:3]}/{digits[3:7]}/{digits[7:]}+++"


def parse_structured_communication(text: str) -> int | None:
    """The 10-digit base of a well-formed communication whose check digits match, else None."""
    match = _STRUCTURED.fullmatch(text.strip())
    if match is None:
        return None
    digits = "".join(match.groups())
    base = int(digits[:10])
    return base if (base % 97 or 97) == int(digits[10:]) else None


def epc_payload(
    name: str, iban: str, amount_cents: int, bic: str = "", reference: str = "", text: str = ""
) -> str:
    """The text of an EPC QR code: a SEPA credit transfer of `amount_cents` euros.

    `reference` is a structured creditor reference (at most 35 characters),
    `text` an unstructured remittance (at most 140); the standard allows one
    of them, not both. Fields are cut to their maximum length, and the text
    to what fits in the 331 bytes of a payload.
    """
    if not 1 <= amount_cents <= 99_999_999_999:
        raise ValueError(f"An EPC QR code carries 0.01 to 999999999.99 EUR, not {amount_cents} cents")
    if reference and text:
        raise ValueError("An EPC QR code carries a structured reference or a text, not both")
    fields = [
        "BCD",  # service tag
        "002",  # version: the BIC may be left empty inside the EEA
        "1",  # character set: UTF-8
        "SCT",  # SEPA credit transfer
        bic.strip(),
        _one_line(name)[:70],
        iban.replace(" ", "").upper(),
        f"EUR{money.to_decimal(amount_cents)}",
        "",  # purpose
        reference.strip()[:35],
    ]
    head = "\n".join(fields)
    room = MAX_EPC_BYTES - len(head.encode("utf-8")) - 1
    if room < 0:
        raise ValueError("EPC QR payload above 331 bytes")
    text = _one_line(text)[:140]
    while len(text.encode("utf-8")) > room:
        text = text[:-1]
    return f"{head}\n{text}".rstrip("\n")


def epc_qr(payload: str) -> segno.QRCode:
    """The QR code of an EPC payload: UTF-8 bytes, error correction M, version 13 at most."""
    qr = segno.make_qr(payload.encode("utf-8"), error="m", boost_error=False)
    if qr.version > 13:
        raise ValueError(f"EPC QR code too large: version {qr.version}")
    return qr


def _one_line(text: str) -> str:
    return " ".join(text.split())
