"""New / edit schedule: one modal form with live validation and a preview.

The form parses what is typed with the engine's own schedule syntax as you
type (so the message is the engine's), shows the next five firings, and the
seeds' advice for tape. Saving goes through `Control.add` / `Control.edit`;
when the engine refuses, the reason is shown and the form stays open with
everything as typed.
"""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from ...engine.control import ADVICE, LEVELS, Saved
from ...engine.errors import UserError
from ...engine.schedule import ScheduleError
from ...engine.store.models import ScheduleRow, TemplateRow
from ..context import tapp
from ..fmt import when

#: The kinds the form offers, with an example of the text each takes.
KIND_EXAMPLES = {
    "daily": "02:30",
    "weekly": "sun 03:00  ·  mon,thu 22:00  ·  mon-fri 22:00",
    "monthly": "1 01:00  (day of month, time)",
    "yearly": "12-31 23:00",
    "every": "30m  ·  6h  ·  2d",
    "once": "2026-12-01 10:00",
    "cron": "0 3 * * 0",
}
TAPE_ADVICE = "For tape: a monthly full and a weekly differential."
NO_TEMPLATE = "(none)"


def split_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def template_label(t: TemplateRow) -> str:
    """'nightly: full of /data, /home' -- what the picker offers."""
    sources = ", ".join(t.config.get("sources", []))
    return f"{t.name}: {t.config.get('level', 'full')}" + (f" of {sources}" if sources else "")


class TemplateName(ModalScreen[str | None]):
    """The name to save the form's backup settings under (an existing one is replaced)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="template_name.cancel")]

    def __init__(self, name: str) -> None:
        super().__init__()
        self.initial = name

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Save as template", id="dialog-title")
            yield Input(self.initial, id="template-name", placeholder="template name, e.g. nightly", compact=True)
            yield Static("A template of that name is replaced; the schedules using it follow.", markup=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ScheduleForm(ModalScreen[Saved | None]):
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="form.save", tooltip="Save the schedule"),
        Binding("ctrl+t", "save_template", "Save as template", id="form.save_template",
                tooltip="Save level, sources and excludes as a template"),
        Binding("escape", "cancel", "Cancel", id="form.cancel", tooltip="Close the form without saving"),
    ]

    def __init__(self, row: ScheduleRow | None) -> None:
        super().__init__()
        self.row = row
        self.templates: dict[str, TemplateRow] = {}

    def compose(self) -> ComposeResult:
        row = self.row
        kind, text = tapp(self).service.when_of(row) if row else ("weekly", "")
        cfg = row.action_config if row else {}
        with VerticalScroll(id="dialog", classes="form"):
            yield Label(f"Edit schedule {row.name!r}" if row else "New schedule", id="dialog-title")
            with Grid(id="form-grid"):
                yield Label("Name")
                yield Input(row.name if row else "", id="name", placeholder="e.g. weekly-diff", compact=True)
                yield Label("Repeats")
                yield Select([(k, k) for k in KIND_EXAMPLES], value=kind, id="kind", allow_blank=False,
                             compact=True)
                yield Label("When")
                yield Input(text, id="when", placeholder=KIND_EXAMPLES[kind], compact=True)
                yield Label("Action")
                yield Select([(a, a) for a in tapp(self).service.actions()], value=row.action if row else "backup",
                             id="action", allow_blank=False, compact=True)
                yield Label("Level", classes="backup-only")
                yield Select([(lv, lv) for lv in LEVELS], value=cfg.get("level", "full"), id="level",
                             allow_blank=False, compact=True, classes="backup-only")
                yield Label("Sources", classes="backup-only")
                yield Input(", ".join(cfg.get("sources", [])), id="sources", compact=True,
                            placeholder="folders, comma-separated", classes="backup-only")
                yield Label("Exclude", classes="backup-only")
                yield Input(", ".join(cfg.get("excludes", [])), id="excludes", compact=True,
                            placeholder="globs, e.g. *.tmp, cache/*", classes="backup-only")
                yield Label("Template", classes="backup-only")
                yield Select([(NO_TEMPLATE, NO_TEMPLATE)], value=NO_TEMPLATE, id="template",
                             allow_blank=False, compact=True, classes="backup-only")
            yield Static("", id="form-error", markup=False)
            yield Static("", id="form-preview", markup=False)
            yield Static(TAPE_ADVICE, id="form-advice", markup=False)
            with Horizontal(id="dialog-buttons"):
                yield Button("Save (ctrl+s)", id="save", variant="primary")
                yield Button("As template (ctrl+t)", id="save-template", classes="backup-only")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.load_templates()
        self._on_action()
        self._on_when()
        self.query_one("#name" if self.row is None else "#when", Input).focus()

    @work(group="form.templates", exit_on_error=False)
    async def load_templates(self, chosen: str | None = None) -> None:
        """The picker lists every template with what it holds; `chosen` (else the
        schedule's own template) is picked."""
        templates = await tapp(self).service.templates()
        select = self.query_one("#template", Select)
        select.set_options([(NO_TEMPLATE, NO_TEMPLATE)] + [(template_label(t), t.name) for t in templates])
        self.templates = {t.name: t for t in templates}
        if chosen is None and self.row is not None and self.row.template_id is not None:
            chosen = next((t.name for t in templates if t.id == self.row.template_id), None)
        if chosen is not None:
            select.value = chosen

    # -- live feedback --------------------------------------------------------------------
    @on(Select.Changed, "#kind")
    def _on_kind(self, event: Select.Changed) -> None:
        self.query_one("#when", Input).placeholder = KIND_EXAMPLES[str(event.value)]
        self._on_when()

    @on(Input.Changed)
    @on(Select.Changed, "#action, #level, #template")
    def _on_when(self) -> None:
        """The line under the fields, after any edit: what the When field says (a
        refused save's reason goes once the operator changes anything)."""
        kind = str(self.query_one("#kind", Select).value)
        text = self.query_one("#when", Input).value
        error = self.query_one("#form-error", Static)
        preview = self.query_one("#form-preview", Static)
        if not text.strip():
            error.set_class(False, "-error")
            error.update(f"When: {KIND_EXAMPLES[kind]}")
            preview.update("")
            return
        try:
            check = tapp(self).service.check_when(kind, text)
        except ScheduleError as e:
            error.update(f"✗ {e}")
            error.set_class(True, "-error")
            preview.update("")
            return
        error.set_class(False, "-error")
        error.update("\n".join(f"! {n}" for n in check.notes) if check.notes else f"✓ {check.rule}")
        times = [when(t) for t in check.times]
        preview.update(firings_text(times, preview.content_region.width or self.app.size.width - 8))

    @on(Select.Changed, "#action")
    def _on_action(self) -> None:
        backup = self.query_one("#action", Select).value == "backup"
        for widget in self.query(".backup-only"):
            widget.display = backup
        self._on_level()

    @on(Select.Changed, "#level")
    def _on_level(self) -> None:
        advice = self.query_one("#form-advice", Static)
        warn = self.query_one("#action", Select).value == "backup" and self.query_one("#level", Select).value == "incremental"
        advice.update(f"! {ADVICE}" if warn else TAPE_ADVICE)
        advice.set_class(warn, "-warning")

    # -- save / cancel --------------------------------------------------------------------
    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        elif event.button.id == "save-template":
            self.action_save_template()
        else:
            self.action_cancel()

    @on(Select.Changed, "#template")
    def _on_template(self) -> None:
        """Empty fields take the template's values: say which."""
        template = self.templates.get(str(self.query_one("#template", Select).value))
        sources = ", ".join(template.config.get("sources", [])) if template else ""
        self.query_one("#sources", Input).placeholder = (
            f"from {template.name}: {sources}" if template and sources else "folders, comma-separated")

    @work(group="form.save_template", exit_on_error=False)
    async def action_save_template(self) -> None:
        """The form's backup settings (level, sources, excludes) as a template of the
        name asked for; the picker then chooses it."""
        if self.query_one("#action", Select).value != "backup":
            self._refused("only backup schedules use templates")
            return
        picked = str(self.query_one("#template", Select).value)
        name = await self.app.push_screen_wait(TemplateName(picked if picked != NO_TEMPLATE else ""))
        if not name:
            return
        config = {"level": str(self.query_one("#level", Select).value),
                  "sources": split_list(self.query_one("#sources", Input).value),
                  "excludes": split_list(self.query_one("#excludes", Input).value)}
        try:
            saved = await tapp(self).service.save_template(name, {k: v for k, v in config.items() if v})
        except UserError as e:
            self._refused(f"template not saved: {e}")
            return
        for note in saved.warnings:
            self.notify(note, title=name, severity="warning", timeout=10)
        self.notify(f"saved template {name!r}; this schedule uses it")
        self.load_templates(chosen=name)

    def _refused(self, message: str) -> None:
        error = self.query_one("#form-error", Static)
        error.update(f"✗ {message}")
        error.set_class(True, "-error")
        self.notify(message, severity="error", timeout=8)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _values(self) -> dict:
        def value(selector: str) -> str:
            widget = self.query_one(selector)
            return str(widget.value).strip()  # type: ignore[attr-defined]

        action = value("#action")
        settings: dict = {}
        template = value("#template")
        if action == "backup":
            settings["level"] = value("#level")
            sources = split_list(value("#sources"))
            if sources or template == NO_TEMPLATE:
                settings["sources"] = sources
            excludes = split_list(value("#excludes"))
            settings["excludes"] = excludes or None
        return {
            "name": value("#name"), "kind": value("#kind"), "when": value("#when"), "action": action,
            "settings": settings, "template": None if template == NO_TEMPLATE else template,
        }

    @work(exclusive=True, group="form.save", exit_on_error=False)
    async def action_save(self) -> None:
        v = self._values()
        service = tapp(self).service
        try:
            if self.row is None:
                saved = await service.add(
                    v["name"], kind=v["kind"], when=v["when"], action=v["action"],
                    action_config={k: x for k, x in v["settings"].items() if x is not None},
                    template=v["template"],
                )
            else:
                old_kind, old_when = service.when_of(self.row)
                timing = {} if (v["kind"], v["when"]) == (old_kind, old_when) else {"kind": v["kind"], "when": v["when"]}
                saved = await service.edit(
                    self.row.name, **timing, action=v["action"], settings=v["settings"],
                    template=v["template"] or "", rename=v["name"] if v["name"] != self.row.name else None,
                )
        except UserError as e:
            self._refused(f"not saved: {e}")
            return
        name = saved.schedule.name if saved.schedule else v["name"]
        for note in saved.warnings:
            self.notify(note, title=name, severity="warning", timeout=10)
        self.notify(f"saved schedule {name!r}")
        self.dismiss(saved)


def firings_text(times: list[str], width: int) -> str:
    """'Next: 2027-03-01 03:00  2027-04-01 03:00  …', as many to a line as `width`
    holds (a line breaks between firings, never inside a date and time), the rest
    lined up under the first."""
    if not times:
        return "Next: never (it is in the past)"
    per_line = max(1, (width - len("Next: ") + 2) // (len(times[0]) + 2))
    lines = ["  ".join(times[i:i + per_line]) for i in range(0, len(times), per_line)]
    return "Next: " + "\n      ".join(lines)
