"""One row of the lever table, in a fresh process (``_worker.py row``): speed, then accuracy.

Order matters: load (timed) → first batch (timed) → speed repeats → peak RSS read →
batch invariance → test split → real-text panel. Peak RSS is read before the
accuracy passes so that it is the scoring run's own.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def hint_openvino(precision: str) -> None:
    """Make every OpenVINO compile in this process use ``INFERENCE_PRECISION_HINT=precision``.

    ``NoteClassifier.load`` has no precision option (the library asks for f32 in the
    parts of the graph that are not int8); the bench sets it to time the f32 and bf16
    rows on any CPU.
    """
    import openvino as ov

    compile_model = ov.Core.compile_model

    def hinted(self, model, device_name=None, config=None, **kwargs):
        config = {**(config or {}), "INFERENCE_PRECISION_HINT": precision}
        return compile_model(self, model, device_name, config, **kwargs)

    ov.Core.compile_model = hinted


def speed(clf, texts: list[str], repeats: int) -> dict:
    """Notes/s of ``predict_proba`` over the texts in ``notescore score``'s windows."""
    from nlp.scoring import WINDOW

    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for a in range(0, len(texts), WINDOW):
            clf.predict_proba(texts[a : a + WINDOW])
        times.append(time.perf_counter() - start)
    return {"n": len(texts), "repeat_s": times}


def batch_invariance(clf, texts: list[str]) -> dict:
    """max |Δp| between batch size 32, batch size 1 and batch size 32 on the reversed input order."""
    size = clf.batch_size
    try:
        clf.batch_size = 32
        b32 = clf.predict_proba(texts)
        reversed_ = clf.predict_proba(texts[::-1])[::-1]
        clf.batch_size = 1
        b1 = clf.predict_proba(texts)
    finally:
        clf.batch_size = size
    return {
        "n": len(texts),
        "b1_vs_b32": float(np.abs(b1 - b32).max()),
        "reversed_vs_b32": float(np.abs(reversed_ - b32).max()),
        "max_abs_dprob": float(max(np.abs(b1 - b32).max(), np.abs(reversed_ - b32).max())),
    }


def test_split(clf, path: str, limit: int | None = None) -> tuple[dict, np.ndarray]:
    """Macro-F1 of the blended model (argmax) on a labelled split (its first ``limit`` notes), and its probabilities."""
    from nlp.errors import RecordError
    from nlp.evaluation import classification_metrics
    from nlp.records import iter_labelled

    notes = [n for _, n in iter_labelled(path, clf.labels) if not isinstance(n, RecordError)][:limit]
    probs = clf.blended_proba([n.text for n in notes])
    keep = [i for i, n in enumerate(notes) if n.label is not None]
    gold = [notes[i].label for i in keep]
    metrics = classification_metrics(gold, [clf.labels[int(probs[i].argmax())] for i in keep], clf.labels)
    return {"n": len(keep), "macro_f1": metrics["macro_f1"], "accuracy": metrics["accuracy"]}, probs


def panel(clf, shared: str | None, max_rows: int) -> tuple[list | str, np.ndarray]:
    """The real-text panel (``training.panel``) at most ``max_rows`` notes a slice, or why it was skipped."""
    from training.corpora import CorpusNotFoundError
    from training.panel import PANEL, panel_rows, score_row

    try:
        slices = panel_rows(PANEL, Path(shared) if shared else None, max_rows)
    except CorpusNotFoundError as exc:
        return f"skipped: {exc}", np.zeros((0, len(clf.labels)), dtype=np.float32)
    results, probs = [], []
    for row, notes in slices:
        p = clf.blended_proba([n.text for n in notes]) if notes else np.zeros((0, len(clf.labels)), np.float32)
        results.append(score_row(row, [clf.labels[int(x.argmax())] for x in p]))
        probs.append(p)
    return results, np.concatenate(probs) if probs else np.zeros((0, len(clf.labels)), np.float32)


def run_row(args: dict, texts_of, status) -> dict:
    """Measure one row; ``texts_of(path, limit)`` reads the workload, ``status(key)`` reads /proc/self/status."""
    t0 = time.perf_counter()
    if args.get("hint"):
        hint_openvino(args["hint"])
    from nlp.classifier import NoteClassifier

    clf = NoteClassifier.load(args["folder"], threads=args.get("threads"), batch_size=args["batch_size"],
                              keywords=False, backend=args["backend"])  # fmt: skip
    load_s = time.perf_counter() - t0
    texts = texts_of(args["workload"], args.get("limit"))
    s = time.perf_counter()
    clf.predict_proba(texts[: args["batch_size"]])  # the first batch: timed, then a warm-up
    out = {"load_s": load_s, "first_batch_s": time.perf_counter() - s, "runtime": clf.backend.info()}
    out.update(speed(clf, texts, args["repeats"]))
    out["hwm_bytes"] = status("VmHWM")
    if args.get("invariance_notes"):
        out["invariance"] = batch_invariance(clf, texts[: args["invariance_notes"]])
    if args.get("accuracy"):
        out["test"], test_probs = test_split(clf, args["test"], args.get("test_limit"))
        out["panel"], panel_probs = panel(clf, args.get("shared"), args["panel_rows"])
        np.savez(args["probs_out"], test=test_probs, panel=panel_probs)
    return out
