"""Start the console on a home (or on a throwaway demo home)."""

from __future__ import annotations

from ..engine.paths import Home


def launch(home: Home, *, demo: bool = False, debug: bool = False) -> int:
    from .app import TapetuiApp

    app = TapetuiApp(home, debug=debug)
    app.run()
    return app.return_code or 0
