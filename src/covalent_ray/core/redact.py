"""Settings shown to a reader with their secrets hidden: which keys hold a secret, and a
copy of a nested settings dict with those values replaced.

A key holds a secret when one of its words (split on ``_``, ``-`` and ``.``) is a
token, password, secret or credential word, or it is an API/access/private key's name
(``api_key``, ``access_key``...). A key *file*'s path (``ssh_key_file``) is not a secret.
"""

from __future__ import annotations

import re
from typing import Any

#: What a redacted value reads as
REDACTED = "********"

_SECRET_WORDS = frozenset(
    {"token", "password", "passwd", "passphrase", "secret", "credential", "credentials"}
)
_KEY_PREFIXES = frozenset({"api", "access", "private", "secret", "client", "auth", "account"})


def is_secret(key: str) -> bool:
    """Whether a setting called ``key`` (one dotted key's last part, or any part) holds
    a secret."""
    words = [w for w in re.split(r"[_\-.\s]+", key.lower()) if w]
    if any(w in _SECRET_WORDS for w in words):
        return True
    # "api_key", "access_key" but not "key_file" or "ssh_key_file"
    return len(words) >= 2 and words[-1] == "key" and words[-2] in _KEY_PREFIXES


def redact(data: Any, prefix: str = "") -> tuple[Any, list[str]]:
    """A copy of ``data`` with every secret's value replaced by ``REDACTED`` (empty and
    unset values are left as they are: nothing to hide), and the dotted keys redacted."""
    if not isinstance(data, dict):
        return data, []
    out: dict[str, Any] = {}
    hidden: list[str] = []
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if is_secret(str(key)) and not isinstance(value, dict) and value not in (None, ""):
            out[key] = REDACTED
            hidden.append(dotted)
        elif isinstance(value, dict):
            # a whole table named like a secret ("credentials") hides all its values
            inner, more = redact(value, dotted)
            if is_secret(str(key)):
                inner = {k: REDACTED if v not in (None, "") else v for k, v in value.items()}
                more = [f"{dotted}.{k}" for k, v in value.items() if v not in (None, "")]
            out[key] = inner
            hidden.extend(more)
        else:
            out[key] = value
    return out, hidden
