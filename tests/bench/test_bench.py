"""The benchmark's own logic: CPU flags, rows, batch invariance, fp32 agreement, targets, the table."""

from __future__ import annotations

import analysis
import machine
import numpy as np
import pytest
import table
import variants
from _row_worker import batch_invariance, run_row

ZEN4 = """processor\t: 0
model name\t: AMD EPYC 9R14
flags\t\t: fpu sse avx2 avx512f avx512bw avx512vl avx512_vnni avx512_bf16 avx512vbmi
processor\t: 1
model name\t: other
"""
XEON = "model name\t: Intel Xeon Platinum\nflags\t: avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8\n"


def test_cpu_flags_name_the_speed_flags_and_amx():
    zen = machine.cpu_flags(ZEN4)
    assert zen["model"] == "AMD EPYC 9R14"
    assert zen["flags"] == ["avx2", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16"]
    assert zen["amx"] is False and "avx512vbmi" in zen["avx512"]
    xeon = machine.cpu_flags(XEON)
    assert xeon["amx"] is True and xeon["flags"][-3:] == ["amx_tile", "amx_int8", "amx_bf16"]
    assert machine.cpu_flags("")["model"] == "unknown"


class _BatchDependent:
    """A classifier whose scores move with the batch size (as dynamic int8 does)."""

    labels = ("genuine", "sponsored", "possibly_false")

    def __init__(self, shift: float) -> None:
        self.batch_size = 32
        self.shift = shift

    def predict_proba(self, texts):
        p = np.array([[0.5, 0.3, 0.2]] * len(texts))
        p[:, 0] += self.shift * (self.batch_size == 1)
        return p


def test_batch_invariance_reports_the_largest_move_and_restores_the_batch_size():
    clf = _BatchDependent(0.01)
    clf.batch_size = 8
    out = batch_invariance(clf, ["a", "b", "c"])
    assert out["b1_vs_b32"] == pytest.approx(0.01) and out["reversed_vs_b32"] == 0.0
    assert out["max_abs_dprob"] == pytest.approx(0.01) and out["n"] == 3
    assert clf.batch_size == 8
    assert batch_invariance(_BatchDependent(0.0), ["a"])["max_abs_dprob"] == 0.0


def test_a_folder_without_checkpoint_gives_its_own_row_and_skips_the_rest(tiny_model, tmp_path):
    source = variants.Source("shipped (0L)", 0, True, tiny_model, None, shipped=True)
    rows = variants.plan_rows([source], tmp_path, openvino=False)
    own = variants.folder_precision(tiny_model)
    measured = [r for r in rows if r.skip is None]
    assert [(r.backend, r.precision) for r in measured] == [("onnxruntime", own)]
    assert measured[0].folder == tiny_model
    reasons = {r.skip for r in rows if r.skip}
    assert "no checkpoint to export it from" in reasons
    assert any("openvino not installed" in why for why in reasons)


def test_row_worker_measures_speed_invariance_and_the_test_split(tiny_model, tmp_path):
    notes = tmp_path / "w.jsonl"
    notes.write_text("".join(f'{{"text": "note {i} 面霜好用", "label": "genuine"}}\n' for i in range(10)))
    args = {"folder": str(tiny_model), "backend": "onnxruntime", "workload": str(notes), "batch_size": 4,
            "repeats": 1, "threads": 1, "invariance_notes": 6, "accuracy": True, "test": str(notes),
            "shared": str(tmp_path / "no-corpora"), "panel_rows": 2, "probs_out": str(tmp_path / "p.npz")}  # fmt: skip
    texts = [f"note {i} 面霜好用" for i in range(10)]
    out = run_row(args, lambda path, limit: texts[:limit], lambda key: 1)
    assert out["n"] == 10 and len(out["repeat_s"]) == 1 and out["hwm_bytes"] == 1
    assert out["invariance"]["max_abs_dprob"] <= 1e-6
    assert out["test"]["n"] == 10 and 0.0 <= out["test"]["macro_f1"] <= 1.0
    assert isinstance(out["panel"], str) and out["panel"].startswith("skipped")
    assert np.load(tmp_path / "p.npz")["test"].shape == (10, 3)


def _row(tmp_path, key, layers, backend, precision, probs, **extra):
    path = tmp_path / f"{key.replace('/', '_')}.npz"
    np.savez(path, test=np.array(probs), panel=np.zeros((0, 3)))
    return {"key": key, "role": f"model ({layers}L)", "layers": layers, "trained": True, "shipped": False,
            "backend": backend, "precision": precision, "folder": f"/m/{key}", "probs": str(path), **extra}  # fmt: skip


def test_agreement_is_against_onnxruntime_fp32_of_the_same_depth(tmp_path):
    fp32 = _row(tmp_path, "4L/onnxruntime/fp32", 4, "onnxruntime", "fp32", [[0.6, 0.3, 0.1], [0.2, 0.5, 0.3]])
    int8 = _row(tmp_path, "4L/openvino/int8", 4, "openvino", "int8 static", [[0.6, 0.3, 0.1], [0.5, 0.2, 0.3]])
    other = _row(tmp_path, "12L/onnxruntime/int8", 12, "onnxruntime", "int8 static", [[0, 1, 0], [0, 1, 0]])
    analysis.compare_to_fp32([fp32, int8, other])
    assert fp32["vs_fp32"]["agreement"] == 1.0
    assert int8["vs_fp32"] == {"agreement": 0.5, "max_abs_dprob": pytest.approx(0.3), "n": 2}
    assert "vs_fp32" not in other  # no fp32 of its depth


def _result(amx: bool, auto: float, ort: float, rows=None) -> dict:
    base = 20.0
    cmd = {k: {"notes_per_s": v, "x_baseline": v / base, "peak_rss_mb": 300.0, "runtime": {"backend": b}}
           for k, v, b in (("auto", auto, "openvino"), ("onnxruntime", ort, "onnxruntime"))}  # fmt: skip
    startup = {"load_to_first_batch_s": 0.6}
    return {
        "kind": "full", "date": "2026-12-06", "command": "python bench/run.py",
        "machine": {"cpu": "AMD EPYC", "cpu_flags": ["avx2", "avx512_bf16"], "amx": amx, "usable_cores": 2,
                    "memory_bytes": 2**34, "load_average_start": [0.1, 0.2, 0.3],
                    "versions": {"python": "3.11", "onnxruntime": "1.32"}},
        "workload": {"notes": 1000, "seed": 1, "pool": 50},
        "tokens": {"max_length": 128, "tokens_model_input": {"p50": 70, "p90": 128, "mean": 77}},
        "engine_notes": 1000, "repeats": 2, "panel_rows": 100, "threads": None,
        "shipped": {"folder": "/m/shipped", "folder_mb": 41.0},
        "pipeline": {"notes_per_s": base, "load_s": 5.0, "first_batch_s": 1.0, "peak_rss_mb": 1000.0, "repeats": 2},
        "rows": rows or [], "commands": cmd,
        "scaling": [{"n": 1000, "peak_rss_mb": 320.0, "startup": startup, "wall_s": 6.0, "notes_per_s": 160.0,
                     "backend": "openvino", "share": dict.fromkeys(
                         ("tokenise", "inference", "ngram", "keywords", "keywords_init", "io", "load", "process_other"),
                         0.1)}],
        "notes": ["a note"],
    }  # fmt: skip


def test_targets_on_a_machine_without_amx():
    met = {t["target"].split(" >=")[0]: t["met"] for t in analysis.targets(_result(False, 400.0, 160.0))}
    assert met["`notescore score --backend onnxruntime`"] is True
    assert met["`notescore score --backend auto`"] is None  # no AMX: not measurable here
    assert met["model load to first batch <= 1 s (`notescore score`, auto)"] is True
    rss = next(t for t in analysis.targets(_result(False, 400.0, 160.0)) if t["target"].startswith("peak RSS"))
    assert rss["met"] is None and "100,000 not run" in rss["value"]
    slow = {t["target"].split(" >=")[0]: t["met"] for t in analysis.targets(_result(False, 400.0, 100.0))}
    assert slow["`notescore score --backend onnxruntime`"] is False


def test_targets_on_an_amx_machine():
    targets = analysis.targets(_result(True, 520.0, 160.0))
    assert targets[0]["met"] is None and "has AMX" in targets[0]["value"]
    assert targets[1]["met"] is True
    assert analysis.targets(_result(True, 420.0, 160.0))[1]["met"] is False


def test_render_one_table_with_flags_skips_and_targets(tmp_path):
    measured = _row(tmp_path, "4L/onnxruntime/int8 static", 4, "onnxruntime", "int8 static", [[0.6, 0.3, 0.1]],
                    folder="/m/shipped", file_mb=38.0, test={"macro_f1": 0.91},
                    invariance={"max_abs_dprob": 0.0, "n": 5},
                    speed={"notes_per_s": 200.0, "x_baseline": 10.0, "load_s": 0.3, "first_batch_s": 0.2,
                           "peak_rss_mb": 250.0})  # fmt: skip
    skipped = {**measured, "key": "4L/openvino/bf16", "backend": "openvino", "precision": "bf16", "folder": None,
               "skip": "openvino not installed"}  # fmt: skip
    result = _result(False, 400.0, 160.0, [measured, skipped])
    result["targets"] = analysis.targets(result)
    text = table.render(result)
    assert "cpu flags: avx2 avx512_bf16 (no AMX)" in text
    assert "int8 static *" in text and "skipped [1]" in text and "[1] openvino not installed" in text
    assert "`notescore score --backend auto` (shipped)" in text and "no AMX: not measurable here" in text
    readme = tmp_path / "README.md"
    readme.write_text("# B\n<!-- results:start -->\nSTALE\n<!-- results:end -->\ntail\n")
    table.update_readme(text, result, readme)
    body = readme.read_text()
    assert "STALE" not in body and "cpu flags" in body and body.endswith("tail\n")


def test_student_vs_teacher_compares_the_shipped_precision_per_panel_slice(tmp_path):
    def panel(rate):
        return [{"name": "slice", "expected_rate": rate, "passed": True, "target": 0.8, "n": 10}]

    rows = [
        _row(tmp_path, "4L/onnxruntime/fp32", 4, "onnxruntime", "fp32", [[1, 0, 0]], test={"macro_f1": 0.99},
             panel=panel(0.99)),
        _row(tmp_path, "4L/onnxruntime/int8 static", 4, "onnxruntime", "int8 static", [[1, 0, 0]],
             folder="/m/shipped", test={"macro_f1": 0.90}, panel=panel(0.80)),
        _row(tmp_path, "12L/onnxruntime/int8 static", 12, "onnxruntime", "int8 static", [[1, 0, 0]],
             test={"macro_f1": 0.905}, panel=panel(0.85)),
    ]  # fmt: skip
    (cmp,) = analysis.student_vs_teacher(rows, "/m/shipped")
    assert cmp["precision"] == "int8 static" and cmp["f1_delta"] == pytest.approx(-0.005)
    assert cmp["panel"][0]["delta"] == pytest.approx(-0.05)
    result = _result(False, 1.0, 1.0, rows)
    result["student_vs_teacher"] = [cmp]
    quality = next(t for t in analysis.targets(result) if t["target"].startswith("student vs teacher"))
    assert quality["met"] is False and "slice -0.050" in quality["value"]


def _fake_checkpoint(folder, layers: int):
    folder.mkdir()
    (folder / "config.json").write_text(f'{{"num_hidden_layers": {layers}}}')
    (folder / "model.safetensors").write_bytes(b"")
    return folder


def test_sources_pair_the_shipped_folder_with_its_checkpoint_and_drop_repeated_depths(tiny_model, tmp_path):
    deep = _fake_checkpoint(tmp_path / "teacher", 12)
    own = _fake_checkpoint(tmp_path / "student", 0)  # the tiny folder records 0 layers
    sources, notes = variants.find_sources(
        tiny_model, [("teacher", tmp_path / "no-folder", deep), ("student", None, own), ("other", None, None)]
    )
    found = [(s.role, s.layers, s.checkpoint) for s in sources]
    assert found == [("shipped (0L)", 0, own), ("teacher (12L)", 12, deep)]
    assert sources[0].shipped and sources[0].folder == tiny_model and sources[1].folder is None
    assert len(notes) == 1 and notes[0].startswith("other: no model folder nor checkpoint")
