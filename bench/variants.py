"""The rows of the lever table: which encoder depths, precisions and backends are measured, and their folders.

A *source* is one encoder depth: a model folder (whose own precision is used as it
is) and/or the training checkpoint it came from (the other precisions are exported
from it with ``training.export``, into ``bench/work/models/``). A *row* is a
source × backend × precision. Rows that cannot be built carry the reason.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path

log = logging.getLogger("bench")

PRECISIONS = ("fp32", "int8 static", "int8 dynamic")
# (backend, precision shown, the folder precision it runs, OpenVINO INFERENCE_PRECISION_HINT)
ROW_KINDS = (
    ("onnxruntime", "fp32", "fp32", None),
    ("onnxruntime", "int8 static", "int8 static", None),
    ("onnxruntime", "int8 dynamic", "int8 dynamic", None),
    ("openvino", "fp32", "fp32", "f32"),
    ("openvino", "bf16", "fp32", "bf16"),
    ("openvino", "int8 static", "int8 static", None),
)
# Untrained depths are timed only: the shipped precision and fp32 (for bf16).
SPEED_ONLY_PRECISIONS = ("fp32", "int8 static")


@dataclass(frozen=True)
class Source:
    """One encoder depth: a folder and/or the checkpoint it was exported from."""

    role: str
    layers: int
    trained: bool
    folder: Path | None = None
    checkpoint: Path | None = None
    shipped: bool = False


@dataclass(frozen=True)
class Row:
    """One measured configuration (``skip`` says why it was not measured)."""

    key: str
    role: str
    layers: int
    trained: bool
    shipped: bool
    backend: str
    precision: str
    file_precision: str
    hint: str | None
    folder: Path | None
    skip: str | None = None


def folder_precision(folder: Path) -> str:
    """``fp32``, ``int8 static`` or ``int8 dynamic``, from the folder's ``notescore.json``."""
    from nlp.model_folder import read_model_spec

    spec = read_model_spec(folder, verify=False)
    if spec.precision != "int8":
        return "fp32"
    return "int8 static" if spec.quantization.startswith("static") else "int8 dynamic"


def folder_layers(folder: Path) -> int:
    from nlp.model_folder import read_model_spec

    return read_model_spec(folder, verify=False).provenance.encoder.layers


def checkpoint_layers(ckpt: Path | None) -> int | None:
    """The encoder depth of a training checkpoint (None when there is none)."""
    if ckpt is None or not (ckpt / "model.safetensors").is_file() or not (ckpt / "config.json").is_file():
        return None
    return int(json.loads((ckpt / "config.json").read_text())["num_hidden_layers"])


def find_sources(shipped: Path, candidates: list[tuple[str, Path | None, Path | None]]) -> tuple[list[Source], list]:
    """The shipped folder, then each (role, folder, checkpoint) candidate of another depth.

    The shipped folder's checkpoint is the candidate checkpoint of the same depth.
    A candidate whose depth is already covered, or with neither folder nor
    checkpoint, is dropped with a note.
    """
    notes: list[str] = []
    layers = folder_layers(shipped)
    own = next((c for _, _, c in candidates if checkpoint_layers(c) == layers), None)
    sources = [Source(f"shipped ({layers}L)", layers, True, shipped, own, shipped=True)]
    for role, folder, ckpt in candidates:
        folder = folder if folder is not None and (folder / "notescore.json").is_file() else None
        depth = folder_layers(folder) if folder else checkpoint_layers(ckpt)
        if depth is None:
            notes.append(f"{role}: no model folder nor checkpoint found ({folder or '-'}, {ckpt or '-'}): rows skipped")
        elif depth in {s.layers for s in sources}:
            log.info("%s (%dL) has the depth of a source already measured: not repeated", role, depth)
        else:
            ckpt = ckpt if checkpoint_layers(ckpt) == depth else None
            sources.append(Source(f"{role} ({depth}L)", depth, True, folder, ckpt))
    if own is None:
        notes.append(f"no checkpoint of the shipped {layers}L model found: its other precisions are skipped")
    return sources, notes


def untrained_sources(teacher_ckpt: Path | None, depths: list[int], work: Path) -> tuple[list[Source], list]:
    """Speed-only sources: ``depths`` layers cut from the teacher checkpoint, not distilled."""
    import prepare

    if not depths:
        return [], []
    if checkpoint_layers(teacher_ckpt) is None:
        return [], [f"untrained {depths} layers: no teacher checkpoint ({teacher_ckpt}) to cut them from"]
    from nlp.errors import NotescoreError

    out, notes = [], []
    for depth in depths:
        try:
            ckpt = prepare.untrained_student(teacher_ckpt, work, depth)
        except NotescoreError as exc:
            notes.append(f"untrained {depth} layers: {exc}")
            continue
        out.append(Source(f"untrained ({depth}L)", depth, False, None, ckpt))
    return out, notes


def source_folders(source: Source, work: Path) -> dict[str, Path | str]:
    """precision -> folder, or -> the reason there is none (exported from the checkpoint when needed)."""
    import prepare

    from nlp.errors import NotescoreError

    wanted = PRECISIONS if source.trained else SPEED_ONLY_PRECISIONS
    out: dict[str, Path | str] = {}
    own = folder_precision(source.folder) if source.folder else None
    slug = source.role.split()[0] + f"-{source.layers}L"
    for precision in wanted:
        if precision == own:
            out[precision] = source.folder
        elif source.checkpoint is None:
            out[precision] = "no checkpoint to export it from"
        else:
            folder = work / "models" / f"{slug}-{precision.replace(' ', '-')}"
            try:
                prepare.export_precision(source.checkpoint, folder, precision)
                out[precision] = folder
            except NotescoreError as exc:
                out[precision] = f"export failed: {str(exc).splitlines()[0]}"
                log.warning("%s %s: %s", source.role, precision, out[precision])
    return out


def plan_rows(sources: list[Source], work: Path, openvino: bool) -> list[Row]:
    """Every source × backend × precision, with its folder or the reason it is skipped."""
    rows = []
    for source in sources:
        folders = source_folders(source, work)
        for backend, precision, file_precision, hint in ROW_KINDS:
            if file_precision not in folders:
                continue
            key = f"{source.layers}L/{backend}/{precision}"
            row = Row(key, source.role, source.layers, source.trained, source.shipped, backend, precision,
                      file_precision, hint, None)  # fmt: skip
            found = folders[file_precision]
            if backend == "openvino" and not openvino:
                row = replace(row, skip="openvino not installed (pip install 'notescore[openvino]')")
            elif isinstance(found, str):
                row = replace(row, skip=found)
            else:
                row = replace(row, folder=found)
            rows.append(row)
    return rows
