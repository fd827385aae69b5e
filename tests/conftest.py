"""Shared fixtures: a tiny model folder, hermetic environment."""

from __future__ import annotations

import pytest

from tests.tiny_model import build_model_folder


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch, tmp_path_factory):
    """No network, caches in tmp, no shipped model picked up by accident."""
    cache = tmp_path_factory.getbasetemp() / "cache"
    monkeypatch.setenv("NOTESCORE_CACHE", str(cache))
    monkeypatch.setenv("HF_HOME", str(cache / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.delenv("NOTESCORE_MODEL", raising=False)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A complete notescore model folder with a bag-of-embeddings ONNX graph."""
    return build_model_folder(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def classifier(tiny_model):
    from nlp import NoteClassifier

    return NoteClassifier.load(tiny_model, threads=1, batch_size=4)
