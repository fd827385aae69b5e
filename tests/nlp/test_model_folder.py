"""The model-folder schema: one writer, one reader, and a folder changed after export is refused."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from nlp import ModelFormatError, ModelNotFoundError, NoteClassifier
from nlp.cli import app
from nlp.model_folder import (
    SPEC_FILE,
    CheckpointMeta,
    NgramSettings,
    Truncation,
    read_checkpoint_meta,
    read_model_spec,
    update_model_spec,
    write_checkpoint_meta,
    write_model_spec,
)
from nlp.ngram import NgramModel

runner = CliRunner()


@pytest.fixture
def folder(tmp_path, tiny_model):
    """A tiny model folder with an n-gram part, free to tamper with."""
    out = tmp_path / "m"
    shutil.copytree(tiny_model, out)
    buckets, rng = 64, np.random.default_rng(0)
    NgramModel(rng.normal(size=(buckets, 3)), np.zeros(3), np.ones(buckets)).save(out / "ngram.npz")
    update_model_spec(out, ngram=NgramSettings("ngram.npz", 0.3, buckets))
    return out


def test_round_trip_and_hashes(folder):
    spec = read_model_spec(folder)
    assert spec.name == "tiny-test"
    assert set(spec.files) == {"model.onnx", "tokenizer.json", "ngram.npz"}
    assert all(len(h) == 64 for h in spec.files.values())
    again = write_model_spec(folder, spec)
    assert again == spec
    assert NoteClassifier.load(folder, keywords=False).ngram_weight == 0.3


def _load_error(folder) -> str:
    with pytest.raises((ModelFormatError, ModelNotFoundError)) as info:
        NoteClassifier.load(folder)
    result = runner.invoke(app, ["score", "-", "--model", str(folder)], input='{"text": "hi"}\n')
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output
    return str(info.value)


@pytest.mark.parametrize("name", ["model.onnx", "ngram.npz", "tokenizer.json"])
def test_one_changed_byte_is_refused(folder, name):
    path = folder / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    assert "SHA-256 does not match" in _load_error(folder)


def test_truncated_ngram_file_is_refused(folder):
    path = folder / "ngram.npz"
    path.write_bytes(path.read_bytes()[:100])
    assert "SHA-256 does not match" in _load_error(folder)


def test_reordered_labels_are_refused(folder):
    data = json.loads((folder / SPEC_FILE).read_text())
    data["labels"] = ["sponsored", "genuine", "possibly_false"]
    (folder / SPEC_FILE).write_text(json.dumps(data))
    assert "differ from notescore.json" in _load_error(folder)


@pytest.mark.parametrize("path", ["/etc/passwd", "../model.onnx", "sub/model.onnx", ".hidden"])
def test_file_outside_the_folder_is_refused(folder, path):
    data = json.loads((folder / SPEC_FILE).read_text())
    data["model_file"] = path
    (folder / SPEC_FILE).write_text(json.dumps(data))
    assert "plain file name inside the model folder" in _load_error(folder)


def test_unlisted_and_missing_files_are_refused(folder):
    (folder / "extra.bin").write_bytes(b"x")
    assert "not listed" in _load_error(folder)
    (folder / "extra.bin").unlink()
    (folder / "ngram.npz").unlink()
    assert "missing" in _load_error(folder)


def test_unknown_keys_and_versions_are_refused(folder):
    data = json.loads((folder / SPEC_FILE).read_text())
    (folder / SPEC_FILE).write_text(json.dumps({**data, "surprise": 1}))
    assert "unknown keys ['surprise']" in _load_error(folder)
    (folder / SPEC_FILE).write_text(json.dumps({**data, "format_version": 99}))
    assert "format_version 99 is not supported" in _load_error(folder)


def test_info_is_a_readable_table(folder):
    result = runner.invoke(app, ["info", str(folder)])
    assert result.exit_code == 0, result.output
    assert "name          tiny-test" in result.output
    assert "n-gram blend  weight 0.3" in result.output
    assert "SHA-256 verified" in result.output


def test_checkpoint_meta_round_trip(tmp_path):
    meta = CheckpointMeta(truncation=Truncation(64, 0.6), head="two_signal", seen_piece_ids=(1, 2, 3))
    write_checkpoint_meta(tmp_path, meta)
    assert read_checkpoint_meta(tmp_path) == meta
    data = json.loads((tmp_path / "training_meta.json").read_text())
    data["truncation"]["max_length"] = "long"
    (tmp_path / "training_meta.json").write_text(json.dumps(data))
    with pytest.raises(ModelFormatError, match="max_length: expected int"):
        read_checkpoint_meta(tmp_path)


def test_spec_validates_its_fields():
    from nlp.model_folder import ModelSpec

    with pytest.raises(ModelFormatError, match="head must be one of"):
        ModelSpec(name="x", head="tree")
    with pytest.raises(ModelFormatError, match="max_length"):
        Truncation(2)
    spec = ModelSpec(name="x")
    assert dataclasses.replace(spec, name="y").name == "y"


def test_truncated_ngram_file_with_a_matching_hash_is_refused(folder):
    """Hashes recomputed over a broken file (a careless re-export): the file itself is checked too."""
    path = folder / "ngram.npz"
    path.write_bytes(path.read_bytes()[:100])
    spec = read_model_spec(folder, verify=False)
    write_model_spec(folder, dataclasses.replace(spec, files={}))
    assert "not a valid n-gram file" in _load_error(folder)


def test_broken_spec_file_is_refused(folder):
    (folder / SPEC_FILE).write_text('{"name": "tiny-test", "labels": [')
    assert SPEC_FILE in _load_error(folder)
