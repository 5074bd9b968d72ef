"""Command palette: every screen, and every screen's actions, from any screen, by name."""

from __future__ import annotations

from functools import partial
from typing import Iterator

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider

from .context import tapp
from .keys import SCREENS


class ScreenCommands(Provider):
    """'Go to Runs', then each screen's own actions ('Schedules: New', 'Tapes: Format'...):
    the current screen's first; another screen's action switches to it and runs there,
    on what is selected there."""

    def _commands(self) -> Iterator[tuple[str, str, str, str]]:
        """(name, screen mode, action, help)."""
        from .app import screen_classes

        for mode, (key, title) in SCREENS.items():
            yield f"Go to {title}", mode, "", f"key {key}"
        current = tapp(self.screen).current_mode
        modes = sorted(SCREENS, key=lambda m: m != current)  # stable: the current one first
        classes = screen_classes()
        for mode in modes:
            title = SCREENS[mode][1]
            for binding in classes[mode].BINDINGS:
                if isinstance(binding, Binding) and binding.description and not binding.action.startswith("app."):
                    where = "" if mode == current else f", on {title}"
                    yield (f"{title}: {binding.description}", mode, binding.action,
                           f"key {binding.key_display or binding.key}{where}")

    async def _run(self, mode: str, action: str) -> None:
        app = tapp(self.screen)
        await app.action_show(mode)
        if action:
            await app.screen.run_action(action)

    async def discover(self) -> Hits:
        for name, mode, action, help_text in self._commands():
            yield DiscoveryHit(name, partial(self._run, mode, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, mode, action, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), partial(self._run, mode, action), help=help_text)
