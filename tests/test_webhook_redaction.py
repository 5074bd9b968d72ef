"""A webhook is shown as scheme://host/… only (issue 15, item 16).

Slack, Teams and Discord put the token in the URL's path, other services in
query keys of any name; a failed notification logged the path and those keys
(to tapetui.log and the daemon's stderr). Real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import logging
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from test_notify import Server, closed_port, no_sleep, server, success  # noqa: F401 - server is a fixture
from test_reliability_input import cli

from tapetui.engine.notify import Notifier, NotifyConfig
from tapetui.engine.paths import Home

pytestmark = pytest.mark.timeout(60)

SECRET = "Zq7SECRETtokenValue0123"
#: (path and query of a webhook, the secret parts in it)
STYLES = {
    "slack": f"/services/T0A1B2C3D/B0E1F2G3H/{SECRET}",
    "discord": f"/api/webhooks/112233445566778899/{SECRET}",
    "teams": f"/webhookb2/aaaa-bbbb@cccc-dddd/IncomingWebhook/{SECRET}/eeee-ffff",
    "azure code": f"/api/notify?code={SECRET}&clientId=default",
    "apikey": f"/hook?apikey={SECRET}",
    "fragment": f"/hook#{SECRET}",
}


@pytest.mark.parametrize("style", sorted(STYLES))
@pytest.mark.parametrize("fault", ["HTTP 500", "refused", "no answer"])
async def test_a_failing_webhook_is_logged_by_host_only(style: str, fault: str, server: Server,  # noqa: F811
                                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: httpx and httpcore too
    port = closed_port() if fault == "refused" else server.port
    server.script = [(500, {})] if fault == "HTTP 500" else ["hang"]
    cfg = NotifyConfig(webhook_url=f"http://user:{SECRET}@127.0.0.1:{port}{STYLES[style]}", retries=2,
                       timeout_s=0.3)
    async with Notifier(cfg, sleep=no_sleep) as notifier:
        (result,) = await notifier.send(success())
    assert not result.ok
    assert f"webhook notification to http://127.0.0.1:{port}/… failed" in caplog.text
    for shown in (caplog.text, result.detail, repr(cfg)):
        assert SECRET not in shown
        assert STYLES[style].split("?")[0].split("#")[0] not in shown


class Failing(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(503)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_a_failed_notification_of_a_real_run_keeps_the_path_token_out_of_everything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The run's log, tapetui.log (what the daemon copies to stderr), the catalog and
    every CLI output of a backup whose Slack-style webhook failed."""
    http = ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    home = Home.single(tmp_path / "home")
    home.ensure()
    home.config_file.write_text(
        "[notify]\n"
        f'webhook_url = "http://127.0.0.1:{http.server_address[1]}{STYLES["slack"]}"\n'
        "timeout_s = 5\nretries = 2\nbackoff_s = 0\n"
    )
    home.config_file.chmod(0o600)
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("data\n")
    try:
        outputs = []
        for argv in (["backup", "--level", "full", "--source", str(src), "--wait"], ["log", "1"], ["runs"],
                     ["config", "check"], ["--debug", "runs", "--json"]):
            code, out, err = cli(argv, capsys)
            outputs += [out, err]
        text = "\n".join(outputs)
        assert "webhook notification not sent: HTTP 503" in text
        logs = home.log_file.read_text()
        assert f"to http://127.0.0.1:{http.server_address[1]}/… failed after 2 attempt(s)" in logs
        conn = sqlite3.connect(home.db_path)
        dump = "\n".join(conn.iterdump())
        conn.close()
        for where in (text, logs, dump):
            assert SECRET not in where and "B0E1F2G3H" not in where
    finally:
        http.shutdown()
        http.server_close()
