"""Peak memory and speed of ``notescore report`` at 1k and 100k scored rows (memory must stay flat).

    python bench/report_memory.py                     # 1,000 and 100,000 rows, JSONL
    python bench/report_memory.py --sizes 1000 1000000 --formats jsonl csv

The scored rows are the sample notes scored by the shipped model (``runs/demo/sample_scored.jsonl``
from ``make demo``; scored here when absent), repeated with fresh ids, dates spread over two
years, 5,000 authors, and two rare keywords per note drawn from 200,000 (Zipf-like), so the
keyword, author and trend structures fill up and prune as on a real dump. Each report runs in
a fresh process that reports its own peak RSS (``VmHWM``). Files go to bench/work/report/ (not
committed); the table is printed and written to bench/results/report-memory.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / "work" / "report"
RESULT = BENCH / "results" / "report-memory.json"
SEED_FILE = ROOT / "runs" / "demo" / "sample_scored.jsonl"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
START_MS = 1_672_531_200_000  # 2023-01-01
SPAN_MS = 730 * 86_400_000
# Runs `notescore report` in this process and prints its own peak RSS.
CHILD = """
import sys
from pathlib import Path
from nlp.cli import app
try:
    app(sys.argv[1:], prog_name="notescore")
except SystemExit as exc:
    if exc.code:
        raise
status = Path("/proc/self/status").read_text()
print(next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")))
"""


def seed_rows() -> list[dict]:
    """The scored sample notes (scored with the shipped model when ``make demo`` has not run)."""
    if not SEED_FILE.is_file():
        from nlp import NoteClassifier, score_file

        SEED_FILE.parent.mkdir(parents=True, exist_ok=True)
        score_file(str(ROOT / "data" / "sample_notes.jsonl"), str(SEED_FILE), NoteClassifier.load())
    return [json.loads(line) for line in SEED_FILE.read_text(encoding="utf-8").splitlines()]


def synthesise(rows: list[dict], n: int, path: Path, fmt: str) -> Path:
    """Write ``n`` scored rows made from ``rows`` (seeded, so every size shares its first rows)."""
    from nlp.io import RecordWriter
    from nlp.scoring import flatten

    rng = random.Random(20240601)
    writer = RecordWriter(str(path), fmt, flatten)
    for i in range(n):
        row = json.loads(json.dumps(rows[i % len(rows)]))
        row["note_id"] = f"{row.get('note_id', '')}-{i}"
        row["time"] = START_MS + rng.randrange(SPAN_MS)
        row["user"] = {"user_id": str(rng.randrange(5000)), "nickname": f"作者{int(rng.paretovariate(1.2)) % 5000}"}
        rare = [f"词{int(rng.paretovariate(0.8)) % 200_000}" for _ in range(2)]
        row["notescore"]["keywords"] = [*row["notescore"]["keywords"], *rare]
        writer.write(row)
    writer.close()
    return path


def measure(path: Path) -> dict:
    """Peak RSS and wall time of one ``notescore report`` run on ``path``."""
    out = path.with_suffix(".html")
    args = ["report", str(path), "-o", str(out), "-q", "--date-field", "time"]
    args += ["--by", "user.nickname", "--by", "ip_location"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, env=env, check=True)
    seconds = time.perf_counter() - started
    peak_mb = int(done.stdout.split()[-1]) / 1024
    return {"peak_rss_mb": peak_mb, "seconds": seconds, "html_kb": out.stat().st_size / 1024}


def main() -> None:
    """Generate the files, measure each size, print the table and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--formats", nargs="+", default=["jsonl"], choices=["jsonl", "csv", "parquet"])
    parser.add_argument("--out", type=Path, default=RESULT, help="Where the JSON results go.")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    rows = seed_rows()
    results = []
    for fmt in args.formats:
        for n in args.sizes:
            path = synthesise(rows, n, WORK / f"scored-{n}.{fmt}", fmt)
            result = {"format": fmt, "rows": n, "file_mb": path.stat().st_size / 2**20, **measure(path)}
            results.append(result)
            print(
                f"{fmt:<8} {n:>9,} rows  file {result['file_mb']:8.1f} MB  peak RSS {result['peak_rss_mb']:7.1f} MB  "
                f"{result['seconds']:6.1f} s ({n / result['seconds']:,.0f} rows/s)",
                flush=True,
            )
    for fmt in args.formats:
        runs = [r for r in results if r["format"] == fmt]
        if len(runs) > 1:
            ratio = runs[-1]["peak_rss_mb"] / runs[0]["peak_rss_mb"]
            print(f"{fmt}: peak RSS at {runs[-1]['rows']:,} rows = {ratio:.2f}x of {runs[0]['rows']:,} rows")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    machine = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}
    args.out.write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
