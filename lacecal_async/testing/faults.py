"""Faults a plant can be told to show, so a client's error paths can be exercised for real.

Counted faults (`fail_first`, `drop_first`) count the ITR's requests admitted by the rate
limiter since the faults were set (server start, or `FakeLacecalServer.set_faults`), of
the endpoints the faults apply to (`endpoints`).
"""

from __future__ import annotations

import random

import attrs

__all__ = ["MAINTENANCE_PAGE", "Faults", "garble", "truncate", "with_glitch"]

#: What a PHP site under maintenance typically serves, with status 200.
MAINTENANCE_PAGE = (
    b'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Mantenimiento</title></head>'
    b"<body><h1>Servicio en mantenimiento</h1><p>Disculpe las molestias.</p></body></html>\n"
)


@attrs.frozen
class Faults:
    """Misbehaviour of one ITR; the default is a healthy service.

    fail_first: answer `fail_status` to the first k admitted requests.
    fail_rate: answer `fail_status` to this fraction of admitted requests (0 to 1), drawn
    reproducibly from the ITR and the request's count (a flaky service).
    fail_status: the 5xx (or any) status those failures carry.
    always_fail: answer `fail_status` to every admitted request.
    delay: seconds to wait before doing anything else (a slow service; for timeouts).
    truncate: send only the first half of the body.
    garbage: send random bytes (as long as the real body) instead of the body.
    maintenance_page: send an HTML page with status 200.
    json_as_html: label bodies ``text/html; charset=UTF-8`` as many PHP services do.
    drop_connection / drop_first: close the socket without replying (always / first k).
    retry_after: the ``Retry-After`` value 429 replies send instead of the exact one.
    future_ahead / future_at: a logger's clock glitch: the plant also has a record dated in
    the future, which is its latest (served alone without ``t``, and after the others in a
    page that reaches it): `future_ahead` seconds after the server's clock (it moves with
    the clock), or at the fixed UNIX time `future_at`; aligned down to the plant's period.
    endpoints: the endpoints the faults apply to (``"meter"``, ``"inverter"``,
    ``"inverter_list"``); None: every one. The others are served as if healthy.
    """

    fail_first: int = 0
    fail_rate: float = 0.0
    fail_status: int = 503
    always_fail: bool = False
    delay: float = 0.0
    truncate: bool = False
    garbage: bool = False
    maintenance_page: bool = False
    json_as_html: bool = False
    drop_connection: bool = False
    drop_first: int = 0
    retry_after: float | None = None
    future_ahead: float | None = None
    future_at: int | None = None
    endpoints: tuple[str, ...] | None = None

    def apply_to(self, endpoint: str) -> bool:
        """Whether the faults change the replies of `endpoint` (its value, e.g. ``"meter"``)."""
        return self.endpoints is None or endpoint in self.endpoints

    def unlucky(self, itr: str, count: int) -> bool:
        """Whether the `count`-th admitted request of `itr` fails by `fail_rate`."""
        if not self.fail_rate > 0:
            return False
        return random.Random(f"{itr}:{count}").random() < self.fail_rate  # noqa: S311 - not crypto

    def future_time(self, interval: int, now: float) -> int | None:
        """Return the start of the glitching record at `now`, or None without a glitch."""
        if self.future_at is not None:
            when = self.future_at
        elif self.future_ahead is not None:
            when = int(now + self.future_ahead)
        else:
            return None
        return when // interval * interval


def with_glitch(
    times: list[int], start: int | None, n: int, glitch: int, *, periods: int | None = None
) -> list[int]:
    """Return a page's record times with the glitching record where a server would put it.

    `start` None is the request for the latest record: the glitch alone. Otherwise it comes
    after the page's records if it lies at or after `start` and the page has room: `n`
    records, or (`periods`: the period when `n` counts periods) before ``start + n`` periods.
    """
    if start is None:
        return [glitch]
    if glitch < start or glitch in times or (times and glitch < times[-1]):
        return times
    if periods is not None:
        first = -(-start // periods) * periods
        return [*times, glitch] if glitch < first + n * periods else times
    return [*times, glitch] if len(times) < n else times


def truncate(body: bytes) -> bytes:
    """Return the first half of `body`: what a reply cut off mid-transfer looks like."""
    return body[: len(body) // 2]


def garble(body: bytes, seed: int) -> bytes:
    """Bytes as long as `body`, random but reproducible from `seed`."""
    return random.Random(seed).randbytes(max(len(body), 16))  # noqa: S311 - not crypto
