"""What retrying cannot fix fails at once: a bad base URL at construction, TLS
certificate errors, 4xx other than 408/429, and 501/505 after one attempt.
"""

from __future__ import annotations

import logging
import shutil
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from lacecal_async import LacecalClient, LacecalConnectionError, LacecalResponseError
from tests.support import processes
from tests.support.scripted import INVERTER_LIST_JSON, ScriptFactory

ITR = "Ab3dEf6hIj9kLm2n"


@pytest.mark.parametrize(
    "url",
    [
        "itr.lacecal.es/APIv1/",  # no scheme
        "ftp://itr.lacecal.es/APIv1/",
        "file:///etc/",
        "https://user:s3cretpw@itr.lacecal.es/APIv1/",
        "https://s3cretpw@itr.lacecal.es/APIv1/",
        "https://itr.lacecal.es/APIv1/?key=s3cretpw",
        "https:///APIv1/",  # no host
        " https://itr.lacecal.es/APIv1/",  # whitespace: a pasted value, or a header injection
        "https://itr.lacecal.es/APIv1/\n",
        "https://itr.lacecal.es/API v1/",
        "https://itr.lacecal.es/APIv1/\r\nX-Evil: 1",
    ],
)
async def test_a_base_url_retrying_cannot_fix_is_refused_at_construction(url: str) -> None:
    with pytest.raises(ValueError, match="base_url") as caught:
        LacecalClient(base_url=url)
    assert "s3cretpw" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "warned"),
    [
        ("http://itr.example.invalid/APIv1/", True),
        ("http://10.0.0.7:8080/APIv1/", True),
        ("http://127.0.0.1:8080/APIv1/", False),
        ("http://localhost/APIv1/", False),
        ("http://[::1]:8080/APIv1/", False),
        ("http://[::ffff:127.0.0.1]:8080/APIv1/", False),  # IPv4 loopback, mapped
        ("http://localhost./APIv1/", False),  # the fully qualified name
        ("http://LOCALHOST/APIv1/", False),
        ("http://[::ffff:10.0.0.7]/APIv1/", True),
        ("https://itr.example.invalid/APIv1/", False),
    ],
)
async def test_plain_http_to_a_remote_host_logs_one_warning(
    caplog: pytest.LogCaptureFixture, url: str, warned: bool
) -> None:
    with caplog.at_level(logging.DEBUG, logger="lacecal_async"):
        async with LacecalClient(base_url=url):
            pass
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == (1 if warned else 0)
    if warned:
        assert "clear" in warnings[0].getMessage()


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 410, 418, 501, 505])
async def test_a_permanent_status_is_raised_after_one_attempt(
    make_scripted: ScriptFactory, status: int
) -> None:
    scripted = await make_scripted([(status, {}, b"no")] * 4)
    async with LacecalClient(base_url=scripted.base_url, rate_limit=(6, 0.1), retries=3) as client:
        with pytest.raises(LacecalResponseError) as caught:
            await client.inverters(ITR)
    assert caught.value.status == status
    assert len(scripted.arrivals) == 1


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_a_transient_status_is_retried(make_scripted: ScriptFactory, status: int) -> None:
    headers = {"Retry-After": "0"} if status == 429 else {}
    scripted = await make_scripted([(status, headers, b"busy")])
    async with LacecalClient(base_url=scripted.base_url, rate_limit=(6, 0.1), retries=3) as client:
        assert len(await client.inverters(ITR)) == 1
    assert len(scripted.arrivals) == 2


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost (nobody trusts it), and its key."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    command = [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    command += ["-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)]
    done = processes.run(command)
    assert done.returncode == 0, done.stderr
    return cert, key


@pytest.fixture
async def tls_server(certificate: tuple[Path, Path]) -> AsyncIterator[tuple[str, list[int]]]:
    """An HTTPS server on loopback whose certificate nobody trusts (self-signed)."""
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    hits: list[int] = []

    async def handle(_request: web.Request) -> web.Response:
        hits.append(1)  # pragma: no cover - the handshake fails first
        return web.Response(body=INVERTER_LIST_JSON)  # pragma: no cover

    app = web.Application()
    app.router.add_get("/APIv1/{name}", handle)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.25)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"https://{host}:{port}/APIv1/", hits
    finally:
        await runner.cleanup()


async def test_an_untrusted_certificate_is_raised_after_one_attempt(
    tls_server: tuple[str, list[int]], caplog: pytest.LogCaptureFixture
) -> None:
    base_url, hits = tls_server
    attempts = 0

    def count(record: logging.LogRecord) -> bool:
        nonlocal attempts
        attempts += "failed in" in record.getMessage()
        return True

    logger = logging.getLogger("lacecal_async")
    logger.addFilter(count)
    try:
        with caplog.at_level(logging.DEBUG, logger="lacecal_async"):
            async with LacecalClient(base_url=base_url, rate_limit=(6, 0.1), retries=3) as client:
                with pytest.raises(LacecalConnectionError, match="certificate") as caught:
                    await client.inverters(ITR)
    finally:
        logger.removeFilter(count)
    assert attempts == 1
    assert not any("retrying" in r.getMessage() for r in caplog.records)
    assert ITR not in str(caught.value)
    assert hits == []
