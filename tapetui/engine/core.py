"""The engine in one object: home, config, catalog store, bus and tape driver.

The console, the daemon and the CLI each open one `Engine` and hand it to the
parts they run (scheduler, handlers); tests build one on a temporary home.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from . import config as config_mod
from . import logsetup, timeutil
from .bus import Bus
from .config import Config
from .paths import Home
from .store import Store, open_store
from .store.cartridges import Cartridges
from .store.catalog import Catalog
from .store.sets import Sets
from .store.states import States
from .store.templates import Templates
from .tape.base import TapeDriver
from .tape.factory import make_driver

log = logging.getLogger("tapetui.engine")


@dataclass
class Engine:
    home: Home
    config: Config
    store: Store
    bus: Bus
    driver: TapeDriver
    clock: Callable[[], datetime] = timeutil.now
    cartridges: Cartridges = field(init=False)
    sets: Sets = field(init=False)
    catalog: Catalog = field(init=False)
    states: States = field(init=False)
    templates: Templates = field(init=False)

    def __post_init__(self) -> None:
        self.cartridges = Cartridges(self.store)
        self.sets = Sets(self.store)
        self.catalog = Catalog(self.store)
        self.states = States(self.store)
        self.templates = Templates(self.store)

    @classmethod
    async def open(
        cls,
        home: Home,
        *,
        config: Config | None = None,
        clock: Callable[[], datetime] | None = None,
        debug: bool = False,
        driver: TapeDriver | None = None,
    ) -> Engine:
        home.ensure()
        config_mod.write_initial(home.config_file)
        cfg = config or config_mod.load(home.config_file)
        logsetup.setup(home.log_file, debug=debug)
        store = await open_store(home.db_path)
        engine = cls(
            home=home,
            config=cfg,
            store=store,
            bus=Bus(),
            driver=driver or make_driver(cfg, home),
            clock=clock or timeutil.now,
        )
        log.info("engine opened on %s (driver %s)", home.data_dir, engine.driver.name)
        return engine

    async def close(self) -> None:
        try:
            await self.driver.close()
        finally:
            self.bus.close()
            await self.store.close()
