"""WhatsApp template texts: what the company writes, what WhatsApp is asked to approve.

A message file's `whatsapp_template` is plain text with named variables, `{{ firstname }}`,
and nothing else of Jinja: WhatsApp templates hold no logic. The company writes names,
not numbers, so the text reads like the other messages and the variables' order can
never drift from the text; `template_text` turns it into the numbered form WhatsApp
approves ("Hola {{1}}, …") and records the order, which is the order the bridge fills
`ContentVariables` in when it sends.

WhatsApp's own rules are checked here, before anything is submitted, so a text that would
be rejected days later is refused at once with the event's name: no variable at the very
start or end, no two variables side by side (words between them, not only spaces or
punctuation), and every variable has a sample value (`[_samples]` of the message file),
which the approval needs.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

# The variables a template may hold: `{{ name }}`, spaces optional.
_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# Anything else of Jinja: a tag, a comment, an expression with a filter or an operator.
_OTHER_JINJA = re.compile(r"\{%|%\}|\{#|#\}|\{\{|\}\}")
# Meta's limit for a template body.
MAX_BODY_CHARACTERS = 1024
# Twilio's Content variable values may not be empty: an empty value goes as this.
EMPTY_VALUE = "-"


class TemplateRuleBroken(ValueError):
    """A template text WhatsApp would reject (or the bridge could not fill); the message
    names the event and the language."""


@dataclass(frozen=True)
class TemplateText:
    """One event's template in one language, in the form submitted to WhatsApp."""

    event_type: str
    language: str
    body: str  # "Hola {{1}}, tu factura {{2}}…"
    variables: tuple[str, ...]  # the names behind {{1}}, {{2}}, … in order
    samples: tuple[str, ...]  # one sample value per variable, in the same order

    @property
    def digest(self) -> str:
        """What identifies this version: a changed body, order or language is a new one
        (Content resources are immutable). Samples are left out: a better sample value
        does not make WhatsApp review the same text again."""
        payload = json.dumps([self.language, self.body, list(self.variables)], ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def template_name(event_type: str, language: str, version: int) -> str:
    """WhatsApp's template name: lowercase letters, digits and underscores, stable per event,
    language and version (invoice_created_es_v2)."""
    event = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", event_type).lower()
    return re.sub(r"[^a-z0-9_]", "_", f"{event}_{language.lower()}_v{version}")


def template_text(event_type: str, language: str, source: str, samples: dict[str, Any]) -> TemplateText:
    """The numbered form of a `whatsapp_template` text, or TemplateRuleBroken saying which
    rule it breaks."""
    where = f"[{event_type}].whatsapp_template ({language})"
    text = " ".join(source.split())
    if not text:
        raise TemplateRuleBroken(f"{where}: empty")
    names: list[str] = []
    pieces: list[str] = []  # the text between variables, to check what separates them
    position = 0
    for match in _VARIABLE.finditer(text):
        pieces.append(text[position : match.start()])
        names.append(match.group(1))
        position = match.end()
    pieces.append(text[position:])
    leftover = _OTHER_JINJA.search(_VARIABLE.sub("", text))
    if leftover:
        raise TemplateRuleBroken(
            f"{where}: only {{{{ name }}}} variables are allowed, no tags, filters or expressions"
            f" (found {leftover.group(0)!r})"
        )
    if names and not _has_words(pieces[0]):
        raise TemplateRuleBroken(f"{where}: starts with the variable {names[0]} (WhatsApp refuses that)")
    if names and not _has_words(pieces[-1]):
        raise TemplateRuleBroken(f"{where}: ends with the variable {names[-1]} (WhatsApp refuses that)")
    for before, after, between in zip(names, names[1:], pieces[1:-1], strict=False):
        if not _has_words(between):
            raise TemplateRuleBroken(
                f"{where}: the variables {before} and {after} are side by side (WhatsApp wants words between them)"
            )
    missing = [name for name in dict.fromkeys(names) if not str(samples.get(name, "")).strip()]
    if missing:
        raise TemplateRuleBroken(f"{where}: no sample value for {', '.join(missing)} in [_samples]")
    numbered = iter(range(1, len(names) + 1))
    body = _VARIABLE.sub(lambda _: f"{{{{{next(numbered)}}}}}", text)
    if len(body) > MAX_BODY_CHARACTERS:
        raise TemplateRuleBroken(f"{where}: {len(body)} characters, WhatsApp allows {MAX_BODY_CHARACTERS}")
    return TemplateText(
        event_type=event_type,
        language=language,
        body=body,
        variables=tuple(names),
        samples=tuple(str(samples[name]).strip() for name in names),
    )


def _has_words(text: str) -> bool:
    return any(character.isalnum() for character in text)


def content_value(value: Any) -> str:
    """One ContentVariables value: on one line, never empty (Twilio refuses empty values)."""
    text = " ".join(str(value if value is not None else "").split())
    return text or EMPTY_VALUE
