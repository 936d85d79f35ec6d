"""ITR identifiers: validation before any request, and the redacted form used everywhere else.

An identifier is a bearer secret (whoever has it reads the plant), so the library shows
only its last four characters in messages, reprs and logs.
"""

from __future__ import annotations

import hashlib
import re

from lacecal_async.errors import InvalidITRError

__all__ = ["FINGERPRINT_PREFIX", "ITR_LENGTH", "fingerprint", "redact", "validate_itr"]

ITR_LENGTH = 16
_ITR_RE = re.compile(r"[A-Za-z0-9]{16}", re.ASCII)
_SHOWN = 4
#: What every fingerprint starts with, so it is never mistaken for an alias or an identifier.
FINGERPRINT_PREFIX = "itr-"
_FINGERPRINT_HEX = 12


def redact(itr: object) -> str:
    """Return a printable stand-in for an identifier: ``...`` and its last 4 characters.

    Anything that is not a plausible identifier (not a str, or too short to hide the rest)
    is shown by its type and length only.
    """
    if isinstance(itr, str) and len(itr) >= 2 * _SHOWN and itr.isascii() and itr.isalnum():
        return "..." + itr[-_SHOWN:]
    if isinstance(itr, str):
        return f"<str of {len(itr)} characters>"
    return f"<{type(itr).__name__}>"


def validate_itr(itr: object) -> str:
    """Return `itr` if it is exactly 16 ASCII letters and digits, else raise `InvalidITRError`."""
    if isinstance(itr, str) and _ITR_RE.fullmatch(itr):
        return itr
    raise InvalidITRError(
        f"invalid ITR identifier {redact(itr)}: expected a str of exactly "
        f"{ITR_LENGTH} ASCII letters and digits"
    )


def fingerprint(itr: str) -> str:
    """Return the plant's stable, non-secret key: ``itr-`` and 12 hex digits of SHA-256.

    Stores name a plant without an alias by this key, so a database never holds a whole
    identifier. Anyone holding the identifier computes the same key::

        "itr-" + hashlib.sha256(itr.encode("ascii")).hexdigest()[:12]

    48 bits of a hash of a 95-bit secret: the key reveals nothing usable about the
    identifier, and a collision within a fleet of a million plants has odds of about 2e-3.
    Raises `InvalidITRError` for anything `validate_itr` refuses (nothing is hashed).
    """
    digest = hashlib.sha256(validate_itr(itr).encode("ascii")).hexdigest()
    return FINGERPRINT_PREFIX + digest[:_FINGERPRINT_HEX]
