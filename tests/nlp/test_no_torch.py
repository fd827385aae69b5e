"""The scoring path never imports torch (or transformers/datasets)."""

import subprocess
import sys


def test_scoring_path_imports_no_training_stack(tiny_model, tmp_path):
    src = tmp_path / "n.jsonl"
    src.write_text('{"text": "成都火锅探店 #成都美食#"}\n', encoding="utf-8")
    code = f"""
import sys
from typer.testing import CliRunner
from nlp.cli import app
from nlp import NoteClassifier
args = ["score", {str(src)!r}, "-o", {str(tmp_path / "o.jsonl")!r}, "--model", {str(tiny_model)!r}]
r = CliRunner().invoke(app, args)
assert r.exit_code == 0, r.output
NoteClassifier.load({str(tiny_model)!r}).predict("a note")
heavy = [m for m in ("torch", "transformers", "datasets", "sklearn") if m in sys.modules]
assert not heavy, heavy
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
