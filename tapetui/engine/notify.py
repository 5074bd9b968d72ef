"""Notifications: a DingTalk robot and a plain JSON webhook.

Why: nobody watches the console when a nightly backup ends or a cartridge must be
changed, so the engine tells people where they already look. Sending a
notification never raises and is bounded in time (``NotifyConfig.max_delivery_s``):
a notification that cannot be sent is logged, it never fails or stalls a run.
Secrets (the signing secret, and any part of a webhook URL but its scheme and
host: tokens sit in paths and in query keys of every name) are kept out of logs,
reprs and results; a webhook is shown as ``scheme://host/…``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal, get_args
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

import httpx

log = logging.getLogger("tapetui.notify")

Kind = Literal["success", "failure", "operator", "info"]
KINDS: tuple[str, ...] = get_args(Kind)

REDACTED = "***"


class NotifyError(ValueError):
    """A notification or the ``[notify]`` config is invalid (one-line message)."""


@dataclass(frozen=True)
class Notification:
    """What happened, for people: a title, a text and the facts that matter.

    ``kind`` is ``success`` / ``failure`` / ``operator`` (someone must act, e.g.
    change the tape; ``action`` says what) / ``info``.
    """

    kind: Kind
    title: str
    text: str
    schedule: str | None = None
    size_bytes: int | None = None
    files: int | None = None
    duration_s: float | None = None
    cartridge: str | None = None
    error: str | None = None
    action: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise NotifyError(f"unknown notification kind {self.kind!r}; expected one of {', '.join(KINDS)}")


@dataclass(frozen=True, repr=False)
class NotifyConfig:
    """The ``[notify]`` config section. An empty URL disables that channel.

    ``retries`` is the number of attempts per channel (at least 1); attempt *n*
    is followed by a ``backoff_s * 2**(n-1)`` pause. ``info`` notifications have
    no switch: they go wherever a channel is configured.
    """

    #: DingTalk robot webhook URL (with its access_token); empty = off. A secret: the file must be mode 0600.
    dingtalk_webhook: str = ""
    #: DingTalk signing secret (SEC...), if the robot uses signing.
    dingtalk_secret: str = ""
    #: Generic JSON webhook URL; empty = off.
    webhook_url: str = ""
    #: Seconds per attempt.
    timeout_s: float = 10
    #: Attempts per channel (at least 1), with doubling pauses of backoff_s.
    retries: int = 3
    #: First pause between attempts, in seconds.
    backoff_s: float = 1.0
    #: Which events are sent: success, failure, operator needed.
    on_success: bool = True
    on_failure: bool = True
    on_operator: bool = True

    def __post_init__(self) -> None:
        for name in ("dingtalk_webhook", "webhook_url"):
            url = getattr(self, name)
            if url and not _is_http_url(url):
                raise NotifyError(f"notify.{name} must be an http(s) URL, got {redact_url(url)!r}")
        if not self.timeout_s > 0:
            raise NotifyError(f"notify.timeout_s must be > 0, got {self.timeout_s}")
        if self.retries < 1:
            raise NotifyError(f"notify.retries must be >= 1, got {self.retries}")
        if self.backoff_s < 0:
            raise NotifyError(f"notify.backoff_s must be >= 0, got {self.backoff_s}")

    def __repr__(self) -> str:
        return (
            f"NotifyConfig(dingtalk_webhook={redact_url(self.dingtalk_webhook)!r}, "
            f"dingtalk_secret={REDACTED if self.dingtalk_secret else ''!r}, "
            f"webhook_url={redact_url(self.webhook_url)!r}, timeout_s={self.timeout_s}, "
            f"retries={self.retries}, backoff_s={self.backoff_s}, on_success={self.on_success}, "
            f"on_failure={self.on_failure}, on_operator={self.on_operator})"
        )

    @property
    def max_delivery_s(self) -> float:
        """The longest one ``Notifier.send`` can take, even against a hanging server."""
        return self.retries * self.timeout_s + self.backoff_s * (2 ** (self.retries - 1) - 1)

    def wants(self, kind: str) -> bool:
        return {"success": self.on_success, "failure": self.on_failure, "operator": self.on_operator}.get(kind, True)


@dataclass(frozen=True)
class DeliveryResult:
    """The outcome for one channel. ``detail`` is safe to show: secrets are redacted."""

    channel: Literal["dingtalk", "webhook"]
    ok: bool
    attempts: int
    detail: str
    status_code: int | None = None


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def redact_url(url: str) -> str:
    """How a webhook is shown anywhere (logs, errors, reprs): ``scheme://host:port/…``.

    Never its path, query or user: Slack, Teams and Discord put the token in the
    path, other services in query keys no list can name."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return "…"
    if not parts.scheme or not host:
        return "…"
    netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port is not None else "")
    return f"{parts.scheme}://{netloc}/…"


class _RedactHttpxUrls(logging.Filter):
    """httpx logs every request URL at INFO; redact it so tokens never reach a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_url(str(a)) if isinstance(a, httpx.URL) else a for a in record.args)
        return True


logging.getLogger("httpx").addFilter(_RedactHttpxUrls())


def _secrets_in(url: str) -> list[str]:
    """Every part of ``url`` but its scheme, host and port (each whole, by segment and
    by query value, raw, decoded and encoded), for scrubbing text that may quote it."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    found = [url, parts.path, parts.query, parts.fragment, parts.username or "", parts.password or ""]
    found += parts.path.split("/") + [v for kv in parse_qsl(parts.query, keep_blank_values=True) for v in kv]
    found = [f for f in found if len(f) >= 4]
    return found + [unquote(f) for f in found] + [quote_plus(f) for f in found] + [quote(f) for f in found]


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's robot signature: base64(HMAC-SHA256(secret, "ts\\nsecret")), not yet URL-encoded."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signed_dingtalk_url(webhook: str, secret: str, timestamp_ms: int) -> str:
    """The webhook URL with ``timestamp`` and ``sign`` appended, as DingTalk documents it."""
    sep = "&" if urlsplit(webhook).query else ("" if webhook.endswith("?") else "?")
    return f"{webhook}{sep}timestamp={timestamp_ms}&sign={quote_plus(dingtalk_sign(secret, timestamp_ms))}"


def human_size(n: int) -> str:
    """Bytes in binary units, e.g. ``1.5 GiB``."""
    if abs(n) < 1024:
        return f"{n} B"
    size, unit = float(n), "B"
    for bigger in ("KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024:
            break
        size, unit = size / 1024, bigger
    return f"{size:.1f} {unit}"


def human_duration(seconds: float) -> str:
    """``3723`` -> ``1h 02m 03s``; under a minute -> ``4.2s``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    total = round(seconds)
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else f"{m}m {s:02d}s"


_STATUS = {
    "success": "✅ Succeeded",
    "failure": "❌ Failed",
    "operator": "⚠️ Operator needed",
    "info": "ℹ️ Info",
}


def markdown_text(n: Notification) -> str:
    """The DingTalk markdown body: heading, the known facts, then the free text."""
    facts = [("Status", _STATUS[n.kind])]
    if n.schedule:
        facts.append(("Schedule", n.schedule))
    if n.size_bytes is not None:
        facts.append(("Size", human_size(n.size_bytes)))
    if n.files is not None:
        facts.append(("Files", f"{n.files:,}"))
    if n.duration_s is not None:
        facts.append(("Duration", human_duration(n.duration_s)))
    if n.cartridge:
        facts.append(("Cartridge", n.cartridge))
    if n.error:
        facts.append(("Error", n.error))
    if n.action:
        facts.append(("Action", n.action))
    lines = [f"#### {n.title}", *(f"- **{k}:** {v}" for k, v in facts)]
    if n.text:
        lines.append(n.text)
    return "\n\n".join(lines)


@dataclass(frozen=True, slots=True)
class _Attempt:
    """One attempt's verdict: ``retry`` marks failures worth another try."""

    ok: bool
    detail: str
    retry: bool = False
    status_code: int | None = None


def _judge_http(response: httpx.Response) -> _Attempt | None:
    """A verdict for non-2xx answers (5xx and 429 are retried), or None for 2xx."""
    code = response.status_code
    if 200 <= code < 300:
        return None
    reason = f"HTTP {code} {response.reason_phrase}".rstrip()
    return _Attempt(False, reason, retry=code >= 500 or code == 429, status_code=code)


def _judge_dingtalk(response: httpx.Response) -> _Attempt:
    """DingTalk answers 200 with ``{"errcode": 0}``; a nonzero errcode is final."""
    verdict = _judge_http(response)
    if verdict is not None:
        return verdict
    try:
        body = response.json()
        errcode, errmsg = body.get("errcode"), body.get("errmsg", "")
    except (ValueError, AttributeError):
        return _Attempt(False, "DingTalk answered with no JSON errcode", status_code=response.status_code)
    if errcode == 0:
        return _Attempt(True, "ok", status_code=response.status_code)
    return _Attempt(False, f"DingTalk errcode {errcode}: {errmsg}", status_code=response.status_code)


def _judge_webhook(response: httpx.Response) -> _Attempt:
    return _judge_http(response) or _Attempt(True, "ok", status_code=response.status_code)


class Notifier:
    """Sends notifications to every configured channel at once.

    Owns one ``httpx.AsyncClient`` (opened on first use); close it with
    ``aclose()`` or use ``async with``. ``sleep`` and ``clock`` (seconds since
    the epoch) are injectable so tests run fast and signatures are reproducible.
    """

    def __init__(
        self,
        config: NotifyConfig,
        *,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._sleep = sleep
        self._clock = clock
        self._client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> Notifier:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None or self._client.is_closed:
            self._client = httpx.AsyncClient(timeout=self.config.timeout_s)
        return self._client

    async def send(self, n: Notification) -> list[DeliveryResult]:
        """Deliver ``n`` to every configured channel; [] if none or switched off. Never raises."""
        if not self.config.wants(n.kind):
            return []
        jobs = []
        if self.config.dingtalk_webhook:
            jobs.append(self._deliver_dingtalk(n))
        if self.config.webhook_url:
            jobs.append(self._deliver_webhook(n))
        return list(await asyncio.gather(*jobs))

    def _deliver_dingtalk(self, n: Notification) -> Awaitable[DeliveryResult]:
        cfg = self.config
        body = {"msgtype": "markdown", "markdown": {"title": n.title, "text": markdown_text(n)}}

        def url() -> str:
            if not cfg.dingtalk_secret:
                return cfg.dingtalk_webhook
            return signed_dingtalk_url(cfg.dingtalk_webhook, cfg.dingtalk_secret, round(self._clock() * 1000))

        return self._deliver("dingtalk", cfg.dingtalk_webhook, url, body, _judge_dingtalk, [cfg.dingtalk_secret])

    def _deliver_webhook(self, n: Notification) -> Awaitable[DeliveryResult]:
        sent_at = datetime.fromtimestamp(self._clock(), tz=timezone.utc).astimezone().isoformat()
        body = {
            "event": n.kind,
            "title": n.title,
            "text": n.text,
            "schedule": n.schedule,
            "size_bytes": n.size_bytes,
            "files": n.files,
            "duration_s": n.duration_s,
            "cartridge": n.cartridge,
            "error": n.error,
            "action": n.action,
            "sent_at": sent_at,
        }
        url = self.config.webhook_url
        return self._deliver("webhook", url, lambda: url, body, _judge_webhook)

    async def _deliver(
        self,
        channel: Literal["dingtalk", "webhook"],
        base_url: str,
        make_url: Callable[[], str],
        body: Mapping[str, object],
        judge: Callable[[httpx.Response], _Attempt],
        secrets: Iterable[str] = (),
    ) -> DeliveryResult:
        """POST with retries; every attempt is cut off at ``timeout_s`` whatever httpx does."""
        cfg = self.config
        shown = redact_url(base_url)
        verdict = _Attempt(False, "not attempted")
        attempt = 0
        for attempt in range(1, cfg.retries + 1):
            url = make_url()
            secrets = {*secrets, *_secrets_in(url)}
            try:
                async with asyncio.timeout(cfg.timeout_s):
                    verdict = judge(await self._http().post(url, json=body))
            except (TimeoutError, httpx.TimeoutException):
                verdict = _Attempt(False, f"no answer within {cfg.timeout_s:g}s", retry=True)
            except httpx.TransportError as exc:
                verdict = _Attempt(False, f"{type(exc).__name__}: {exc}", retry=True)
            except Exception as exc:  # a notification must never break the run that sends it
                verdict = _Attempt(False, f"{type(exc).__name__}: {exc}")
            if verdict.ok or not verdict.retry or attempt == cfg.retries:
                break
            delay = cfg.backoff_s * 2 ** (attempt - 1)
            log.debug("%s notification to %s failed (%s); retrying in %gs",
                      channel, shown, _scrub(verdict.detail, secrets), delay)
            await self._sleep(delay)
        detail = _scrub(verdict.detail, secrets)
        if not verdict.ok:
            log.warning("%s notification to %s failed after %d attempt(s): %s", channel, shown, attempt, detail)
        return DeliveryResult(channel, verdict.ok, attempt, detail, verdict.status_code)
