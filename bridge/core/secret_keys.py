"""Which payload keys name a secret: one rule, written again (word for word) in the PHP hook file.

A key is normalised to lowercase words: separators (`_ - .`, spaces), camelCase boundaries
and digits after letters split words (`newPassword2` -> `new_password_2`). The key is secret
when the normalised name ends with a secret term, optionally followed by a qualifier
(`confirm`, `again`, `hash`, ...) and a number:

- long terms (`password`, `passwd`, `passphrase`, `secret`, `token`, `credentials`, `access
  hash`, `api key`, `security answer`, card and bank numbers, ...) also when glued to the
  word before them, as WHMCS writes its keys (`serverpassword`, `oldpassword`,
  `transfersecret`, `securityqans`, `serveraccesshash`);
- short terms (`pass`, `pw`, `pwd`, `pin`) only as a whole word, or glued after `new`,
  `old`, `existing`, `current` or `confirm` (WHMCS's own `newpw`, `existingpw`), so that
  `compass`, `bypass` and `passport` are not secrets.

The term must end the name (bar the qualifier and number): `password_hint`, `token_type`,
`tokenizer` and `gravatarHash` are not secrets. tests/fixtures/secret_keys.json holds the
keys that must go and the look-alikes that must stay; the Python and the PHP tests both read
it, so the two implementations cannot drift. Change both, and the fixture, together.
"""

from __future__ import annotations

import re
import string

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_LETTER_DIGIT = re.compile(r"(?<=[A-Za-z])(?=[0-9])")
_SEPARATORS = re.compile(r"[^a-z0-9]+")
# ASCII only, as PHP's strtr in the hook file: str.lower() would turn "İ" into "i" + a combining dot.
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)

_LONG_TERMS = (
    r"password|passwd|passphrase|secret|token|credential"
    r"|access_?hash|access_?key|api_?key|private_?key"
    r"|security_?(?:q(?:uestion)?_?)?ans(?:wer)?"
    r"|card_?num(?:ber)?|cc_?num(?:ber)?|card_?issue_?num(?:ber)?|cvv|cvc"
    r"|bank_?acc(?:oun)?t|bank_?code|server_?user_?name"
)
_SHORT_TERMS = r"pass|pwd?|pin"
_QUALIFIERS = r"confirm(?:ation)?|again|repeat|retype|verify|hash|new|old"
SECRET_NAME = re.compile(
    rf"(?:(?:{_LONG_TERMS})s?|(?:^|_|new|old|existing|current|confirm)(?:{_SHORT_TERMS}))"
    rf"(?:_?(?:{_QUALIFIERS}))?(?:_[0-9]+)?$"
)


def normalise_key(key: str) -> str:
    """`clientSecret` -> `client_secret`, `newpassword2` -> `newpassword_2`, `X-Api-Key` -> `x_api_key`."""
    spaced = _LETTER_DIGIT.sub("_", _CAMEL.sub("_", key))
    return _SEPARATORS.sub("_", spaced.translate(_ASCII_LOWER)).strip("_")


def is_secret_key(key: str) -> bool:
    """True when a value stored under `key` is a credential, card or bank number (see the module doc)."""
    return SECRET_NAME.search(normalise_key(key)) is not None
