"""Command palette (Ctrl+P): one command per action of the screen in front, from its bindings."""

from __future__ import annotations

from functools import partial

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider


class ActionCommands(Provider):
    def _commands(self) -> list[tuple[str, str]]:
        seen: set[str] = set()
        out = []
        for binding in [*self.screen.BINDINGS, *self.app.BINDINGS]:
            if isinstance(binding, Binding) and binding.description and \
                    binding.action not in seen and binding.action != "command_palette":
                seen.add(binding.action)
                out.append((binding.description, binding.action))
        return out

    async def _run(self, action: str) -> None:
        target = self.app if action in {"help", "quit"} else self.screen
        await target.run_action(action)

    async def discover(self) -> Hits:
        for title, action in self._commands():
            yield DiscoveryHit(title, partial(self._run, action), help=f"action: {action}")

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, action in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), partial(self._run, action),
                          help=f"action: {action}")
