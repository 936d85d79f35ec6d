"""Which plants to read: identifiers from arguments, ``--itr-file`` files or ``LACECAL_ITR``.

Each entry is ``IDENTIFIER`` or ``alias=IDENTIFIER``. The identifier is a secret: stderr
(progress, logs, errors) shows a plant by its alias or its redacted identifier only; the
data written shows the alias, or the full identifier when there is no alias. An alias is
shown and written everywhere, so one holding 8 characters of any identifier of the run in
a row (whatever separators, case or width) is refused.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import attrs

from lacecal_async.cli.options import UsageError
from lacecal_async.errors import InvalidITRError
from lacecal_async.itr import redact, validate_itr
from lacecal_async.redaction import Hider, printable

__all__ = [
    "ENV_VAR",
    "PlantRef",
    "Redactor",
    "collect_plants",
    "hide_identifier_shaped",
    "parse_entry",
    "read_itr_file",
    "read_stdin",
]

#: Comma-separated entries used when neither arguments nor files name any plant.
ENV_VAR = "LACECAL_ITR"
#: A word that may be an identifier: 16 or more ASCII letters and digits.
_IDENTIFIER_SHAPED = re.compile(r"[A-Za-z0-9]{16,}")


def hide_identifier_shaped(text: str) -> str:
    """Redact every word of 16+ ASCII letters and digits (for messages about unknown input)."""
    return _IDENTIFIER_SHAPED.sub(lambda match: redact(match.group()), text)


@attrs.frozen
class PlantRef:
    """One plant to read: its identifier and the alias the user gave it, if any."""

    itr: str = attrs.field(repr=redact)
    alias: str | None = None

    @property
    def label(self) -> str:
        """How the output data names the plant: the alias, else the full identifier."""
        return self.alias if self.alias is not None else self.itr

    @property
    def name(self) -> str:
        """How stderr names the plant: the alias, else the redacted identifier."""
        return self.alias if self.alias is not None else redact(self.itr)


def parse_entry(text: str, where: str) -> PlantRef:
    """Parse ``IDENTIFIER`` or ``alias=IDENTIFIER``; `where` locates it in error messages."""
    alias, sep, itr = text.rpartition("=")
    alias, itr = alias.strip(), itr.strip()
    if sep and not alias:
        raise UsageError(f"{where}: empty alias before '='")
    try:
        valid = validate_itr(itr)
    except InvalidITRError as exc:
        raise UsageError(f"{where}: {exc}") from None
    return PlantRef(valid, alias if sep else None)


def read_stdin() -> str:
    """Return what stdin holds, to the end: the ``--itr-file -`` entries (read once)."""
    try:
        return sys.stdin.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not text"
        raise UsageError(f"cannot read ITR file -: {reason}") from None


def read_itr_file(path: str, stdin: str | None = None) -> list[PlantRef]:
    """Read one entry per line; ``#`` starts a comment, blank lines are skipped.

    ``-`` is stdin: `stdin` if given (what `read_stdin` returned), else read now.
    """
    if path == "-":
        text = read_stdin() if stdin is None else stdin
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise UsageError(f"cannot read ITR file {path}: {reason}") from None
    plants = []
    for number, line in enumerate(text.splitlines(), 1):
        entry = line.partition("#")[0].strip()
        if entry:
            plants.append(parse_entry(entry, f"{path} line {number}"))
    return plants


def _dedupe(plants: Iterable[PlantRef]) -> list[PlantRef]:
    by_itr: dict[str, PlantRef] = {}
    by_alias: dict[str, PlantRef] = {}
    for plant in plants:
        seen = by_itr.get(plant.itr)
        if seen is not None:
            if plant.alias is not None and plant.alias != seen.alias:
                raise UsageError(
                    f"ITR {redact(plant.itr)} is given twice, as {seen.name} and {plant.name}"
                )
            continue
        if plant.alias is not None:
            other = by_alias.setdefault(plant.alias, plant)
            if other is not plant:
                raise UsageError(f"alias {plant.alias!r} names two different ITRs")
        by_itr[plant.itr] = plant
    return list(by_itr.values())


def collect_plants(
    arguments: Sequence[str],
    files: Sequence[str] = (),
    environ: Mapping[str, str] = os.environ,
    *,
    stdin: str | None = None,
) -> list[PlantRef]:
    """Return the plants from arguments and files, else from ``LACECAL_ITR``; in order, once.

    `stdin`: what stdin held, for a file ``-`` (default: read it now).
    """
    plants = [parse_entry(a, f"argument {i}") for i, a in enumerate(arguments, 1)]
    for path in files:
        plants.extend(read_itr_file(path, stdin))
    if not arguments and not files:
        items = [item.strip() for item in environ.get(ENV_VAR, "").split(",")]
        plants = [
            parse_entry(item, f"{ENV_VAR} item {i}") for i, item in enumerate(items, 1) if item
        ]
    if not plants:
        raise UsageError(
            f"no plant given: name ITRs as arguments, with --itr-file, or in {ENV_VAR}"
        )
    _check_aliases(plants)
    return _dedupe(plants)


def _check_aliases(plants: Sequence[PlantRef]) -> None:
    """Refuse an alias holding 8 characters of an identifier of the run (before any quotes it)."""
    hider = Hider(plant.itr for plant in plants)
    for plant in plants:
        if plant.alias is not None and hider.suspects(plant.alias):
            raise UsageError(
                f"the alias of ITR {redact(plant.itr)} holds 8 or more characters of an "
                "identifier in a row (whatever separators, case or width); aliases are shown "
                "and stored: choose another"
            )


@attrs.frozen
class Redactor:
    """Make text safe for the terminal: what it prints to stderr or a table passes here.

    Every known identifier is hidden in any form a server may echo it (8 characters of one
    in a row, raw, in any case or escaped), and control characters are escaped, line by
    line (a server's ESC, CSI or BEL must not retitle, clear or repaint the terminal).
    """

    itrs: tuple[str, ...]
    _hider: Hider = attrs.field(
        init=False, eq=False, repr=False, default=attrs.Factory(lambda s: Hider(s.itrs), True)
    )

    def __call__(self, text: str) -> str:
        """Return `text` with no identifier and no control character but its line breaks."""
        return "\n".join(printable(self._hider(line)) for line in text.split("\n"))
