"""Backup throughput against the peers, in the same run, on the same data.

    python bench/backup.py                 # 3 GB of large files + 100k small files
    python bench/backup.py --small         # a quick run (300 MB + 10k files)
    python bench/backup.py --large-gb 2 --small-files 50000 --rss-files 200000
    python bench/backup.py --keep-data /var/tmp/tb --cases rss --rss-files 1000000   # 1M files, built once

Measures (page cache warm, `sync` before each timing so nobody pays another's writeback):
  * full backup of the large files to a `sim` cartridge (no speed limit) vs `cp -a`
  * full backup of the small files vs `cp -a`
  * incremental with no change, and with 1% of the small files changed, vs `rsync -a`
  * peak RSS of each of our runs (ru_maxrss of the child process)
  * the CPython floor for small files: a bare loop (open, read, sha256, create,
    write, close per file; no catalog, no index, no threads) against `cp -a`,
    i.e. the best ratio any Python copier can reach on this machine
  * floors for large files against `cp -a`: SHA-256 of the files alone (one
    core: a file's SHA-256 cannot be split), an in-kernel copy with the copy
    hashed on a second thread (what any copier that hashes needs on 2 cores),
    and, when the `blake3` package is installed, BLAKE3 alone on every core
Ours runs in a child process; its time is the `run_backup` call alone (engine
start-up excluded, as a daemon has it open already). Each comparison runs ours
and the peer alternately `--repeat` times and keeps the best of each (the
machine's load average is printed with each line: other work skews a single
run). Targets (issue 4): large <= 1.2x cp, small <= 1.5x cp, no-change
incremental <= 1.0x rsync, RSS <= 300 MB for 1M files. Needs rsync
(`apt-get install rsync`).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import hashlib
import importlib.util
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = ("large", "small", "incremental", "rss")


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


def floor_copy(src: str, dst: str) -> None:
    """The least a Python copier that hashes each file must do, in one thread."""
    for folder, _dirs, names in os.walk(src):
        out = dst + folder[len(src):]
        os.makedirs(out, exist_ok=True)
        for name in names:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            try:
                data = os.read(fd, os.fstat(fd).st_size)
            finally:
                os.close(fd)
            hashlib.sha256(data).digest()
            fd = os.open(os.path.join(out, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)


def _hash_range(fd: int, start: int, end: int, h: "hashlib._Hash", buf: bytearray) -> None:
    view = memoryview(buf)
    while start < end:
        n = os.preadv(fd, [view[: min(len(buf), end - start)]], start)
        h.update(view[:n])
        start += n


def floor_kernel_copy(src: str, dst: str) -> None:
    """The least any copier that SHA-256s each file needs, on two cores: the bytes
    move in the kernel (sendfile, as `cp` does with copy_file_range), never through
    Python, while a second thread reads the copy back and hashes it."""
    buf = bytearray(1 << 20)
    with concurrent.futures.ThreadPoolExecutor(1) as hasher:
        for folder, _dirs, names in os.walk(src):
            out = dst + folder[len(src):]
            os.makedirs(out, exist_ok=True)
            for name in names:
                h = hashlib.sha256()
                fi = os.open(os.path.join(folder, name), os.O_RDONLY)
                fo = os.open(os.path.join(out, name), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
                try:
                    done, pending = 0, []
                    while n := os.sendfile(fo, fi, None, 8 << 20):
                        pending.append(hasher.submit(_hash_range, fo, done, done + n, h, buf))
                        done += n
                    for job in pending:
                        job.result()
                    h.digest()
                finally:
                    os.close(fi)
                    os.close(fo)


def hash_only(src: str, _dst: str, new_hash=hashlib.sha256) -> None:  # noqa: ANN001
    """One hash of every file and nothing else (SHA-256: one core, it cannot be split)."""
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    for folder, _dirs, names in os.walk(src):
        for name in names:
            h = new_hash()
            with open(os.path.join(folder, name), "rb", buffering=0) as f:
                while n := f.readinto(buf):
                    h.update(view[:n])
            h.digest()


def blake3_only(src: str, dst: str) -> None:
    """BLAKE3 (PyPI `blake3`, not a tapetui dependency) on every core: the fastest
    strong hash a Python program can get here."""
    import blake3

    hash_only(src, dst, lambda: blake3.blake3(max_threads=blake3.blake3.AUTO))


FLOORS = {"--floor": floor_copy, "--floor-kernel": floor_kernel_copy, "--hash-only": hash_only,
          "--blake3-only": blake3_only}


def floor(kind: str, src: Path, dst: Path) -> float:
    """Time one of FLOORS in a fresh process (after a sync, like the peers)."""
    subprocess.run(["sync"], check=True)
    out = subprocess.run([sys.executable, __file__, kind, str(src), str(dst)], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    return float(out.split()[-1])


def best(repeat: int, mine, peer) -> tuple[float, float, float, str]:  # noqa: ANN001
    """Run ours and the peer alternately (each given the repeat's number, to write
    somewhere new); the best time of each, ours' RSS and summary."""
    t_mine, t_peer, rss, what = float("inf"), float("inf"), 0.0, ""
    for k in range(repeat):
        t_peer = min(t_peer, peer(k))
        t, r, what = mine(k)
        t_mine, rss = min(t_mine, t), max(rss, r)
    return t_mine, t_peer, rss, what


def load() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


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
          f"(target <= {target}x: {verdict})   peak RSS {rss:6.0f} MB   load {load()}", flush=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:5])
        return
    if len(sys.argv) > 1 and sys.argv[1] in FLOORS:
        started = time.perf_counter()
        FLOORS[sys.argv[1]](*sys.argv[2:4])
        print(f"{time.perf_counter() - started:.4f}", flush=True)
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--large-gb", type=float, default=3.0, help="total size of the large files (GB)")
    ap.add_argument("--large-files", type=int, default=3, help="how many large files")
    ap.add_argument("--small-files", type=int, default=100_000, help="how many small files (200 B - 8 KB)")
    ap.add_argument("--rss-files", type=int, default=0, help="also back up this many tiny files for peak RSS")
    ap.add_argument("--small", action="store_true", help="quick run: 0.3 GB and 10k small files")
    ap.add_argument("--workdir", help="where to build the data (default: a temp dir, removed after)")
    ap.add_argument("--keep-data", metavar="DIR",
                    help="build the source trees in DIR once and reuse them on later runs (never removed)")
    ap.add_argument("--cases", default=",".join(CASES),
                    help=f"comma-separated subset of {','.join(CASES)} (rss needs --rss-files)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each side per comparison (best kept)")
    args = ap.parse_args()
    if args.small:
        args.large_gb, args.small_files = 0.3, 10_000
    cases = set(args.cases.split(","))
    if cases - set(CASES):
        raise SystemExit(f"unknown case(s) {', '.join(sorted(cases - set(CASES)))}; expected {', '.join(CASES)}")
    if shutil.which("rsync") is None:
        raise SystemExit("rsync is not installed (apt-get install rsync); it is the peer for incrementals")
    rng = random.Random(1)
    work = Path(tempfile.mkdtemp(prefix="tapetui-bench-", dir=args.workdir))
    data = Path(args.keep_data) if args.keep_data else work
    try:
        large, small = data / f"data-large-{args.large_gb:g}x{args.large_files}", data / f"data-small-{args.small_files}"
        print(f"data: {args.large_gb} GB in {args.large_files} files, {args.small_files} small files, under {data}; "
              f"output under {work}", flush=True)
        if "large" in cases and not large.exists():
            make_large(large, int(args.large_gb * 1e9), args.large_files)
        if not small.exists():
            make_small(small, args.small_files, rng)
        small_files = sorted(p for p in small.rglob("*") if p.is_file())
        if "large" in cases:  # warm the page cache for everyone
            subprocess.run(["cat", *map(str, large.rglob("*.bin"))], stdout=subprocess.DEVNULL, check=True)
        subprocess.run(["tar", "-cf", "/dev/null", str(small)], check=True)

        # Each run writes to a new folder, and copies are removed only at the end: ext4
        # looks past recently deleted inodes when it creates files (recently_deleted()),
        # so creating 100k files right after removing 100k costs several times more.
        n = args.repeat
        if "large" in cases:
            t, t_cp, rss, what = best(
                n, lambda k: ours(work / f"home-large-{k}", large, "full"),
                lambda k: timed(["cp", "-a", str(large), str(work / f"cp-large-{k}")]))
            row(f"full, large files ({what})", t, t_cp, "cp -a", rss, 1.2)
            floors = [("--floor-kernel", "in-kernel copy + SHA-256 on 2nd core"),
                      ("--hash-only", "SHA-256 alone, no copy")]
            if importlib.util.find_spec("blake3"):
                floors.append(("--blake3-only", "BLAKE3 on 2 cores alone, no copy"))
            else:
                print("  (pip install blake3 to see the floor of the fastest strong hash too)")
            for kind, what in floors:
                t_floor, t_cp, _, _ = best(
                    n, lambda k, kind=kind: (floor(kind, large, work / f"floor{kind}-{k}"), 0.0, ""),
                    lambda k, kind=kind: timed(["cp", "-a", str(large), str(work / f"cp{kind}-{k}")]))
                row(f"  floor, large files: {what}", t_floor, t_cp, "cp -a", 0, 1.2)
        if "small" in cases:
            t, t_cp, rss, what = best(
                n, lambda k: ours(work / f"home-small-{k}", small, "full"),
                lambda k: timed(["cp", "-a", str(small), str(work / f"cp-small-{k}")]))
            row(f"full, small files ({what})", t, t_cp, "cp -a", rss, 1.5)
            t_floor, t_cp, _, _ = best(
                n, lambda k: (floor("--floor", small, work / f"floor-small-{k}"), 0.0, ""),
                lambda k: timed(["cp", "-a", str(small), str(work / f"cp2-small-{k}")]))
            row("  CPython floor, small files", t_floor, t_cp, "cp -a", 0, 1.5)

        if "incremental" in cases:
            home = work / "home-small-inc"
            ours(home, small, "full")
            rsync = ["rsync", "-a", f"{small}/", f"{work / 'rsync-small'}/"]
            subprocess.run(rsync, check=True)
            t, t_rs, rss, what = best(n, lambda k: ours(home, small, "incremental"), lambda k: timed(rsync))
            row(f"incremental, no change ({what})", t, t_rs, "rsync -a", rss, 1.0)

            # 1% changed: before each repeat another 1%, seen by the peer (first) and then ours
            def change_then_rsync(_k: int) -> float:
                for p in rng.sample(small_files, max(1, len(small_files) // 100)):
                    p.write_bytes(os.urandom(rng.randint(200, 8000)))
                return timed(rsync)

            t, t_rs, rss, what = best(n, lambda k: ours(home, small, "incremental"), change_then_rsync)
            row(f"incremental, 1% changed ({what})", t, t_rs, "rsync -a", rss, 1.0)

        if "rss" in cases and args.rss_files:
            tiny = data / f"data-tiny-{args.rss_files}"
            if not tiny.exists():
                for i in range(args.rss_files):
                    d = tiny / f"d{i // 1000:04d}"
                    if i % 1000 == 0:
                        d.mkdir(parents=True)
                    (d / f"t{i}").write_bytes(b"x")
            for level in ("full", "incremental"):
                t, rss, what = ours(work / "home-tiny", tiny, level)
                print(f"{level} of {args.rss_files} tiny files: {t:.1f} s ({what}), peak RSS {rss:.0f} MB "
                      f"(target <= 300 MB for 1M files)   load {load()}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
