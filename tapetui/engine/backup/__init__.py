"""Backup and restore: scan, change detection, the tape writer, restore chains, verify.

Entry points: `engine.run_backup`, `restore.run_restore`, `verify.verify_set`,
`catalog_copy.import_cartridge`. Layout on a volume (`layout.py`)::

    tapetui/set-<id>/<absolute source path without its leading '/'>
    tapetui/set-<id>.catalog.jsonl      the set's catalog, written when the set ends
"""
