"""`RemoteControl`: `Control` with the state-changing operations run by the daemon.

Each of `REMOTE_OPS` is a call over the daemon's socket with the signature and
result type of `LocalControl`'s method of that name; the reads are this
process's, straight from the catalog (`ControlBase`). With `forward_events` the
daemon's events are published on the local engine's bus, so whatever listens
there (a console screen, a CLI printer) sees the daemon's runs live as if they
ran here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from ..backup.catalog_copy import ImportResult
from ..backup.restore import RestoreRequest
from ..backup.verify import VerifyResult
from ..daemon import protocol
from ..daemon.client import DaemonClient, NoDaemon
from ..store.models import RunRow, ScheduleRow
from ..tape.base import OpResult
from .api import ControlStatus, FormatRisk, Formatted, Restored, Saved, SavedTemplate
from .base import ControlBase
from .local import LocalControl

if TYPE_CHECKING:
    from ..core import Engine


class RemoteControl(ControlBase):
    """`Control` on the daemon that serves this home."""

    remote = True

    def __init__(self, engine: Engine, client: DaemonClient, *, forward_events: bool = True) -> None:
        super().__init__(engine)
        self.client = client
        if forward_events:
            client.add_listener(engine.bus.publish)

    @property
    def daemon_pid(self) -> int | None:
        return self.client.pid

    async def _call(self, op: str, **args: Any) -> Any:
        """`op` run by the daemon; its result rebuilt as the type `LocalControl.<op>` returns."""
        returns = protocol.hints(getattr(LocalControl, op)).get("return", Any)
        return protocol.from_wire(returns, await self.client.call(op, **args), f"{op} result")

    # -- schedules ---------------------------------------------------------------
    async def add(
        self, name: str, *, kind: str, when: str, action: str, action_config: dict[str, Any] | None = None,
        template: str | None = None, enabled: bool = True, missed_policy: str | None = None,
    ) -> Saved:
        return await self._call("add", name=name, kind=kind, when=when, action=action, action_config=action_config,
                                template=template, enabled=enabled, missed_policy=missed_policy)

    async def edit(
        self, name: str, *, kind: str | None = None, when: str | None = None, action: str | None = None,
        settings: dict[str, Any] | None = None, template: str | None = None, missed_policy: str | None = None,
        rename: str | None = None,
    ) -> Saved:
        return await self._call("edit", name=name, kind=kind, when=when, action=action, settings=settings,
                                template=template, missed_policy=missed_policy, rename=rename)

    async def set_enabled(self, name: str, enabled: bool) -> ScheduleRow:
        return await self._call("set_enabled", name=name, enabled=enabled)

    async def delete(self, name: str) -> None:
        await self._call("delete", name=name)

    # -- runs --------------------------------------------------------------------
    async def run_now(self, name: str, *, wait: bool = False, allow_format: str | None = None,
                      skip_month_check: bool = False) -> RunRow:
        return await self._call("run_now", name=name, wait=wait, allow_format=allow_format,
                                skip_month_check=skip_month_check)

    async def stop(self, name: str) -> RunRow | None:
        return await self._call("stop", name=name)

    async def add_once_backup(
        self, *, level: str, sources: list[str], name: str | None = None, excludes: list[str] | None = None,
        includes: list[str] | None = None, cartridge_policy: str | None = None, verify: bool | None = None,
    ) -> ScheduleRow:
        return await self._call("add_once_backup", level=level, sources=sources, name=name, excludes=excludes,
                                includes=includes, cartridge_policy=cartridge_policy, verify=verify)

    async def wait(self, run_id: int) -> RunRow:
        return await self._call("wait", run_id=run_id)

    async def format_risk(self, name: str) -> FormatRisk | None:
        """Asked of the catalog and the drive here: no daemon round trip for a question."""
        return await LocalControl(self.engine).format_risk(name)

    async def month_risk(self, name: str) -> str | None:
        return await LocalControl(self.engine).month_risk(name)

    # -- templates ---------------------------------------------------------------
    async def save_template(self, name: str, config: dict[str, Any]) -> SavedTemplate:
        """Templates are read at run time from the catalog, so saving one needs no daemon."""
        return await LocalControl(self.engine).save_template(name, config)

    async def delete_template(self, name: str) -> None:
        await LocalControl(self.engine).delete_template(name)

    # -- the drive, restores, verifies, imports --------------------------------------
    async def load(self, barcode: str) -> None:
        await self._call("load", barcode=barcode)

    async def unload(self) -> str | None:
        return await self._call("unload")

    async def format(self, label: str | None = None, force: bool = False, barcode: str | None = None) -> Formatted:
        return await self._call("format", label=label, force=force, barcode=barcode)

    async def check(self) -> OpResult:
        return await self._call("check")

    async def restore(self, request: RestoreRequest) -> Restored:
        return await self._call("restore", request=request)

    async def verify(self, set_id: int) -> VerifyResult:
        return await self._call("verify", set_id=set_id)

    async def import_catalog(self) -> ImportResult:
        return await self._call("import_catalog")

    # -- the daemon --------------------------------------------------------------
    async def recover(self) -> list[str]:
        """As `LocalControl.recover`: any process may close what ended ones left open."""
        return await LocalControl(self.engine).recover()

    async def reload(self) -> None:
        await self._call("reload")

    async def status(self) -> ControlStatus:
        return await self._call("status")

    def on_detached(self, callback: Callable[[], object]) -> None:
        self.client.on_close(callback)

    async def close(self, reason: str = "the scheduler was shut down") -> None:
        """Detach; the daemon's runs go on (`reason` is for a control that runs them)."""
        await self.client.close()


async def attach(engine: Engine, *, forward_events: bool = True) -> RemoteControl | None:
    """The daemon serving this home as a `RemoteControl` (subscribed to its events when
    `forward_events`); None when no daemon listens."""
    try:
        client = await DaemonClient.connect(engine.home.socket_path)
    except NoDaemon:
        return None
    control = RemoteControl(engine, client, forward_events=forward_events)
    if forward_events:
        await client.subscribe()
    return control
