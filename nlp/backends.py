"""Inference backends: what runs a model folder's graph on the CPU.

A backend takes padded ``input_ids`` / ``attention_mask`` batches and returns
logits. ONNX Runtime is the default and always available.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from nlp.errors import ModelFormatError, require_extra
from nlp.model_folder import ONNX_LABELS_KEY

log = logging.getLogger(__name__)


class OnnxRuntimeBackend:
    """ONNX Runtime on the CPU.

    Args:
        path: the ONNX graph.
        threads: intra-op threads; ONNX Runtime's default (all cores) when None.

    Raises:
        MissingDependencyError: onnxruntime is not installed.
        ModelFormatError: ONNX Runtime cannot load the graph.
    """

    name = "onnxruntime"

    def __init__(self, path: Path, threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise require_extra("onnxruntime", "notescore") from exc
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise ModelFormatError(f"{path}: ONNX Runtime cannot load it ({exc})") from exc
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.threads = threads
        self.path = path

    @property
    def labels(self) -> tuple[str, ...] | None:
        """The label order written into the graph's metadata, if any."""
        value = self._session.get_modelmeta().custom_metadata_map.get(ONNX_LABELS_KEY)
        return tuple(json_list(value)) if value else None

    @property
    def n_outputs(self) -> int | None:
        """The size of the logits' last axis, when the graph states it."""
        size = self._session.get_outputs()[0].shape[-1]
        return size if isinstance(size, int) else None

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """Logits ``[batch, n_labels]`` (float32) for one padded batch."""
        feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
        feeds = {k: v for k, v in feeds.items() if k in self._inputs}
        return self._session.run(None, feeds)[0].astype(np.float32)

    def info(self) -> dict[str, Any]:
        """What runs the model, for benchmarks and logs."""
        options = self._session.get_session_options()
        return {
            "backend": self.name,
            "file": self.path.name,
            "intra_op_threads": options.intra_op_num_threads,
            "providers": self._session.get_providers(),
        }


def json_list(value: str) -> list[str]:
    """Parse the label list stored in graph metadata (a JSON list of strings)."""
    import json

    try:
        data = json.loads(value)
    except json.JSONDecodeError as exc:
        raise ModelFormatError(f"the graph's {ONNX_LABELS_KEY} metadata is not a JSON list ({exc})") from exc
    if not isinstance(data, list) or not all(isinstance(x, str) for x in data):
        raise ModelFormatError(f"the graph's {ONNX_LABELS_KEY} metadata must be a list of label names")
    return data


BACKENDS = {"onnxruntime": OnnxRuntimeBackend}


def load_backend(name: str, path: Path, threads: int | None) -> OnnxRuntimeBackend:
    """Create the named backend for a graph.

    Raises:
        ValueError: an unknown backend name.
    """
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; expected one of {', '.join(BACKENDS)}")
    return BACKENDS[name](path, threads)
