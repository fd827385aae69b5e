"""One benchmark measurement in a fresh process (started by bench/run.py).

Each engine runs in its own interpreter so that its load time and peak RSS are
its own: it reports its own peak RSS (``VmHWM`` from /proc/self/status). The result
is written as JSON to the path in ``$BENCH_RESULT``.

Modes:
    pipeline  transformers ``pipeline("text-classification")``, torch fp32 on CPU
    row       one row of the lever table: a model folder on a backend (speed, batch
              invariance, test macro-F1, real-text panel; bench/_row_worker.py)
    cli       the ``notescore score`` command in-process (``nlp.cli.main``), with
              timers wrapped around tokenising, inference, n-gram, keywords and load
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

T_START = time.monotonic()
ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "bench"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))


def _status(key: str) -> int | None:
    """A ``VmRSS``/``VmHWM`` value from /proc/self/status, in bytes."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _emit(result: dict) -> None:
    result.setdefault("rss_end_bytes", _status("VmRSS"))
    result.setdefault("hwm_bytes", _status("VmHWM"))
    Path(os.environ["BENCH_RESULT"]).write_text(json.dumps(result, indent=2))


def _read_texts(path: str, limit: int | None = None) -> list[str]:
    """Composed texts (title + body) of a JSONL workload, as the runtime builds them."""
    from nlp.encoding import compose_text
    from nlp.scoring import pick_text

    texts = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if limit is not None and len(texts) >= limit:
                break
            text, title = pick_text(json.loads(line), n, None, None)
            texts.append(compose_text(text, title))
    return texts


def _windows(n: int, size: int):
    for start in range(0, n, size):
        yield start, min(n, start + size)


# ----------------------------------------------------------------- pipeline


def run_pipeline(args: dict) -> dict:
    """transformers pipeline baseline: the code a user would write."""
    t0 = time.perf_counter()
    import torch
    from transformers import pipeline
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    from nlp.encoding import load_translate_table

    if args.get("threads"):
        torch.set_num_threads(int(args["threads"]))
    pipe = pipeline(
        "text-classification",
        model=args["model"],
        tokenizer=args["model"],
        device=-1,
        batch_size=args["batch_size"],
        truncation=True,
        max_length=args["max_length"],
    )
    table = load_translate_table(Path(args["model"]) / "normalization.json")
    load_s = time.perf_counter() - t0
    rss_loaded = _status("VmRSS")
    texts = _read_texts(args["workload"], args.get("limit"))
    start = time.perf_counter()
    pipe([t.translate(table) for t in texts[: args["batch_size"]]])  # the first batch: timed, then a warm-up
    first_batch_s = time.perf_counter() - start
    repeats = []
    labels = None
    for _ in range(args["repeats"]):
        start = time.perf_counter()
        # the model's codepoint map (NFKC-like) is applied first, as the runtime does
        out = pipe([t.translate(table) for t in texts])
        repeats.append(time.perf_counter() - start)
        labels = [o["label"] for o in out]
    return {
        "engine": "pipeline",
        "n": len(texts),
        "batch_size": args["batch_size"],
        "load_s": load_s,
        "first_batch_s": first_batch_s,
        "rss_loaded_bytes": rss_loaded,
        "repeat_s": repeats,
        "torch_threads": torch.get_num_threads(),
        "attn_implementation": getattr(pipe.model.config, "_attn_implementation", None),
        "label_counts": {k: labels.count(k) for k in set(labels or [])},
    }


# ---------------------------------------------------------------------- row


def run_row(args: dict) -> dict:
    """One row of the lever table (see bench/_row_worker.py)."""
    from _row_worker import run_row as measure

    return {"engine": "row", **measure(args, _read_texts, _status)}


# ---------------------------------------------------------------------- cli


class _Timers:
    def __init__(self) -> None:
        self.total: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.marks: dict[str, float] = {}
        self.missing: list[str] = []
        self.runtime: dict = {}

    def wrap(self, owner, name: str, key: str, first_mark: str | None = None) -> None:
        inner = getattr(owner, name, None)
        if inner is None:  # renamed in the library: that share is counted as I/O
            self.missing.append(f"{getattr(owner, '__name__', owner)}.{name}")
            return
        timers = self

        def wrapper(*a, **k):
            s = time.perf_counter()
            try:
                return inner(*a, **k)
            finally:
                e = time.perf_counter()
                timers.total[key] = timers.total.get(key, 0.0) + (e - s)
                timers.calls[key] = timers.calls.get(key, 0) + 1
                if first_mark and first_mark not in timers.marks:
                    timers.marks[first_mark] = time.monotonic()

        setattr(owner, name, wrapper)


def _instrument() -> _Timers:
    """Wrap the library's stages (class attributes, before the command runs) with timers; see run_cli."""
    import nlp.classifier as classifier
    import nlp.encoding as encoding
    import nlp.io as nio
    import nlp.keywords as keywords
    import nlp.ngram as ngram
    import nlp.scoring as scoring

    timers = _Timers()
    timers.marks["imported"] = time.monotonic()
    timers.wrap(classifier.NoteClassifier, "logits", "inference", first_mark="first_batch")
    timers.wrap(encoding.NoteEncoder, "token_ids", "tokenise")
    timers.wrap(ngram.NgramModel, "logits", "ngram")
    timers.wrap(keywords.KeywordExtractor, "extract", "keywords")
    timers.wrap(keywords.KeywordExtractor, "_load", "keywords_init")
    timers.wrap(nio, "count_rows", "count_rows")
    timers.wrap(nio.RecordWriter, "write", "write", first_mark="first_write")
    load = classifier.NoteClassifier.load.__func__

    def timed_load(cls, *a, **k):
        timers.marks["load_start"] = time.monotonic()
        s = time.perf_counter()
        out = load(cls, *a, **k)
        timers.total["load"] = time.perf_counter() - s
        timers.marks["load_end"] = time.monotonic()
        timers.runtime = out.backend.info()
        return out

    classifier.NoteClassifier.load = classmethod(timed_load)
    score_file = scoring.score_file

    def timed_score_file(*a, **k):
        s = time.perf_counter()
        summary = score_file(*a, **k)
        timers.total["score_file"] = time.perf_counter() - s
        return summary

    scoring.score_file = timed_score_file
    return timers


def run_cli(args: dict) -> dict:
    """`notescore score` in this process, timed from the outside.

    Wrapped (class attributes, before the command runs): NoteClassifier.load
    (load), NoteEncoder.token_ids (tokenise), NoteClassifier.logits (inference:
    padding + ONNX Runtime), NgramModel.logits (n-gram), KeywordExtractor.extract
    (keywords) and KeywordExtractor._load (jieba/lexicon loading, inside the first
    extract call), count_rows (the progress bar's row count: I/O). What is left of
    score_file's wall time is reading, JSON parsing, record handling and writing.
    """
    from nlp.cli import main

    timers = _instrument()
    argv = ["notescore", "score", args["input"], "-o", args["output"], "--model", args["model"], "-q"]
    if args.get("batch_size"):
        argv += ["--batch-size", str(args["batch_size"])]
    if args.get("threads"):
        argv += ["--threads", str(args["threads"])]
    if args.get("backend"):
        argv += ["--backend", args["backend"]]
    sys.argv = argv
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    t_end = time.monotonic()
    return {
        "engine": "cli",
        "exit_code": code,
        "t_start": T_START,
        "t_end": t_end,
        "marks": timers.marks,
        "seconds": timers.total,
        "calls": timers.calls,
        "argv": argv[1:],
        "not_timed": timers.missing,
        "runtime": timers.runtime,
    }


MODES = {"pipeline": run_pipeline, "row": run_row, "cli": run_cli}

if __name__ == "__main__":
    mode, payload = sys.argv[1], json.loads(sys.argv[2])
    result = MODES[mode](payload)
    result["mode"] = mode
    _emit(result)
