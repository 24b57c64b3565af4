"""Opt-out and opt-in words in a customer's WhatsApp message.

A keyword counts only as the whole message: "BAJA" or "baja." opts out, "quiero darme de
baja del hosting" is a text for staff. Case and accents do not matter ("Báĵa" is BAJA), nor
spaces and punctuation around the word. The lists are routing.toml's `[inbound]`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

OPT_OUT = "out"
OPT_IN = "in"


def folded(text: str) -> str:
    """`text` without case, accents, or spaces and punctuation around it."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return bare.strip().strip(".,;:!¡?¿\"'()[]*_~-").strip()


def consent_keyword(text: str, opt_out: Iterable[str], opt_in: Iterable[str]) -> tuple[str, str] | None:
    """(OPT_OUT or OPT_IN, the keyword as configured) when the whole message is one of the
    words; None for any other text."""
    word = folded(text)
    if not word or " " in word:
        return None
    for kind, words in ((OPT_OUT, opt_out), (OPT_IN, opt_in)):
        for keyword in words:
            if folded(keyword) == word:
                return kind, keyword
    return None
