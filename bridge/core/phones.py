"""Phone numbers as WHMCS holds them, turned into E.164 for WhatsApp (phonenumbers)."""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

_WHMCS_FORMATTED = re.compile(r"^\+(\d{1,3})\.(\d+)$")  # phonenumberformatted: +CC.NUMBER


def whatsapp_number(raw: str | None, phonecc: str | int | None = None, country: str | None = None) -> str | None:
    """The E.164 number to send WhatsApp to, or None when `raw` holds no usable number.

    Accepts the number as the client typed it with the country's calling code (`phonecc`)
    or ISO country, or WHMCS's `+CC.NUMBER`. Argentina's mobiles take `+54 9 <area>
    <number>` on WhatsApp, without the domestic `0` and `15`, which phonenumbers' own
    parsing of the national form gives; a number stored without the 9 gets it added.
    Never invents a number: anything phonenumbers does not find valid is None.
    """
    text = (raw or "").strip()
    if not text:
        return None
    region = (country or "").upper() or None
    formatted = _WHMCS_FORMATTED.match(text.replace(" ", ""))
    if formatted:
        # "+54.03511555551234": WHMCS glues the calling code to the number as typed,
        # domestic 0 and 15 included, so the number is parsed as a national one.
        text, region = formatted.group(2), phonenumbers.region_code_for_country_code(int(formatted.group(1)))
    if not text.startswith("+") and phonecc and not region:
        region = phonenumbers.region_code_for_country_code(int(str(phonecc).lstrip("+") or 0))
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException:
        return None
    if number.country_code == 54:
        number = _argentine_mobile(number)
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _argentine_mobile(number: phonenumbers.PhoneNumber) -> phonenumbers.PhoneNumber:
    national = str(number.national_number)
    if national.startswith("9") or phonenumbers.number_type(number) == PhoneNumberType.MOBILE:
        return number
    with_nine = phonenumbers.parse(f"+549{national}")
    return with_nine if phonenumbers.is_valid_number(with_nine) else number


def whatsapp_sender(address: str | None) -> str | None:
    """The E.164 number of a WhatsApp address as Twilio writes it (`whatsapp:+5491145678901`),
    or None when it is not one (another channel's address, or no valid number)."""
    text = (address or "").strip()
    if not text.startswith("whatsapp:+"):
        return None
    try:
        number = phonenumbers.parse(text[len("whatsapp:") :], None)
    except NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
