"""Faults a plant can be told to show, so a client's error paths can be exercised for real.

Counted faults (`fail_first`, `drop_first`) count the ITR's requests admitted by the rate
limiter since the faults were set (server start, or `FakeLacecalServer.set_faults`).
"""

from __future__ import annotations

import random

import attrs

__all__ = ["MAINTENANCE_PAGE", "Faults", "garble", "truncate"]

#: What a PHP site under maintenance typically serves, with status 200.
MAINTENANCE_PAGE = (
    b'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Mantenimiento</title></head>'
    b"<body><h1>Servicio en mantenimiento</h1><p>Disculpe las molestias.</p></body></html>\n"
)


@attrs.frozen
class Faults:
    """Misbehaviour of one ITR; the default is a healthy service.

    fail_first: answer `fail_status` to the first k admitted requests.
    fail_status: the 5xx (or any) status those failures carry.
    always_fail: answer `fail_status` to every admitted request.
    delay: seconds to wait before doing anything else (a slow service; for timeouts).
    truncate: send only the first half of the body.
    garbage: send random bytes (as long as the real body) instead of the body.
    maintenance_page: send an HTML page with status 200.
    json_as_html: label bodies ``text/html; charset=UTF-8`` as many PHP services do.
    drop_connection / drop_first: close the socket without replying (always / first k).
    retry_after: the ``Retry-After`` value 429 replies send instead of the exact one.
    """

    fail_first: int = 0
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


def truncate(body: bytes) -> bytes:
    """Return the first half of `body`: what a reply cut off mid-transfer looks like."""
    return body[: len(body) // 2]


def garble(body: bytes, seed: int) -> bytes:
    """Bytes as long as `body`, random but reproducible from `seed`."""
    return random.Random(seed).randbytes(max(len(body), 16))  # noqa: S311 - not crypto
