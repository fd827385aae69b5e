"""Inference backends: what runs a model folder's graph on the CPU.

A backend takes padded ``input_ids`` / ``attention_mask`` batches and returns
logits. ONNX Runtime is always available; OpenVINO reads the same ONNX file when
the ``openvino`` extra is installed. ``auto`` (:func:`choose_backend`) picks
ONNX Runtime: OpenVINO was faster on the project's benchmark CPU only with its
default bf16 precision, which made a note's scores depend on its batch; asked for
f32, as it is here, it ran the shipped graph at 74 notes/s against ONNX Runtime's 81.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from nlp.errors import ModelFormatError, require_extra
from nlp.model_folder import ONNX_LABELS_KEY


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


class OpenVinoBackend:
    """OpenVINO on the CPU, reading the model folder's ONNX file.

    Sequences are padded to a multiple of :data:`PAD_MULTIPLE`: OpenVINO picks its
    kernels by sequence length, and with lengths aligned a note's scores are the
    same whatever batch it is in (padding is masked, so it changes nothing else).

    Args:
        path: the ONNX graph.
        threads: inference threads; OpenVINO's default (all cores) when None.

    Raises:
        MissingDependencyError: openvino is not installed.
        ModelFormatError: OpenVINO cannot read or compile the graph.
    """

    name = "openvino"
    PAD_MULTIPLE = 16

    def __init__(self, path: Path, threads: int | None = None) -> None:
        try:
            import openvino as ov
        except ImportError as exc:
            raise require_extra("openvino", "openvino") from exc
        core = ov.Core()
        # f32 for the parts of the graph that are not int8: OpenVINO's default on a CPU with
        # avx512_bf16 is bf16, and with it a note's scores depended on its batch (up to 0.73).
        config = {"PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_PRECISION_HINT": "f32"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        try:
            self._model = core.read_model(str(path))
            self._compiled = core.compile_model(self._model, "CPU", config)
        except Exception as exc:  # openvino raises RuntimeError subclasses of its own
            raise ModelFormatError(f"{path}: OpenVINO cannot load it ({exc})") from exc
        self._request = threading.local()
        self._inputs = {i.get_any_name() for i in self._compiled.inputs}
        self.threads = threads
        self.path = path

    @property
    def labels(self) -> tuple[str, ...] | None:
        """The label order written into the graph's metadata, if any."""
        try:
            value = self._model.get_rt_info(["framework", ONNX_LABELS_KEY]).astype(str)
        except RuntimeError:
            return None
        return tuple(json_list(value))

    @property
    def n_outputs(self) -> int | None:
        """The size of the logits' last axis, when the graph states it."""
        dim = self._compiled.outputs[0].get_partial_shape()[-1]
        return dim.get_length() if dim.is_static else None

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """Logits ``[batch, n_labels]`` (float32) for one padded batch."""
        extra = -input_ids.shape[1] % self.PAD_MULTIPLE
        if extra:
            input_ids = np.pad(input_ids, ((0, 0), (0, extra)))
            attention_mask = np.pad(attention_mask, ((0, 0), (0, extra)))
        if not hasattr(self._request, "value"):  # one infer request per thread: safe to share the backend
            self._request.value = self._compiled.create_infer_request()
        feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
        result = self._request.value.infer({k: v for k, v in feeds.items() if k in self._inputs})
        return np.asarray(result[self._compiled.outputs[0]], dtype=np.float32)

    def info(self) -> dict[str, Any]:
        """What runs the model, for benchmarks and logs."""
        return {
            "backend": self.name,
            "file": self.path.name,
            "threads": self._compiled.get_property("INFERENCE_NUM_THREADS"),
            "precision": str(self._compiled.get_property("INFERENCE_PRECISION_HINT")),
        }


BACKENDS = {"onnxruntime": OnnxRuntimeBackend, "openvino": OpenVinoBackend}
BACKEND_CHOICES = ("auto", *BACKENDS)


def choose_backend(name: str = "auto") -> str:
    """The backend ``auto`` means: ONNX Runtime (see the module's docstring for why).

    Raises:
        ValueError: an unknown backend name.
    """
    if name not in BACKEND_CHOICES:
        raise ValueError(f"unknown backend {name!r}; expected one of {', '.join(BACKEND_CHOICES)}")
    if name != "auto":
        return name
    return "onnxruntime"


def load_backend(name: str, path: Path, threads: int | None) -> OnnxRuntimeBackend | OpenVinoBackend:
    """Create the named backend (or the one ``auto`` picks) for a graph.

    Raises:
        ValueError: an unknown backend name.
        MissingDependencyError: the backend's package is not installed.
        ModelFormatError: the chosen backend cannot load the graph.
    """
    return BACKENDS[choose_backend(name)](path, threads)
