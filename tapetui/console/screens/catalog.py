"""Catalog: backup sets → a lazy tree of a set → marks → restore; search by name.

The sets table comes first; Enter opens the selected set's tree (as of that
set's point in time; a line under it details the highlighted entry), Escape goes back. `/` searches every set by name or glob;
Enter or R on a result offers to restore that file as of its set (a result of a
set that can no longer be restored says so in its State column).
"""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import ContentSwitcher, DataTable, Input, Label, Static, Tree

from ...engine.control import PointInTime, RestoreRequest, verify_summary
from ...engine.events import Event, LogLine, RunStarted
from ...engine.store.models import Entry, SetRow
from ..context import tapp
from ..dialogs.restore import RestoreScreen
from ..fmt import Tail, barcodes, count, human_bytes, short_level, when, when_fit
from ..widgets.catalog_tree import CatalogTree, Item, entry_detail
from ..widgets.log_view import LiveLog
from .base import MainScreen, add_columns, fill_table


class CatalogScreen(MainScreen):
    TITLE = "Catalog"
    BINDINGS = [
        Binding("enter", "open", "Open set", id="catalog.open", show=False,
                tooltip="Open the selected set as a tree of its files"),
        Binding("escape", "back", "Back", id="catalog.back", tooltip="Back to the list of sets"),
        Binding("slash", "search", "Search", key_display="/", id="catalog.search",
                tooltip="Find files in every set by name or glob"),
        Binding("R", "restore", "Restore", key_display="R", id="catalog.restore",
                tooltip="Restore the marked files (or the whole set)"),
        Binding("v", "verify", "Verify", id="catalog.verify",
                tooltip="Re-read the selected set from tape and check every hash"),
        Binding("x", "close_log", "Close log", id="catalog.close_log",
                tooltip="Close the log of the finished restore"),
        Binding("r", "refresh", "Refresh", id="catalog.refresh", show=False, tooltip="Read the list of sets again"),
    ]

    class SetsLoaded(Message):
        def __init__(self, sets: list[SetRow]) -> None:
            super().__init__()
            self.sets = sets

    class Found(Message):
        def __init__(self, pattern: str, entries: list[Entry], sets: dict[int, SetRow]) -> None:
            super().__init__()
            self.pattern = pattern
            self.entries = entries
            self.sets = sets  # the sets the entries belong to

    def body(self) -> ComposeResult:
        with ContentSwitcher(initial="sets-view", id="catalog"):
            with Vertical(id="sets-view"):
                yield DataTable(id="sets", cursor_type="row", zebra_stripes=True)
                yield Label("Enter opens a set · / searches every set", classes="hint")
            yield Vertical(id="tree-view")
            with Vertical(id="search-view"):
                yield Input(placeholder="name or glob, e.g. *.pdf or /data/src/*.c", id="search-input")
                yield DataTable(id="found", cursor_type="row", zebra_stripes=True)
                yield Label("Enter or R restores the selected file as of its set · Esc back", classes="hint")
        yield LiveLog(id="restore-log", title="restore")
        self.sets: dict[int, SetRow] = {}
        self.found: list[tuple[Entry, SetRow]] = []
        self.open_set: SetRow | None = None
        self.pit: PointInTime | None = None
        self.restoring = False
        self.restore_run: int | None = None  # the run of the restore started here
        self.verifying: set[int] = set()  # sets whose verify was started here

    def on_mount(self) -> None:
        # State holds any set status whole ("overwritten"). At 80 columns: the finish
        # without its year. At 60: no size nor verify, files counted short ('12k').
        add_columns(self.query_one("#sets", DataTable), flex="Cartridges", Set=4, Level=5, Finished=(16, 11),
                    Files=(7, 7, 5), Size=(8, 8, 0), State=11, Cartridges=10, Verify=(6, 6, 0))
        add_columns(self.query_one("#found", DataTable), flex="Path", Path=(30, 30, 24), Set=5, Size=9,
                    Cartridge=10, State=(11, 0))
        tapp(self).live.runs.subscribe(self, self._on_run)
        tapp(self).live.log_lines.subscribe(self, self._on_lines)
        self.query_one("#restore-log").display = False
        self.action_refresh()

    @property
    def view(self) -> str:
        return self.query_one(ContentSwitcher).current or "sets-view"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "back":
            return self.view != "sets-view"
        if action in ("open", "verify"):
            return self.view == "sets-view"
        if action == "close_log":
            return self.query_one("#restore-log").display and not self.restoring
        return True

    # -- sets -----------------------------------------------------------------------------
    @work(exclusive=True, group="catalog.sets", exit_on_error=False)
    async def action_refresh(self) -> None:
        self.post_message(self.SetsLoaded(await tapp(self).service.sets()))

    def on_catalog_screen_sets_loaded(self, message: SetsLoaded) -> None:
        self.sets = {s.id: s for s in message.sets}
        cells = [
            (f"#{s.id}", short_level(s.level), when_fit(s.finished_at or s.started_at), count(s.files),
             human_bytes(s.bytes), s.status, barcodes(s.cartridges),
             "-" if s.verify_ok is None else ("ok" if s.verify_ok else "FAILED"))
            for s in message.sets
        ]
        fill_table(self.query_one("#sets", DataTable), cells, [str(s.id) for s in message.sets])

    def selected_set(self) -> SetRow | None:
        table = self.query_one("#sets", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.sets.get(int(key)) if key is not None else None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "sets":
            self.action_open()
        elif event.data_table.id == "found":
            self.action_restore()

    # -- a set's tree -------------------------------------------------------------------
    def action_open(self) -> None:
        s = self.selected_set()
        if s is not None and self.view == "sets-view":
            self.open_tree(s)

    @work(exclusive=True, group="catalog.open", name="Open set", exit_on_error=False)
    async def open_tree(self, s: SetRow) -> None:
        view = self.query_one("#tree-view", Vertical)
        await view.remove_children()
        self.pit = await tapp(self).service.point_in_time(s.id)
        tree = CatalogTree(f"set #{s.id} {s.level} {when(s.finished_at or s.started_at)} "
                           f"(as of then: sets {', '.join(f'#{i}' for i in self.pit.chain)})",
                           self.pit.sources, self.pit.page, id="tree")
        self.open_set = s
        await view.mount(tree)
        await view.mount(Static("", id="entry-detail", markup=False))
        await view.mount(Label(marks_hint(0), id="marks-hint", classes="hint"))
        self.query_one(ContentSwitcher).current = "tree-view"
        tree.focus()
        self.refresh_bindings()

    def on_catalog_tree_marks_changed(self, message: CatalogTree.MarksChanged) -> None:
        self.query_one("#marks-hint", Label).update(marks_hint(message.count))

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[Item]) -> None:
        item = event.node.data
        detail = entry_detail(item.entry) if item is not None and item.entry is not None else ""
        for line in self.query("#entry-detail").results(Static):
            line.update(detail)

    def action_back(self) -> None:
        self.query_one(ContentSwitcher).current = "sets-view"
        self.query_one("#sets", DataTable).focus()
        self.refresh_bindings()

    # -- search ----------------------------------------------------------------------------
    def action_search(self) -> None:
        self.query_one(ContentSwitcher).current = "search-view"
        self.query_one("#search-input", Input).focus()
        self.refresh_bindings()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "search-input" and event.value.strip():
            self._search(event.value.strip())

    @work(exclusive=True, group="catalog.search", exit_on_error=False)
    async def _search(self, pattern: str) -> None:
        control = tapp(self).service
        entries = await control.find(pattern, limit=1000)
        sets = {s.id: s for s in await control.sets()}
        self.post_message(self.Found(pattern, entries, sets))

    def on_catalog_screen_found(self, message: Found) -> None:
        self.found = [(e, message.sets[e.set_id]) for e in message.entries]
        cells = [(Tail(e.path), f"#{e.set_id}", human_bytes(e.size), e.cartridge or "-", gone(s))
                 for e, s in self.found]
        table = self.query_one("#found", DataTable)
        fill_table(table, cells, [str(i) for i in range(len(cells))], cursor_key="0")  # a new search: from the top
        self.notify(f"{len(message.entries)} match(es) for {message.pattern}"
                    + (" (first 1000)" if len(message.entries) == 1000 else ""))
        if message.entries:
            table.focus()

    # -- restore ---------------------------------------------------------------------------
    def action_restore(self) -> None:
        if self.view == "search-view":
            table = self.query_one("#found", DataTable)
            if table.row_count:
                entry, s = self.found[table.cursor_row]
                self._restore(s, [entry.path])
            return
        chosen = self.open_set if self.view == "tree-view" else self.selected_set()
        if chosen is None:
            return
        marked = sorted(self.query_one(CatalogTree).marked) if self.view == "tree-view" else []
        self._restore(chosen, marked)

    @work(exclusive=True, group="catalog.restore", exit_on_error=False)
    async def _restore(self, s: SetRow, paths: list[str]) -> None:
        pit = self.pit if self.pit is not None and self.pit.set.id == s.id \
            else await tapp(self).service.point_in_time(s.id)
        summary = await pit.summary(paths)
        choice = await self.app.push_screen_wait(RestoreScreen(s, paths, summary))
        if choice is None:
            return
        out = self.query_one("#restore-log", LiveLog)
        out.display = True
        out.replace([], title=f"restore of set #{s.id}")
        out.border_subtitle = ""
        self.restoring, self.restore_run = True, None
        try:
            request = RestoreRequest(target=choice.target, set_id=s.id, paths=paths, conflict=choice.conflict)
            result = await tapp(self).service.restore(request)  # a run of its own, by the daemon if one runs
        finally:
            self.restoring = False
            out.border_subtitle = "x closes"
            self.refresh_bindings()
        self.notify(result.message, title=f"Restore {result.status}",
                    severity="information" if result.status == "success" else "error", timeout=10)

    def action_close_log(self) -> None:
        if not self.restoring:
            self.query_one("#restore-log").display = False
            self.refresh_bindings()

    # -- verify ----------------------------------------------------------------------------
    @work(group="catalog.verify", exit_on_error=False)
    async def action_verify(self) -> None:
        """A run of its own (action 'verify', by the daemon if one runs): Runs shows its log."""
        s = self.selected_set()
        if s is None or self.view != "sets-view":
            return
        self.verifying.add(s.id)
        self.notify(f"verify of set #{s.id} started (2 shows its log)")
        try:
            result = await tapp(self).service.verify(s.id)
        finally:
            self.verifying.discard(s.id)
        self.notify(verify_summary(result), title="Verify " + ("ok" if result.ok else "FAILED"),
                    severity="information" if result.ok else "error", timeout=10)

    def _on_run(self, event: Event) -> None:
        if (isinstance(event, RunStarted) and event.action == "restore" and self.restoring
                and self.restore_run is None):
            self.restore_run = event.run_id
        if isinstance(event, RunStarted) and event.action == "verify" and self.verifying:
            tapp(self).run_to_show = event.run_id  # 2 opens Runs on it
        self.action_refresh()

    def _on_lines(self, batch: list[LogLine]) -> None:
        if self.restore_run is not None:
            lines = [x.text for x in batch if x.run_id == self.restore_run]
            if lines:
                self.query_one("#restore-log", LiveLog).add_lines(lines)


def marks_hint(marked: int) -> str:
    what = f"{marked} marked · R restores them" if marked else "R restores the marked (or the whole set)"
    return f"Space marks · → opens · {what} · Esc back"


def gone(s: SetRow) -> str:
    """A search result's State: empty for a complete set, else what it is
    (overwritten, expired: gone from tape; incomplete; running)."""
    return "" if s.complete else s.status
