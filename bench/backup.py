"""Backup throughput against the peers, in the same run, on the same data.

    python bench/backup.py                 # 3 GB of large files + 100k small files
    python bench/backup.py --small         # a quick run (300 MB + 10k files)
    python bench/backup.py --large-gb 2 --small-files 50000 --rss-files 200000

Measures (page cache warm, `sync` before each timing so nobody pays another's writeback):
  * full backup of the large files to a `sim` cartridge (no speed limit) vs `cp -a`
  * full backup of the small files vs `cp -a`
  * incremental with no change, and with 1% of the small files changed, vs `rsync -a`
  * peak RSS of each of our runs (ru_maxrss of the child process)
Ours runs in a child process; its time is the `run_backup` call alone (engine
start-up excluded, as a daemon has it open already). Targets (issue 4): large
<= 1.2x cp, small <= 1.5x cp, no-change incremental <= 1.0x rsync, RSS <= 300 MB
for 1M files. Needs rsync (`apt-get install rsync`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child(home: str, src: str, level: str) -> None:
    sys.path.insert(0, str(ROOT))
    from tapetui.engine.backup.engine import BackupRequest, run_backup
    from tapetui.engine.config import Config
    from tapetui.engine.core import Engine
    from tapetui.engine.paths import Home
    from tapetui.engine.runlog import RunLog
    from tapetui.engine.tape.sim import SimConfig

    async def go() -> None:
        cfg = Config.defaults()
        cfg.sections["sim"] = SimConfig(capacity_bytes=10**13, initial_cartridges=2)
        engine = await Engine.open(Home.single(Path(home)), config=cfg)
        try:
            started = time.perf_counter()
            r = await run_backup(engine, BackupRequest(sources=[src], level=level),
                                 RunLog(engine.store, engine.bus, None))
            print(f"{time.perf_counter() - started:.4f} {r.status} {r.files} {r.bytes}", flush=True)
        finally:
            await engine.close()

    asyncio.run(go())


def ours(home: Path, src: Path, level: str) -> tuple[float, float, str]:
    """(seconds, peak RSS MB, summary) of one backup in a child process."""
    subprocess.run(["sync"], check=True)
    proc = subprocess.Popen([sys.executable, __file__, "--child", str(home), str(src), level],
                            stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"our backup failed: {out}")
    seconds, state, files, nbytes = out.split()[-4:]
    return float(seconds), usage.ru_maxrss / 1024, f"{state}, {files} files, {int(nbytes) / 1e6:.0f} MB"


def timed(cmd: list[str]) -> float:
    subprocess.run(["sync"], check=True)
    started = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - started


def make_large(root: Path, total_bytes: int, count: int) -> None:
    root.mkdir(parents=True)
    block = os.urandom(8 << 20)
    each = total_bytes // count
    for i in range(count):
        with open(root / f"large-{i}.bin", "wb") as f:
            left = each
            while left:
                n = min(left, len(block))
                f.write(block[:n] if i % 2 else block[len(block) - n :])
                left -= n


def make_small(root: Path, count: int, rng: random.Random) -> list[Path]:
    files = []
    for i in range(count):
        d = root / f"d{i // 1000:03d}" / f"e{(i // 100) % 10}"
        if i % 100 == 0:
            d.mkdir(parents=True, exist_ok=True)
        p = d / f"f{i}.txt"
        p.write_bytes(os.urandom(rng.randint(200, 8000)))
        files.append(p)
    return files


def row(what: str, mine: float, peer: float, peer_name: str, rss: float, target: float) -> None:
    ratio = mine / peer if peer else float("inf")
    verdict = "ok" if ratio <= target else "over"
    print(f"{what:<34} ours {mine:8.2f} s   {peer_name} {peer:8.2f} s   ratio {ratio:5.2f}x "
          f"(target <= {target}x: {verdict})   peak RSS {rss:6.0f} MB")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:5])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--large-gb", type=float, default=3.0, help="total size of the large files (GB)")
    ap.add_argument("--large-files", type=int, default=3, help="how many large files")
    ap.add_argument("--small-files", type=int, default=100_000, help="how many small files (200 B - 8 KB)")
    ap.add_argument("--rss-files", type=int, default=0, help="also back up this many tiny files for peak RSS")
    ap.add_argument("--small", action="store_true", help="quick run: 0.3 GB and 10k small files")
    ap.add_argument("--workdir", help="where to build the data (default: a temp dir, removed after)")
    args = ap.parse_args()
    if args.small:
        args.large_gb, args.small_files = 0.3, 10_000
    if shutil.which("rsync") is None:
        raise SystemExit("rsync is not installed (apt-get install rsync); it is the peer for incrementals")
    rng = random.Random(1)
    work = Path(tempfile.mkdtemp(prefix="tapetui-bench-", dir=args.workdir))
    try:
        large, small = work / "data-large", work / "data-small"
        print(f"building {args.large_gb} GB in {args.large_files} files and {args.small_files} small files "
              f"under {work} ...", flush=True)
        make_large(large, int(args.large_gb * 1e9), args.large_files)
        small_files = make_small(small, args.small_files, rng)
        for tree in (large, small):  # warm the page cache for everyone
            subprocess.run(["cat", *map(str, tree.rglob("*.bin"))] if tree is large else ["true"],
                           stdout=subprocess.DEVNULL, check=True)

        t_cp = timed(["cp", "-a", str(large), str(work / "cp-large")])
        t, rss, what = ours(work / "home-large", large, "full")
        row(f"full, large files ({what})", t, t_cp, "cp -a", rss, 1.2)
        shutil.rmtree(work / "cp-large")
        shutil.rmtree(work / "home-large")

        t_cp = timed(["cp", "-a", str(small), str(work / "cp-small")])
        t, rss, what = ours(work / "home-small", small, "full")
        row(f"full, small files ({what})", t, t_cp, "cp -a", rss, 1.5)
        shutil.rmtree(work / "cp-small")

        subprocess.run(["rsync", "-a", f"{small}/", f"{work / 'rsync-small'}/"], check=True)
        t_rs = timed(["rsync", "-a", f"{small}/", f"{work / 'rsync-small'}/"])
        t, rss, what = ours(work / "home-small", small, "incremental")
        row(f"incremental, no change ({what})", t, t_rs, "rsync -a", rss, 1.0)

        for p in rng.sample(small_files, max(1, len(small_files) // 100)):  # both see the same change
            p.write_bytes(os.urandom(rng.randint(200, 8000)))
        t_rs = timed(["rsync", "-a", f"{small}/", f"{work / 'rsync-small'}/"])
        t, rss, what = ours(work / "home-small", small, "incremental")
        row(f"incremental, 1% changed ({what})", t, t_rs, "rsync -a", rss, 1.0)

        if args.rss_files:
            tiny = work / "data-tiny"
            for i in range(args.rss_files):
                d = tiny / f"d{i // 1000:04d}"
                if i % 1000 == 0:
                    d.mkdir(parents=True)
                (d / f"t{i}").write_bytes(b"x")
            for level in ("full", "incremental"):
                t, rss, what = ours(work / "home-tiny", tiny, level)
                print(f"{level} of {args.rss_files} tiny files: {t:.1f} s ({what}), peak RSS {rss:.0f} MB "
                      f"(target <= 300 MB for 1M files)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
