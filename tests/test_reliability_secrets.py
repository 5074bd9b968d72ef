"""Secrets: a config holding webhook secrets must be 0600 (refused with a clear
line otherwise), and after a real run that notified a real 127.0.0.1 server the
secrets appear nowhere -- not in the log file, the database, or any CLI output."""

from __future__ import annotations

import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from test_reliability_input import assert_clean_error, cli

from tapetui.engine.paths import Home

SECRETS = ("WEBHOOKTOKEN0123456789", "DINGACCESS9876543210", "SECsigning5555aaaa")


class Hook(BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Hook.seen.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"errcode": 0, "errmsg": "ok"}')

    def log_message(self, *args: Any) -> None:
        pass


def test_secrets_are_guarded_and_never_shown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Hook.seen = []
    base = f"http://127.0.0.1:{server.server_address[1]}"
    home = Home.single(tmp_path / "home")
    home.ensure()
    home.config_file.write_text(
        "[notify]\n"
        f'webhook_url = "{base}/hook?token={SECRETS[0]}"\n'
        f'dingtalk_webhook = "{base}/robot/send?access_token={SECRETS[1]}"\n'
        f'dingtalk_secret = "{SECRETS[2]}"\n'
        "timeout_s = 5\nretries = 1\n"
    )
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f.txt").write_text("data\n")
    try:
        home.config_file.chmod(0o644)
        code, _, err = cli(["schedule", "list"], capsys)
        assert_clean_error(code, err)
        assert "readable by others" in err and "chmod 600" in err
        assert not any(s in err for s in SECRETS)

        home.config_file.chmod(0o600)
        outputs = []
        for argv in (["schedule", "add", "n", "--daily", "02:00", "--action", "backup", "--level", "full",
                      "--source", str(src)],
                     ["schedule", "run", "n", "--wait"]):
            code, out, err = cli(argv, capsys)
            assert code == 0, err
            outputs += [out, err]
        assert len(Hook.seen) == 2, Hook.seen  # both channels really were called
        for argv in (["runs", "--json"], ["runs"], ["log", "1"], ["schedule", "show", "n", "--json"],
                     ["schedule", "list", "--json"], ["config", "check", "--json"], ["config", "check"],
                     ["paths", "--json"], ["sets", "--json"], ["--debug", "runs", "--json"]):
            code, out, err = cli(argv, capsys)
            assert code == 0, (argv, err)
            outputs += [out, err]
        text = "\n".join(outputs)
        assert "success" in text
        logs = "\n".join(p.read_text(errors="replace") for p in home.log_dir.rglob("*") if p.is_file())
        conn = sqlite3.connect(home.db_path)
        dump = "\n".join(conn.iterdump())
        conn.close()
        for secret in SECRETS:
            assert secret not in text, f"{secret} in CLI output"
            assert secret not in logs, f"{secret} in the log file"
            assert secret not in dump, f"{secret} in the database"
    finally:
        server.shutdown()
        server.server_close()
