"""What the measured rows mean: agreement with fp32, student vs teacher, and the issue's targets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

AMX_TARGET = (500.0, 10.0)  # `notescore score --backend auto` on an AMX machine: notes/s, × pipeline
NON_AMX_TARGET = (150.0, 6.0)  # `--backend onnxruntime` on a machine without AMX
MAX_LOAD_S = 1.0
MAX_RSS_MB = 500.0
RSS_AT = 100_000
MAX_FOLDER_MB = 60.0
MAX_F1_DROP = 0.01
MAX_PANEL_DROP = 0.02
MIN_AGREEMENT = 0.995
MAX_INVARIANCE = 1e-3


def _probs(path: str | None) -> np.ndarray | None:
    if not path or not Path(path).is_file():
        return None
    data = np.load(path)
    return np.concatenate([data["test"], data["panel"]]).astype(np.float64)


def compare_to_fp32(rows: list[dict[str, Any]]) -> None:
    """Add ``vs_fp32`` (label agreement, max |Δp| on the test split + panel) to each row, against
    ONNX Runtime fp32 of the same depth."""
    refs = {r["layers"]: r.get("probs") for r in rows if r["backend"] == "onnxruntime" and r["precision"] == "fp32"}
    for r in rows:
        ref, own = _probs(refs.get(r["layers"])), _probs(r.get("probs"))
        if ref is None or own is None or ref.shape != own.shape or not len(ref):
            continue
        r["vs_fp32"] = {"agreement": float((ref.argmax(1) == own.argmax(1)).mean()),
                        "max_abs_dprob": float(np.abs(ref - own).max()), "n": len(ref)}  # fmt: skip


def _row(rows, layers: int, backend: str, precision: str) -> dict[str, Any] | None:
    return next((r for r in rows if (r["layers"], r["backend"], r["precision"]) == (layers, backend, precision)
                 and "test" in r), None)  # fmt: skip


def student_vs_teacher(rows: list[dict[str, Any]], shipped_folder: str) -> list[dict[str, Any]]:
    """The shallowest trained model against each deeper one, on ONNX Runtime at the shipped file's precision."""
    shipped = next((r for r in rows if r.get("folder") == shipped_folder), None)
    precision = shipped["precision"] if shipped else "int8 static"
    depths = sorted({r["layers"] for r in rows if r["trained"] and "test" in r})
    student = _row(rows, depths[0], "onnxruntime", precision) if depths else None
    out = []
    for depth in depths[1:]:
        teacher = _row(rows, depth, "onnxruntime", precision)
        if student is None or teacher is None:
            continue
        slices = []
        if isinstance(student.get("panel"), list) and isinstance(teacher.get("panel"), list):
            for a, b in zip(student["panel"], teacher["panel"], strict=True):
                slices.append({"name": a["name"], "student": a["expected_rate"], "teacher": b["expected_rate"],
                               "delta": a["expected_rate"] - b["expected_rate"]})  # fmt: skip
        f1s, f1t = student["test"]["macro_f1"], teacher["test"]["macro_f1"]
        out.append({"student": student["key"], "teacher": teacher["key"], "precision": precision,
                    "f1_student": f1s, "f1_teacher": f1t, "f1_delta": f1s - f1t, "panel": slices})  # fmt: skip
    return out


def _speed_target(cmd: dict[str, Any] | None, goal: tuple[float, float], what: str, applies: bool) -> dict:
    if cmd is None:
        return {"target": what, "value": "not run", "met": None}
    value = f"{cmd['notes_per_s']:,.1f} notes/s, {cmd['x_baseline']:.2f}x pipeline"
    if not applies:
        return {"target": what, "value": f"{value} (no AMX: not measurable here)", "met": None}
    return {"target": what, "value": value, "met": cmd["notes_per_s"] >= goal[0] and cmd["x_baseline"] >= goal[1]}


def _quality_targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for cmp in result.get("student_vs_teacher") or []:
        worst = min(cmp["panel"], key=lambda s: s["delta"], default=None)
        ok = cmp["f1_delta"] >= -MAX_F1_DROP and (worst is None or worst["delta"] >= -MAX_PANEL_DROP)
        panel = f"; worst panel slice {worst['name']} {worst['delta']:+.3f}" if worst else "; panel not run"
        out.append({"target": f"student vs teacher ({cmp['precision']}): test macro-F1 within {MAX_F1_DROP}, "
                              f"each panel slice within {MAX_PANEL_DROP}",
                    "value": f"{cmp['student']} vs {cmp['teacher']}: F1 {cmp['f1_delta']:+.4f}{panel}",
                    "met": ok if worst is not None else None})  # fmt: skip
    rows = [r for r in result["rows"] if "vs_fp32" in r and r["trained"] and r["precision"] != "fp32"]
    if rows:
        worst = min(rows, key=lambda r: r["vs_fp32"]["agreement"])
        out.append({"target": f"int8/bf16 vs fp32 label agreement >= {MIN_AGREEMENT:.1%} (every trained row)",
                    "value": f"worst {worst['vs_fp32']['agreement']:.2%} ({worst['key']})",
                    "met": worst["vs_fp32"]["agreement"] >= MIN_AGREEMENT})  # fmt: skip
    rows = [r for r in result["rows"] if "invariance" in r]
    if rows:
        worst = max(rows, key=lambda r: r["invariance"]["max_abs_dprob"])
        out.append({"target": f"batch invariance: max |Δp| (b1, b32, reversed) <= {MAX_INVARIANCE:g} on every row",
                    "value": f"worst {worst['invariance']['max_abs_dprob']:.1e} ({worst['key']})",
                    "met": worst["invariance"]["max_abs_dprob"] <= MAX_INVARIANCE})  # fmt: skip
    return out


def _footprint_targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    scaling = result.get("scaling") or []
    if scaling:
        first = min(scaling, key=lambda s: s["n"])
        st = first["startup"]["load_to_first_batch_s"]
        out.append({"target": f"model load to first batch <= {MAX_LOAD_S:g} s (`notescore score`, auto)",
                    "value": f"{st:.2f} s", "met": st <= MAX_LOAD_S})  # fmt: skip
        big = max(scaling, key=lambda s: s["n"])
        value = f"{big['peak_rss_mb']:,.0f} MB at {big['n']:,} notes"
        met = big["peak_rss_mb"] <= MAX_RSS_MB if big["n"] >= RSS_AT else None
        if met is None:
            value += f" ({RSS_AT:,} not run: --budget-min 0 runs it)"
        out.append({"target": f"peak RSS <= {MAX_RSS_MB:g} MB at {RSS_AT:,} notes (`notescore score`, auto)",
                    "value": value, "met": met})  # fmt: skip
    size = result["shipped"]["folder_mb"]
    out.append({"target": f"shipped folder <= {MAX_FOLDER_MB:g} MB", "value": f"{size:.1f} MB",
                "met": size <= MAX_FOLDER_MB})  # fmt: skip
    return out


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each with the measured value and met (True/False, None: not measurable here)."""
    amx = bool(result["machine"].get("amx"))
    cmds = result.get("commands") or {}
    out = [
        _speed_target(cmds.get("onnxruntime"), NON_AMX_TARGET, "`notescore score --backend onnxruntime` >= "
                      f"{NON_AMX_TARGET[0]:g} notes/s and >= {NON_AMX_TARGET[1]:g}x pipeline (no-AMX machine)",
                      not amx),
        _speed_target(cmds.get("auto"), AMX_TARGET, f"`notescore score --backend auto` >= {AMX_TARGET[0]:g} "
                      f"notes/s and >= {AMX_TARGET[1]:g}x pipeline (AMX machine)", amx),
    ]  # fmt: skip
    if amx:
        out[0]["value"] += " (this CPU has AMX: shown for reference)"
        out[0]["met"] = None
    return out + _footprint_targets(result) + _quality_targets(result)
