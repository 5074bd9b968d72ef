"""Start the console on a home (or on a throwaway demo home)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from ..engine.control import Home


def launch(home: Home, *, demo: bool = False, debug: bool = False, keep_demo: bool = False) -> int:
    from .app import make_app

    if demo:
        return _launch_demo(debug, keep_demo)
    app = make_app(home, debug=debug)
    app.run()
    return app.return_code or 0


def _launch_demo(debug: bool, keep: bool) -> int:
    """The demo lives in a fresh temporary folder, removed on exit unless `keep`.

    Its history ends last night (real time), so nothing is overdue when it opens;
    the simulated drive is throttled so a run started in it can be watched."""
    import asyncio

    from ..engine.demo import seed_demo
    from .app import make_app

    tmp = Path(tempfile.mkdtemp(prefix="tapetui-demo-"))
    try:
        home = Home.single(tmp / "home")
        print("tapetui: building a demo home (sample files, schedules, backups)…")
        asyncio.run(seed_demo(home, tmp / "data", watchable=True))
        app = make_app(home, debug=debug)
        app.run()
        return app.return_code or 0
    finally:
        if keep:
            print(f"tapetui: the demo home is kept in {tmp} (open it again with --home {tmp / 'home'})")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
