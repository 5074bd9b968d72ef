"""A lazy tree of one backup set: folders load when opened, a page at a time.

Each folder gets a placeholder child until it is expanded; expanding starts a
worker that asks the lister for the first page of entries. A folder with more
than `PAGE` entries ends in a "more…" node that loads the next page when
selected, so a folder of 100k files opens at once and never blocks the screen.
Space marks files and folders for a restore. Each entry shows its modification
time, and a symlink its target instead of a size; `entry_detail` says the rest
(mode, set, cartridge, hash) for the highlighted entry.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode
from textual.worker import Worker

from ...engine.control import PAGE, Page
from ...engine.control.text import shown
from ...engine.store.models import Entry, special_kind
from ..errors import report_worker_error
from ..fmt import human_bytes, when

#: (folder, after-name, limit) -> one page of the entries directly inside folder, by name.
Lister = Callable[[str, str, int], Awaitable[Page]]


@dataclass
class Item:
    path: str
    kind: str  # root | dir | file | symlink | more | placeholder
    entry: Entry | None = None  # None for the root, the sources and the helper nodes
    loaded: bool = False
    after: str = ""  # for 'more': the last name already shown


def mtime(e: Entry) -> str:
    return when(datetime.fromtimestamp(e.mtime_ns / 1e9, timezone.utc)) if e.mtime_ns else "-"


#: What a tree item can be besides its folder's "more…" pager.
ENTRY_KINDS = ("dir", "file", "symlink", "hardlink", "special")


def what_it_is(e: Entry) -> str:
    """A symlink's target, a hard link's other name, a special file's kind, a file's size."""
    if e.kind == "symlink":
        return f"→ {shown(e.link_target or '')}"
    if e.kind == "hardlink":
        return f"{human_bytes(e.size)}, same file as {shown(e.link_target or '')}"
    if e.kind == "special":
        return special_kind(e.mode)
    return human_bytes(e.size) if e.kind == "file" else "folder"


def entry_detail(e: Entry) -> str:
    """One line on the highlighted entry: path, size or target, time, mode, set, cartridge, hash."""
    parts = [shown(e.path), what_it_is(e), mtime(e), stat.filemode(e.mode) if e.mode else "-", f"set #{e.set_id}"]
    if e.cartridge:
        parts.append(e.cartridge)
    if e.checksum:
        digest = e.checksum.hex() if isinstance(e.checksum, bytes) else str(e.checksum)
        parts.append(f"hash {digest[:12]}")
    return " · ".join(parts)


class CatalogTree(Tree[Item]):
    BINDINGS = [
        Binding("space", "mark", "Mark", key_display="␣", id="catalog.mark",
                tooltip="Mark or unmark the file or folder for a restore"),
        Binding("right", "open_folder", "Open", key_display="→", id="catalog.open_folder", show=False,
                tooltip="Open the folder (as Enter does); in an open one, go to its first entry"),
        Binding("left", "close_folder", "Close", key_display="←", id="catalog.close_folder", show=False,
                tooltip="Close the folder; in a closed one, go to the folder above"),
    ]

    class PageLoaded(Message):
        def __init__(self, node: TreeNode[Item], entries: list[Entry], more: bool, last: str) -> None:
            super().__init__()
            self.node = node
            self.entries = entries
            self.more = more
            self.last = last

    class MarksChanged(Message):
        def __init__(self, count: int) -> None:
            super().__init__()
            self.count = count

    def __init__(self, title: str, sources: list[str], lister: Lister, **kwargs: Any) -> None:
        super().__init__(title, Item("", "root", loaded=True), **kwargs)
        self.lister = lister
        self.sources = sources
        self.marked: set[str] = set()
        self.guide_depth = 3

    def on_mount(self) -> None:
        for source in self.sources:
            item = Item(source, "dir")
            node = self.root.add(self._label(item), item)
            node.add_leaf("loading…", Item("", "placeholder"))
        self.root.expand()
        if len(self.sources) == 1:
            self.root.children[0].expand()

    # -- loading ------------------------------------------------------------------------
    def on_tree_node_expanded(self, event: Tree.NodeExpanded[Item]) -> None:
        item = event.node.data
        if item is not None and item.kind == "dir" and not item.loaded:
            item.loaded = True
            self._load(event.node, item.path, "")

    def on_tree_node_selected(self, event: Tree.NodeSelected[Item]) -> None:
        item = event.node.data
        if item is not None and item.kind == "more" and event.node.parent is not None:
            parent = event.node.parent
            assert parent.data is not None
            event.node.set_label("loading…")
            item.kind = "placeholder"
            self._load(parent, parent.data.path, item.after)

    @work(group="catalog.tree", name="Open folder", exit_on_error=False)
    async def _load(self, node: TreeNode[Item], folder: str, after: str) -> None:
        page = await self.lister(folder, after, PAGE)
        self.post_message(self.PageLoaded(node, page.entries, page.more, page.last))

    def on_catalog_tree_page_loaded(self, message: PageLoaded) -> None:
        node = message.node
        for child in list(node.children):
            if child.data is not None and child.data.kind in ("placeholder", "more"):
                child.remove()
        for e in message.entries:
            item = Item(e.path, e.kind, e)
            if e.kind == "dir":
                child = node.add(self._label(item), item)
                child.add_leaf("loading…", Item("", "placeholder"))
            else:
                node.add_leaf(self._label(item), item)
        if message.more:
            node.add_leaf("more… (Enter loads the next page)", Item("", "more", after=message.last))
        if not message.entries and not node.children:
            node.add_leaf("(empty)", Item("", "placeholder"))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_worker_error(self, event)

    # -- folders by arrow keys, as in a file manager ----------------------------------------
    def action_open_folder(self) -> None:
        node = self.cursor_node
        if node is None or not node.allow_expand:
            return
        if not node.is_expanded:
            node.expand()
        elif node.children:
            self.move_cursor(node.children[0])

    def action_close_folder(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.allow_expand and node.is_expanded and node.parent is not None:
            node.collapse()
        elif node.parent is not None and node.parent is not self.root:
            self.move_cursor(node.parent)

    # -- marks ----------------------------------------------------------------------------
    def _label(self, item: Item) -> Text:
        name = shown(item.path if item.path in self.sources else item.path.rsplit("/", 1)[-1])
        mark = "[x] " if self._is_marked(item.path) else "[ ] "
        e = item.entry
        if item.kind == "dir":
            return Text.assemble(mark, (name + "/", "bold"), *(("  ", (mtime(e), "dim")) if e else ()))
        assert e is not None
        return Text.assemble(mark, name + "  ", (f"{what_it_is(e)}  {mtime(e)}", "dim"))

    def _is_marked(self, path: str) -> bool:
        return any(path == m or path.startswith(m.rstrip("/") + "/") for m in self.marked)

    def action_mark(self) -> None:
        node = self.cursor_node
        if node is None or node.data is None or node.data.kind in ("more", "placeholder"):
            return
        path = node.data.path
        if path in self.marked:
            self.marked.discard(path)
        elif not self._is_marked(path):
            self.marked = {m for m in self.marked if not m.startswith(path.rstrip("/") + "/")} | {path}
        else:
            self.notify("a folder above it is marked; unmark that first", severity="warning")
            return
        self._relabel(node)
        self.post_message(self.MarksChanged(len(self.marked)))

    def _relabel(self, node: TreeNode[Item]) -> None:
        if node.data is not None and node.data.kind in ENTRY_KINDS and node is not self.root:
            node.set_label(self._label(node.data))
        for child in node.children:
            self._relabel(child)
