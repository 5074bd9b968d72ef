"""Start the console on a home (or on a throwaway demo home)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..engine.paths import Home


def launch(home: Home, *, demo: bool = False, debug: bool = False) -> int:
    from .app import make_app

    if demo:
        return _launch_demo(debug)
    app = make_app(home, debug=debug)
    app.run()
    return app.return_code or 0


def _launch_demo(debug: bool) -> int:
    import asyncio

    from ..engine.demo import seed_demo
    from .app import make_app

    with tempfile.TemporaryDirectory(prefix="tapetui-demo-") as tmp:
        home = Home.single(Path(tmp) / "home")
        print("tapetui: building a demo home (sample files, schedules, backups)…")
        asyncio.run(seed_demo(home, Path(tmp) / "data"))
        app = make_app(home, debug=debug)
        app.run()
        return app.return_code or 0
