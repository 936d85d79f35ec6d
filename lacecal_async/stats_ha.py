"""Home Assistant long-term statistics from hourly rollups, with no Home Assistant import.

`ha_statistics` turns one plant's (or many plants') hourly `StatsRow`s into what
``async_add_external_statistics(hass, metadata, statistics)`` takes: per statistic id, the
metadata (``StatisticMetaData``) and rows of ``start`` (aware, top of a UTC hour),
``state`` (the hour's energy) and ``sum`` (the running total, `running_sums`). An hour no
period reported has no row (never a zero); its sum carries over.

Statistic ids are ``<source>:<plant>_<quantity>`` (``lacecal:roof_grid_imported``): the
plant's alias, else its fingerprint, as a slug; a plant label that could hold an identifier
is refused. The metadata has the keys of the Home Assistant release it is for (``release``;
pass ``homeassistant.const.__version__``), as core's recorder builds its row from them and
refuses a key it has no column for: ``has_sum``, ``name``, ``source``, ``statistic_id``,
``unit_of_measurement``, and ``has_mean`` before 2025.4, ``mean_type`` from 2025.4 on
(``StatisticMeanType``), ``unit_class`` from 2025.11 on (required from 2026.11).

Feeding it incrementally: keep each statistic's `HaStatistic.resume` and start the next
rollup at its start, anchored on it. It is the last row before the first hour still
incomplete, so a hole repaired later is exported again with every sum after it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

import attrs

from lacecal_async.stats import StatsRow, as_unix, quantity_rank, unit_of
from lacecal_async.stats_sums import SumAnchor, SumRow, running_sums

__all__ = [
    "HA_RELEASE",
    "SOURCE",
    "HaStatistic",
    "ha_metadata",
    "ha_release",
    "ha_statistics",
    "object_id",
    "statistic_id",
]

#: The default ``source`` (and statistic id prefix); an integration passes its own domain.
SOURCE: Final = "lacecal"
#: The release whose metadata `ha_metadata` gives by default: the newest shape.
HA_RELEASE: Final = "2025.11"
#: Where ``mean_type`` replaced ``has_mean``, and where ``unit_class`` came.
_MEAN_TYPE, _UNIT_CLASS = (2025, 4), (2025, 11)
_RELEASE = re.compile(r"([0-9]{4})\.([0-9]{1,2})(?:\..*)?", re.ASCII)
#: Home Assistant's unit and unit class (its unit converter) of each of our units.
_HA_UNITS: Final = {"kWh": ("kWh", "energy"), "kVArh": ("kvarh", "reactive_energy")}
_WORDS = re.compile(r"[a-z0-9]+")
_IDENTIFIER_RUN = re.compile(r"[A-Za-z0-9]{16,}", re.ASCII)
_PHASE = re.compile(r"_([rst])(?=_|$)")


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "_".join(_WORDS.findall(ascii_text.lower()))


def object_id(plant: str) -> str:
    """Return a plant's part of a statistic id: its key as a slug (``Cádiz 2`` -> ``cadiz_2``).

    ValueError for a key that could hold an identifier (16 or more ASCII letters and digits
    in a row: use the plant's alias or fingerprint) or that has no letter or digit to keep.
    """
    if _IDENTIFIER_RUN.search(plant):
        raise ValueError(
            "a plant label with 16 or more letters and digits in a row could be an "
            "identifier: name plants by their alias or fingerprint"
        )
    slug = _slug(plant)
    if not slug:
        raise ValueError(f"plant {plant!r} has no ASCII letter or digit to make an id of")
    return slug


def statistic_id(plant: str, quantity: str, *, source: str = SOURCE) -> str:
    """Return ``<source>:<plant>_<quantity>``, e.g. ``lacecal:roof_grid_imported``."""
    if _slug(source) != source:
        raise ValueError(f"source must be a slug (lowercase letters, digits, '_'), not {source!r}")
    name = quantity.removesuffix("_kwh").removesuffix("_kvarh")
    return f"{source}:{object_id(plant)}_{_slug(name)}"


def _label(quantity: str) -> str:
    """Return a quantity's name for people: ``grid R imported``, ``grid Q1``, ``inverter 7``."""
    name = quantity.removesuffix("_kwh").removesuffix("_kvarh")
    if name == "total_energy":
        return "inverters total"
    name = _PHASE.sub(lambda m: "_" + m.group(1).upper(), name)
    name = re.sub(r"_q([1-4])$", r"_Q\1", name)
    return name.replace("_", " ")


def ha_release(version: str) -> tuple[int, int]:
    """Return ``(year, month)`` of a Home Assistant version (``2025.11.2``, ``2026.1.0.dev0``)."""
    found = _RELEASE.fullmatch(version.strip())
    if found is None:
        raise ValueError(f"a Home Assistant version is YEAR.MONTH[.PATCH], not {version!r}")
    return int(found[1]), int(found[2])


def ha_metadata(
    plant: str, quantity: str, *, source: str = SOURCE, release: str = HA_RELEASE
) -> dict[str, Any]:
    """Return the ``StatisticMetaData`` of a plant's quantity (a sum, no mean) for `release`."""
    unit, unit_class = _HA_UNITS[unit_of(quantity)]
    version = ha_release(release)
    metadata: dict[str, Any] = {}
    if version < _MEAN_TYPE:
        metadata["has_mean"] = False
    else:
        metadata["mean_type"] = 0  # StatisticMeanType.NONE
    metadata |= {
        "has_sum": True,
        "name": f"{plant} {_label(quantity)}",
        "source": source,
        "statistic_id": statistic_id(plant, quantity, source=source),
    }
    if version >= _UNIT_CLASS:
        metadata["unit_class"] = unit_class
    metadata["unit_of_measurement"] = unit
    return metadata


@attrs.frozen
class HaStatistic:
    """One statistic: its id, metadata, rows and where the next export resumes.

    stats: ``{"start": datetime, "state": float, "sum": float}`` per hour with a value.
    resume: the anchor of the next export (start it at ``resume.start``): the last row
    before the first hour still incomplete (the anchor given, if that hour is the first),
    or the last row; None where nothing before an incomplete hour has a sum yet.
    """

    statistic_id: str
    metadata: dict[str, Any]
    stats: list[dict[str, Any]]
    resume: SumAnchor | None

    def as_json(self) -> dict[str, Any]:
        """Return the statistic as JSON-ready data (times as ISO 8601 with their offsets)."""
        resume = self.resume
        return {
            "metadata": self.metadata,
            "stats": [{**row, "start": row["start"].isoformat()} for row in self.stats],
            "resume": None if resume is None else {"start": _iso(resume.start), "sum": resume.sum},
        }


def _iso(when: datetime | int) -> str | int:
    return when.isoformat() if isinstance(when, datetime) else when


def _resume(sums: list[SumRow], anchor: SumAnchor | None, settled: int | None) -> SumAnchor | None:
    for i, row in enumerate(sums):
        if not row.final and (settled is None or as_unix(row.end) > settled):
            return sums[i - 1].anchor() if i else anchor
    return sums[-1].anchor() if sums else anchor


def ha_statistics(
    rows: Iterable[StatsRow],
    *,
    source: str = SOURCE,
    anchors: Mapping[str, SumAnchor] | None = None,
    settled: datetime | int | None = None,
    release: str = HA_RELEASE,
) -> list[HaStatistic]:
    """Return a `HaStatistic` per plant and quantity of hourly rows, by plant.

    `anchors`: per statistic id, the row to continue the sum from (`running_sums`); a
    statistic without one starts at 0. `settled`: hours ending by then count as final for
    `HaStatistic.resume` even if incomplete (a hole the store gave up repairing must not
    hold every later export back). `release`: the metadata's shape (`ha_metadata`).
    ValueError for rows that are not hours starting on a
    UTC hour (Home Assistant's statistics are hourly), for two plants whose ids collide,
    and as `running_sums` raises.
    """
    plants: dict[str, list[StatsRow]] = {}
    for row in rows:
        if row.bucket != "hour":
            kind = "daily" if row.bucket == "day" else f"{row.bucket}ly"
            raise ValueError(f"Home Assistant takes hourly statistics, not {kind} rows")
        if as_unix(row.start) % 3600:
            raise ValueError(
                f"{row.start.isoformat()} is not the top of a UTC hour, which Home Assistant's "
                "hours are: roll up in a zone whose offset is a whole number of hours"
            )
        plants.setdefault(row.plant, []).append(row)
    seen: dict[str, str] = {}
    for plant in plants:
        other = seen.setdefault(object_id(plant), plant)
        if other != plant:
            raise ValueError(f"plants {other!r} and {plant!r} would share statistic ids")
    ha_release(release)
    given = anchors or {}
    cut = None if settled is None else as_unix(settled, "settled")
    out = []
    for plant, plant_rows in plants.items():
        quantities = sorted({q for row in plant_rows for q in row.energy}, key=quantity_rank)
        for quantity in quantities:
            metadata = ha_metadata(plant, quantity, source=source, release=release)
            anchor = given.get(metadata["statistic_id"])
            sums = running_sums(plant_rows, quantity, anchor)
            stats = [
                {"start": r.start, "state": r.state, "sum": r.sum}
                for r in sums
                if r.state is not None
            ]
            resume = _resume(sums, anchor, cut)
            out.append(HaStatistic(metadata["statistic_id"], metadata, stats, resume))
    return out
