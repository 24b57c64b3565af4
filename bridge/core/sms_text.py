"""SMS texts in the GSM-7 alphabet, and how many segments they cost.

An SMS of GSM-7 characters carries 160 of them; a single character outside the alphabet
(á, í, ó, ú, ç, ã, a curly quote) makes the whole message UCS-2, 70 characters a segment.
So the fallback's texts are written plainly, and `gsm7` writes any other letter without its
accent (á → a, ç → c) before the text is sent. A text longer than one segment still goes,
in as many segments as it needs; the count is kept on the Action (`segments`).
"""

from __future__ import annotations

import math
import unicodedata

_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
_EXTENSION = set("^{}\\[~]|€")  # two characters each (an escape, then the character)
_PLAIN = {"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "–": "-", "—": "-", "…": "...", "º": "o", "ª": "a"}


def gsm7(text: str) -> str:
    """`text` in the GSM-7 alphabet: letters outside it without their accents, typographic
    quotes and dashes as plain ones, anything else left out."""
    out = []
    for character in text:
        if character in _BASIC or character in _EXTENSION:
            out.append(character)
            continue
        if character in _PLAIN:
            out.append(_PLAIN[character])
            continue
        bare = "".join(c for c in unicodedata.normalize("NFKD", character) if not unicodedata.combining(c))
        out.append("".join(c for c in bare if c in _BASIC or c in _EXTENSION))
    return "".join(out)


def segments(text: str) -> int:
    """How many SMS segments `text` takes (a concatenated SMS loses a few characters a part
    to its header: 153 GSM-7 characters, or 67 UCS-2)."""
    if all(c in _BASIC or c in _EXTENSION for c in text):
        length = sum(2 if c in _EXTENSION else 1 for c in text)
        return 1 if length <= 160 else math.ceil(length / 153)
    length = len(text.encode("utf-16-le")) // 2
    return 1 if length <= 70 else math.ceil(length / 67)
