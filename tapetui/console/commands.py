"""Command palette: every screen and every action of the current screen, by name."""

from __future__ import annotations

from functools import partial
from typing import Callable, Iterator

from textual.command import DiscoveryHit, Hit, Hits, Provider

from .keys import SCREENS


class ScreenCommands(Provider):
    """'Go to Runs', and the current screen's own actions ('New schedule', ...)."""

    def _commands(self) -> Iterator[tuple[str, Callable, str]]:
        app = self.app
        for mode, (key, title) in SCREENS.items():
            yield f"Go to {title}", partial(app.run_action, f"show('{mode}')"), f"key {key}"
        screen = self.screen
        for binding in getattr(screen, "BINDINGS", []):
            action, description = binding.action, binding.description
            if description and not action.startswith("app.show"):
                yield description, partial(screen.run_action, action), f"key {binding.key_display or binding.key}"

    async def discover(self) -> Hits:
        for name, run, help_text in self._commands():
            yield DiscoveryHit(name, run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, run, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), run, help=help_text)
