"""What ``--explain`` costs: notes/s with and without it, on 1,000 notes of the workload.

    python bench/explain.py                    # library + command, 1,000 notes, the shipped model
    python bench/explain.py --notes 300 --repeats 1 --no-command

The notes are the first N of bench/run.py's workload (drawn with its seed from the
project's notes, so the lengths and languages are the real mix). Two measurements,
each without and with explanations, alternated so that a change in machine load
hits both:

1. **library**: ``NoteClassifier.predict_many(texts, titles[, explain=True])`` with
   keywords, the model loaded once (median of ``--repeats``);
2. **command**: ``python -m nlp score W.jsonl -o OUT.jsonl -q [--explain]`` from
   process start to exit (reading, scoring, keywords, writing), one run each.

Target: ``--explain`` at most 3x the time without it. The table is printed and
written to bench/results/explain.json, with the spans tried per note and the share
of variants that reused the note's transformer output (span outside what a long
note's head + tail truncation shows the transformer).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / "work" / "explain"
RESULT = BENCH / "results" / "explain.json"
TARGET = 3.0
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def workload(n: int) -> Path:
    """The first ``n`` notes of bench/run.py's seeded workload."""
    from bench.prepare import build_workload

    WORK.mkdir(parents=True, exist_ok=True)
    path, _ = build_workload(WORK, n)
    return path


def library(path: Path, repeats: int) -> dict:
    """Seconds for predict_many without and with explain (median of repeats), and variant counts."""
    from nlp import NoteClassifier
    from nlp.explain import Explainer
    from nlp.records import pick_text

    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    texts, titles = zip(*(pick_text(r, i + 1) for i, r in enumerate(rows)), strict=True)
    clf = NoteClassifier.load()
    clf.predict_many(list(texts[:8]), list(titles[:8]), explain=True)  # jieba, cues, sessions warm
    counts = {"variants": 0, "transformer_runs": 0}
    original = Explainer.score_variants

    def counted(self, variants, owners, outputs):
        ids = self.classifier.encoder.token_ids(variants)
        counts["variants"] += len(variants)
        counts["transformer_runs"] += sum(ids[j] != outputs.ids[i] for j, i in enumerate(owners))
        return original(self, variants, owners, outputs)

    times: dict[str, list[float]] = {"plain": [], "explain": []}
    for repeat in range(repeats):
        order = ("plain", "explain") if repeat % 2 == 0 else ("explain", "plain")
        for mode in order:
            Explainer.score_variants = counted if mode == "explain" and repeat == 0 else original
            started = time.perf_counter()
            clf.predict_many(list(texts), list(titles), explain=mode == "explain")
            times[mode].append(time.perf_counter() - started)
    Explainer.score_variants = original
    plain, explained = statistics.median(times["plain"]), statistics.median(times["explain"])
    return {
        "notes": len(rows),
        "seconds": {"plain": round(plain, 2), "explain": round(explained, 2)},
        "runs": times,
        "ratio": round(explained / plain, 3),
        "spans_per_note": round(counts["variants"] / len(rows), 3),
        "transformer_reused": round(1 - counts["transformer_runs"] / max(counts["variants"], 1), 3),
    }


def command(path: Path) -> dict | None:
    """Wall seconds of ``notescore score`` without and with --explain (None when the CLI lacks it)."""
    base = [sys.executable, "-m", "nlp", "score", str(path), "-q"]
    help_text = subprocess.run([*base[:4], "--help"], capture_output=True, text=True, cwd=ROOT).stdout
    if "--explain" not in help_text:
        return None
    out: dict[str, float] = {}
    for mode, extra in (("plain", []), ("explain", ["--explain"])):
        target = WORK / f"scored-{mode}.jsonl"
        started = time.perf_counter()
        subprocess.run([*base, "-o", str(target), *extra], check=True, cwd=ROOT)
        out[mode] = round(time.perf_counter() - started, 2)
    return {"seconds": out, "ratio": round(out["explain"] / out["plain"], 3)}


def table(result: dict) -> str:
    lines = [
        "| measurement | notes | without s | with --explain s | ratio | target ≤ 3× |",
        "|---|---:|---:|---:|---:|---|",
    ]
    lib = result["library"]
    rows = [("library: predict_many (keywords on)", lib)]
    if result.get("command"):
        rows.append(("command: notescore score (process start to exit)", result["command"]))
    for name, r in rows:
        ok = "yes" if r["ratio"] <= TARGET else "MISS"
        lines.append(f"| {name} | {lib['notes']:,} | {r['seconds']['plain']:.1f} | {r['seconds']['explain']:.1f} | "
                     f"{r['ratio']:.2f}× | {ok} |")  # fmt: skip
    lines.append(f"spans tried per note: {lib['spans_per_note']:.2f}; variants that reused the note's transformer "
                 f"output: {lib['transformer_reused']:.1%}")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notes", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=2, help="library runs per mode (median)")
    parser.add_argument("--no-command", action="store_true", help="skip the end-to-end command")
    args = parser.parse_args()
    path = workload(args.notes)
    load_start = os.getloadavg()
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "load_average_start": [round(x, 2) for x in load_start],
        "workload": str(path.relative_to(ROOT)),
        "library": library(path, args.repeats),
        "command": None if args.no_command else command(path),
    }
    result["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    print(table(result))
    print(f"load average at start {result['load_average_start']}, at end {result['load_average_end']}")
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
