"""Notifications against real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qs, quote_plus, urlencode, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapetui.engine.notify import (
    Notification,
    Notifier,
    NotifyConfig,
    NotifyError,
    human_duration,
    human_size,
    markdown_text,
    redact_url,
    signed_dingtalk_url,
)

pytestmark = pytest.mark.timeout(30)

TOKEN = "tok3nS3cretValue0123456789abcdef"
SECRET = "SECdeadbeefcafebabe0123456789SIGNINGKEY"
NOW_MS = "1717243200126"  # a fixed clock, 2024-06-01 12:00:00.126 UTC, whose signature holds "+" and "/"
NOW = int(NOW_MS) / 1000


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query)

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Server:
    """A minimal HTTP/1.1 server that records requests and answers from a script.

    Each script entry is ``(status, json_body)``, ``"hang"`` (read the request,
    never answer) or ``"hold"`` (answer 200 once a second request has arrived);
    the last entry repeats.
    """

    script: list = field(default_factory=lambda: [(200, {"errcode": 0, "errmsg": "ok"})])
    requests: list[Request] = field(default_factory=list)
    port: int = 0
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        method, target, _ = head[0].split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in head[1:] if h)}
        body = await reader.readexactly(int(headers.get("content-length", 0)))
        self.requests.append(Request(method, target, headers, body))
        step = self.script[min(len(self.requests), len(self.script)) - 1]
        if step == "hang":
            await asyncio.Event().wait()
        if step == "hold":
            while len(self.requests) < 2:
                await asyncio.sleep(0.01)
            step = (200, {"errcode": 0})
        status, payload = step
        data = json.dumps(payload).encode()
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode() + data
        )
        await writer.drain()
        writer.close()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = Server()
    tasks: set[asyncio.Task] = set()

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        tasks.add(asyncio.current_task())  # type: ignore[arg-type]
        await srv.handle(r, w)

    aserver = await asyncio.start_server(handler, "127.0.0.1", 0)
    srv.port = aserver.sockets[0].getsockname()[1]
    yield srv
    aserver.close()
    for task in tasks:
        task.cancel()
    for w in srv._writers:
        w.close()
    await asyncio.wait_for(aserver.wait_closed(), 5)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def expected_sign(timestamp: str) -> str:
    """DingTalk's documented signature, recomputed independently of the module."""
    digest = hmac.new(SECRET.encode(), f"{timestamp}\n{SECRET}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


async def no_sleep(_: float) -> None:
    await asyncio.sleep(0)


def success() -> Notification:
    return Notification(
        "success", "Backup nightly-home done", "All files written.", schedule="nightly-home",
        size_bytes=3 * 1024**3 // 2, files=12345, duration_s=3723, cartridge="TP20240601",
    )


async def test_generic_webhook_body(server: Server) -> None:
    server.script = [(204, {})]
    async with Notifier(NotifyConfig(webhook_url=server.url()), clock=lambda: NOW) as notifier:
        results = await notifier.send(success())
    assert [(r.channel, r.ok, r.attempts) for r in results] == [("webhook", True, 1)]
    (req,) = server.requests
    assert (req.method, req.target, req.headers["content-type"]) == ("POST", "/hook", "application/json")
    body = req.json()
    sent_at = body.pop("sent_at")
    assert body == {
        "event": "success", "title": "Backup nightly-home done", "text": "All files written.",
        "schedule": "nightly-home", "size_bytes": 1610612736, "files": 12345, "duration_s": 3723,
        "cartridge": "TP20240601", "error": None, "action": None,
    }
    assert datetime.fromisoformat(sent_at).timestamp() == pytest.approx(NOW, abs=1e-3)


async def test_dingtalk_body_and_signature(server: Server) -> None:
    cfg = NotifyConfig(dingtalk_webhook=server.url(f"/robot/send?access_token={TOKEN}"), dingtalk_secret=SECRET)
    async with Notifier(cfg, clock=lambda: NOW) as notifier:
        results = await notifier.send(success())
    assert [(r.channel, r.ok) for r in results] == [("dingtalk", True)]
    (req,) = server.requests
    assert urlsplit(req.target).path == "/robot/send"
    q = req.query
    assert q["access_token"] == [TOKEN]
    assert q["timestamp"] == [NOW_MS]
    sign = expected_sign(NOW_MS)
    assert "+" in sign and "/" in sign  # so URL-encoding mistakes would show
    assert q["sign"] == [sign]
    body = req.json()
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["title"] == "Backup nightly-home done"
    text = body["markdown"]["text"]
    for fact in ("Succeeded", "nightly-home", "1.5 GiB", "12,345", "1h 02m 03s", "TP20240601", "All files written."):
        assert fact in text


async def test_dingtalk_without_secret_sends_no_signature(server: Server) -> None:
    cfg = NotifyConfig(dingtalk_webhook=server.url(f"/robot/send?access_token={TOKEN}"))
    async with Notifier(cfg) as notifier:
        await notifier.send(success())
    assert set(server.requests[0].query) == {"access_token"}


async def test_dingtalk_errcode_is_a_failure_without_retry_and_is_scrubbed(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    server.script = [(200, {"errcode": 310000, "errmsg": f"sign not match, token {TOKEN}"})]
    cfg = NotifyConfig(dingtalk_webhook=server.url(f"/r?access_token={TOKEN}"), dingtalk_secret=SECRET)
    async with Notifier(cfg, sleep=no_sleep) as notifier:
        (result,) = await notifier.send(success())
    assert (result.ok, result.attempts, result.status_code) == (False, 1, 200)
    assert "310000" in result.detail and TOKEN not in result.detail
    assert len(server.requests) == 1
    assert "310000" in caplog.text and TOKEN not in caplog.text and SECRET not in caplog.text


async def test_channels_are_sent_concurrently(server: Server) -> None:
    # The first request is held until the second arrives: one channel at a time would time out.
    server.script = ["hold", (200, {"errcode": 0})]
    cfg = NotifyConfig(dingtalk_webhook=server.url("/ding"), webhook_url=server.url("/hook"), timeout_s=2, retries=1)
    async with Notifier(cfg) as notifier:
        results = await notifier.send(success())
    assert sorted((r.channel, r.ok) for r in results) == [("dingtalk", True), ("webhook", True)]
    assert sorted(urlsplit(r.target).path for r in server.requests) == ["/ding", "/hook"]


async def test_retries_after_500_then_succeeds(server: Server) -> None:
    server.script = [(500, {}), (429, {}), (200, {"ok": True})]
    delays: list[float] = []

    async def sleep(d: float) -> None:
        delays.append(d)

    cfg = NotifyConfig(webhook_url=server.url(), retries=3, backoff_s=0.5)
    async with Notifier(cfg, sleep=sleep) as notifier:
        (result,) = await notifier.send(success())
    assert (result.ok, result.attempts, result.status_code) == (True, 3, 200)
    assert len(server.requests) == 3
    assert delays == [0.5, 1.0]


async def test_client_error_is_not_retried(server: Server) -> None:
    server.script = [(404, {})]
    async with Notifier(NotifyConfig(webhook_url=server.url()), sleep=no_sleep) as notifier:
        (result,) = await notifier.send(success())
    assert (result.ok, result.attempts, result.status_code) == (False, 1, 404)
    assert "404" in result.detail


async def test_server_down_fails_and_logs_without_secrets(caplog: pytest.LogCaptureFixture) -> None:
    port = closed_port()
    cfg = NotifyConfig(
        dingtalk_webhook=f"http://127.0.0.1:{port}/robot/send?access_token={TOKEN}",
        dingtalk_secret=SECRET,
        webhook_url=f"http://user:{TOKEN}@127.0.0.1:{port}/hook?token={TOKEN}",
        retries=2,
    )
    caplog.set_level(logging.DEBUG, logger="tapetui.notify")
    async with Notifier(cfg, sleep=no_sleep) as notifier:
        results = await notifier.send(success())
    assert sorted((r.channel, r.ok, r.attempts) for r in results) == [("dingtalk", False, 2), ("webhook", False, 2)]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert f"http://127.0.0.1:{port}/…" in caplog.text and "/robot/send" not in caplog.text
    for leaked in (TOKEN, SECRET, "sign=", "timestamp="):
        assert leaked not in caplog.text
        assert all(leaked not in r.detail for r in results)


async def test_hanging_server_is_abandoned(server: Server) -> None:
    server.script = ["hang"]
    cfg = NotifyConfig(webhook_url=server.url(), timeout_s=0.2, retries=2, backoff_s=0.01)
    async with Notifier(cfg) as notifier:
        (result,) = await notifier.send(success())
    assert (result.ok, result.attempts) == (False, 2)
    assert "no answer within 0.2s" in result.detail
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    ("kind", "switch"), [("success", "on_success"), ("failure", "on_failure"), ("operator", "on_operator")]
)
async def test_switches_suppress_their_kind_only(server: Server, kind: str, switch: str) -> None:
    cfg = NotifyConfig(webhook_url=server.url(), **{switch: False})
    async with Notifier(cfg) as notifier:
        assert await notifier.send(Notification(kind, "t", "x")) == []  # type: ignore[arg-type]
        other = next(k for k in ("success", "failure", "operator", "info") if k != kind)
        (result,) = await notifier.send(Notification(other, "t", "x"))  # type: ignore[arg-type]
    assert result.ok
    assert [r.json()["event"] for r in server.requests] == [other]


async def test_no_channel_configured_sends_nothing() -> None:
    async with Notifier(NotifyConfig()) as notifier:
        assert await notifier.send(success()) == []


def test_operator_markdown_shows_action_and_failure_shows_error() -> None:
    op = markdown_text(Notification("operator", "Change the tape", "", cartridge="TP20240501",
                                    action="Insert this month's cartridge"))
    assert "Operator needed" in op and "Insert this month's cartridge" in op and "TP20240501" in op
    fail = markdown_text(Notification("failure", "Backup failed", "", error="tape is not this month's"))
    assert "Failed" in fail and "tape is not this month's" in fail


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"webhook_url": "ftp://example.com/x"}, "notify.webhook_url must be an http(s) URL"),
        ({"dingtalk_webhook": f"oapi.dingtalk.com/robot/send?access_token={TOKEN}"}, "notify.dingtalk_webhook"),
        ({"timeout_s": 0}, "notify.timeout_s must be > 0"),
        ({"retries": 0}, "notify.retries must be >= 1"),
        ({"backoff_s": -1}, "notify.backoff_s must be >= 0"),
    ],
)
def test_bad_config_is_a_clear_error_without_secrets(kwargs: dict, message: str) -> None:
    with pytest.raises(NotifyError, match=re.escape(message)) as info:
        NotifyConfig(**kwargs)
    assert TOKEN not in str(info.value) and "\n" not in str(info.value)


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(NotifyError, match="unknown notification kind 'done'"):
        Notification("done", "t", "x")  # type: ignore[arg-type]


def test_config_repr_hides_secrets() -> None:
    cfg = NotifyConfig(dingtalk_webhook=f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}",
                       dingtalk_secret=SECRET)
    assert TOKEN not in repr(cfg) and SECRET not in repr(cfg) and "oapi.dingtalk.com" in repr(cfg)


def test_delivery_bound() -> None:
    assert NotifyConfig(timeout_s=10, retries=3, backoff_s=1).max_delivery_s == 33
    assert NotifyConfig(timeout_s=0.2, retries=1, backoff_s=5).max_delivery_s == pytest.approx(0.2)


_value = st.text(st.characters(codec="ascii", categories=["L", "N"]) | st.sampled_from("-_.~+/="), min_size=1)


@given(token=_value, sign=_value, other=_value)
def test_redact_url_shows_only_scheme_and_host(token: str, sign: str, other: str) -> None:
    url = "https://oapi.dingtalk.com/robot/send?" + urlencode(
        {"access_token": token, "timestamp": "1", "sign": sign, "page": other}
    )
    assert redact_url(url) == "https://oapi.dingtalk.com/…"


@given(secret=st.text(min_size=1), timestamp_ms=st.integers(0, 2**45))
def test_signed_url_carries_a_verifiable_signature(secret: str, timestamp_ms: int) -> None:
    url = signed_dingtalk_url(f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}", secret, timestamp_ms)
    q = parse_qs(urlsplit(url).query)
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    assert q == {"access_token": [TOKEN], "timestamp": [str(timestamp_ms)], "sign": [base64.b64encode(digest).decode()]}


def test_redact_url_hides_password() -> None:
    assert redact_url("https://bob:hunter2@example.com:8443/h?x=1") == "https://example.com:8443/…"


@pytest.mark.parametrize(
    ("n", "text"), [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (3 * 1024**3 // 2, "1.5 GiB"),
                    (5 * 1024**5, "5120.0 TiB")],
)
def test_human_size(n: int, text: str) -> None:
    assert human_size(n) == text


@pytest.mark.parametrize(("s", "text"), [(4.3, "4.3s"), (61, "1m 01s"), (3723, "1h 02m 03s")])
def test_human_duration(s: float, text: str) -> None:
    assert human_duration(s) == text


async def test_no_logger_sees_credentials_even_at_debug(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger: httpx and httpcore records included
    cfg = NotifyConfig(dingtalk_webhook=server.url(f"/r?access_token={TOKEN}"), dingtalk_secret=SECRET)
    async with Notifier(cfg, clock=lambda: NOW) as notifier:
        (result,) = await notifier.send(success())
    assert result.ok
    assert f"POST http://127.0.0.1:{server.port}/… " in caplog.text  # httpx logged the request...
    sign = expected_sign(NOW_MS)
    for leaked in (TOKEN, SECRET, sign, quote_plus(sign)):
        assert leaked not in caplog.text  # ...without its credentials
