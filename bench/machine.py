"""The machine a benchmark ran on: CPU model, cores, the instruction-set flags that decide speed, versions."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

VERSIONS = ("notescore", "onnxruntime", "openvino", "nncf", "torch", "transformers", "tokenizers", "onnx", "numpy",
            "jieba")  # fmt: skip
# The flags that pick kernels for int8 / bf16 / fp32 inference, in display order.
SPEED_FLAGS = ("avx2", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx_vnni",
               "amx_tile", "amx_int8", "amx_bf16", "amx_fp16")  # fmt: skip


def cpu_flags(cpuinfo: str) -> dict[str, Any]:
    """The model name and speed-relevant flags from the text of /proc/cpuinfo.

    Args:
        cpuinfo: the file's text (its first processor block is read).

    Returns:
        ``{"model": str, "flags": [present SPEED_FLAGS in order], "avx512": [every avx512* flag],
        "amx": bool}``.
    """
    model, flags = "unknown", set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model == "unknown":
            model = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    return {
        "model": model,
        "flags": [f for f in SPEED_FLAGS if f in flags],
        "avx512": sorted(f for f in flags if f.startswith("avx512")),
        "amx": any(f.startswith("amx") for f in flags),
    }


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _memory_bytes() -> int | None:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return None


def _versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in VERSIONS:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def machine_info() -> dict[str, Any]:
    """CPU (model, flags, AMX or not), cores, memory, versions and the load average at the start."""
    cpu = cpu_flags(_read("/proc/cpuinfo"))
    if cpu["model"] == "unknown":
        cpu["model"] = platform.processor() or "unknown"
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu["model"],
        "cpu_flags": cpu["flags"],
        "avx512": cpu["avx512"],
        "amx": cpu["amx"],
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_bytes": _memory_bytes(),
        "platform": platform.platform(),
        "versions": _versions(),
        "load_average_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
