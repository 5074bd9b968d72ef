"""The schema as a list of forward migrations; `PRAGMA user_version` = applied count.

Never edit a migration that has shipped: add a new one. Each runs in one
transaction, so an upgrade either happens whole or not at all.

Times are stored as UTC ISO-8601 text (`timeutil.to_db`), which sorts correctly.
Catalog entries split a path into a folder (`dirs`) and a name: listing a folder
of a set is a range scan of the primary key, finding a path across sets uses the
(dir_id, name) index, and both stay small at 10 million rows.
"""

MIGRATIONS: list[str] = [
    # 1: the base schema
    """
    CREATE TABLE cartridges (
        id INTEGER PRIMARY KEY,
        barcode TEXT NOT NULL UNIQUE,
        label TEXT,
        serial TEXT,
        generation TEXT,
        capacity_bytes INTEGER,
        used_bytes INTEGER NOT NULL DEFAULT 0,
        formatted_at TEXT,
        status TEXT NOT NULL DEFAULT 'blank',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX cartridges_label ON cartridges(label);

    CREATE TABLE templates (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        config TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );

    CREATE TABLE schedules (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL,
        config TEXT NOT NULL,
        action TEXT NOT NULL,
        action_config TEXT NOT NULL DEFAULT '{}',
        template_id INTEGER REFERENCES templates(id) ON DELETE RESTRICT,
        enabled INTEGER NOT NULL DEFAULT 1,
        missed_policy TEXT NOT NULL DEFAULT 'run_once',
        status TEXT NOT NULL DEFAULT 'idle',
        last_run TEXT,
        last_success TEXT,
        last_result TEXT,
        next_run TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );

    CREATE TABLE schedule_runs (
        id INTEGER PRIMARY KEY,
        schedule_id INTEGER REFERENCES schedules(id) ON DELETE SET NULL,
        schedule_name TEXT NOT NULL,
        action TEXT NOT NULL,
        trigger TEXT NOT NULL,
        status TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        message TEXT NOT NULL DEFAULT '',
        result TEXT NOT NULL DEFAULT '{}',
        backup_run_id INTEGER,
        set_id INTEGER,
        pid INTEGER
    );
    CREATE INDEX schedule_runs_schedule ON schedule_runs(schedule_id, id);
    CREATE INDEX schedule_runs_status ON schedule_runs(status);

    CREATE TABLE backup_runs (
        id INTEGER PRIMARY KEY,
        schedule_run_id INTEGER REFERENCES schedule_runs(id) ON DELETE SET NULL,
        requested_level TEXT NOT NULL,
        level TEXT NOT NULL,
        sources TEXT NOT NULL,
        options TEXT NOT NULL DEFAULT '{}',
        status TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        files INTEGER NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0,
        warnings INTEGER NOT NULL DEFAULT 0,
        error TEXT
    );

    CREATE TABLE backup_sets (
        id INTEGER PRIMARY KEY,
        backup_run_id INTEGER REFERENCES backup_runs(id) ON DELETE SET NULL,
        source_key TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        level TEXT NOT NULL,
        base_set_id INTEGER REFERENCES backup_sets(id),
        status TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        files INTEGER NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0,
        hash_algo TEXT NOT NULL DEFAULT 'sha256'
    );
    CREATE INDEX backup_sets_source ON backup_sets(source_key, started_at);

    CREATE TABLE set_cartridges (
        set_id INTEGER NOT NULL REFERENCES backup_sets(id) ON DELETE CASCADE,
        cartridge_id INTEGER NOT NULL REFERENCES cartridges(id),
        seq INTEGER NOT NULL,
        PRIMARY KEY (set_id, cartridge_id)
    ) WITHOUT ROWID;
    CREATE INDEX set_cartridges_cartridge ON set_cartridges(cartridge_id);

    CREATE TABLE dirs (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE
    );

    CREATE TABLE entries (
        set_id INTEGER NOT NULL REFERENCES backup_sets(id) ON DELETE CASCADE,
        dir_id INTEGER NOT NULL REFERENCES dirs(id),
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        size INTEGER NOT NULL DEFAULT 0,
        mtime_ns INTEGER NOT NULL DEFAULT 0,
        mode INTEGER NOT NULL DEFAULT 0,
        uid INTEGER NOT NULL DEFAULT 0,
        gid INTEGER NOT NULL DEFAULT 0,
        inode INTEGER NOT NULL DEFAULT 0,
        ctime_ns INTEGER NOT NULL DEFAULT 0,
        checksum BLOB,
        link_target TEXT,
        cartridge_id INTEGER REFERENCES cartridges(id),
        position INTEGER,
        deleted INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (set_id, dir_id, name)
    ) WITHOUT ROWID;
    CREATE INDEX entries_path ON entries(dir_id, name);

    CREATE TABLE run_log_lines (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES schedule_runs(id) ON DELETE CASCADE,
        ts TEXT NOT NULL,
        level TEXT NOT NULL,
        line TEXT NOT NULL
    );
    CREATE INDEX run_log_lines_run ON run_log_lines(run_id, id);
    """,
    # 2: verification results, overwritten sets, and restore jobs
    """
    ALTER TABLE backup_sets ADD COLUMN verified_at TEXT;
    ALTER TABLE backup_sets ADD COLUMN verify_ok INTEGER;
    ALTER TABLE backup_sets ADD COLUMN overwritten_at TEXT;

    CREATE TABLE restore_jobs (
        id INTEGER PRIMARY KEY,
        schedule_run_id INTEGER REFERENCES schedule_runs(id) ON DELETE SET NULL,
        set_id INTEGER REFERENCES backup_sets(id) ON DELETE SET NULL,
        at_time TEXT,
        target TEXT NOT NULL,
        conflict TEXT NOT NULL,
        paths TEXT NOT NULL DEFAULT '[]',
        status TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        files INTEGER NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0,
        errors INTEGER NOT NULL DEFAULT 0,
        message TEXT NOT NULL DEFAULT ''
    );
    """,
    # 3: where a set's files are on its cartridges (an imported set keeps the
    # folder it was written under, whatever id it gets here), and for an imported
    # set whose base is not catalogued yet, who that base is (JSON: source_key,
    # started_at), so importing the base's cartridge later links the two
    """
    ALTER TABLE backup_sets ADD COLUMN tape_dir TEXT;
    ALTER TABLE backup_sets ADD COLUMN base_ref TEXT;
    """,
    # 4: which process runs a backup, so a restart marks only the sets of
    # processes that died (another process may be backing up right now)
    """
    ALTER TABLE backup_runs ADD COLUMN pid INTEGER;
    """,
    # 5: a completed set's merged state (each path's change signature) as a
    # snapshot, so the next incremental need not rebuild it from the entries;
    # derived data (backup.signatures), kept for the newest sets only
    """
    CREATE TABLE set_states (
        set_id INTEGER PRIMARY KEY REFERENCES backup_sets(id) ON DELETE CASCADE,
        chain TEXT NOT NULL,
        scheme TEXT NOT NULL,
        parts INTEGER NOT NULL
    );
    CREATE TABLE set_state_parts (
        set_id INTEGER NOT NULL REFERENCES set_states(set_id) ON DELETE CASCADE,
        part INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (set_id, part)
    );
    """,
    # 6: what a file holds beyond its bytes (extended attributes as JSON
    # {name: base64 value}; a device's number; a sparse file's data extents as
    # JSON [[offset, length], ...]); and, beside a run's pid, the identity of
    # that process (boot id and start time), so a pid reused after a reboot or
    # in another PID namespace is not taken for the run's own process
    """
    ALTER TABLE entries ADD COLUMN xattrs TEXT;
    ALTER TABLE entries ADD COLUMN rdev INTEGER;
    ALTER TABLE entries ADD COLUMN sparse TEXT;
    ALTER TABLE backup_runs ADD COLUMN proc_start TEXT;
    ALTER TABLE schedule_runs ADD COLUMN proc_start TEXT;
    """,
]

LATEST = len(MIGRATIONS)
