"""Running one measurement in a fresh interpreter: its wall time and its own peak RSS (VmHWM)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORKER = BENCH / "_worker.py"


def run_worker(mode: str, args: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
    """Run bench/_worker.py in a fresh interpreter; add its wall time and peak RSS (its own VmHWM)."""
    with tempfile.TemporaryDirectory(prefix="notescore-bench-") as tmp:
        result_path = Path(tmp) / "result.json"
        env = {**os.environ, "BENCH_RESULT": str(result_path), "PYTHONHASHSEED": "0"}
        return _spawn([sys.executable, str(WORKER), mode, json.dumps(args)], env, result_path, timeout)


# Runs `python -m nlp ARGS` in-process and records the process's own peak RSS
# (VmHWM, with the workers' _emit) at exit. wait4's ru_maxrss would also count the
# parent's memory at fork time (this script holds GBs of torch weights by then).
_HWM_SHIM = f"""
import atexit, runpy, sys
sys.path.insert(0, {str(BENCH)!r})
from _worker import _emit
atexit.register(_emit, {{}})
sys.argv = ['notescore'] + sys.argv[1:]
try:
    runpy.run_module('nlp', run_name='__main__')
except SystemExit as exc:
    if exc.code not in (0, 3, None):
        raise
"""


def run_command(argv: list[str], timeout: float | None = None) -> dict[str, Any]:
    """Run a command (the real `notescore score`); wall time and peak RSS."""
    if argv[1:3] == ["-m", "nlp"]:
        with tempfile.TemporaryDirectory(prefix="notescore-bench-") as tmp:
            result_path = Path(tmp) / "result.json"
            env = {**os.environ, "BENCH_RESULT": str(result_path)}
            return _spawn([argv[0], "-c", _HWM_SHIM, *argv[3:]], env, result_path, timeout)
    return _spawn(argv, dict(os.environ), None, timeout)


def _spawn(argv, env, result_path: Path | None, timeout) -> dict[str, Any]:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=str(ROOT))
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    if proc.returncode not in (0, 3) or (result_path is not None and not result_path.is_file()):
        raise RuntimeError(f"{' '.join(map(str, argv[:4]))} failed (exit {proc.returncode}):\n{stderr[-4000:]}")
    result = json.loads(result_path.read_text()) if result_path is not None else {}
    result.update(
        wall_s=wall,
        t_spawn=start,
        # The process's own VmHWM when it reported one; ru_maxrss (KiB) also counts
        # the parent's memory at fork time.
        peak_rss_bytes=result.get("hwm_bytes") or usage.ru_maxrss * 1024,
        exit_code=proc.returncode,
        stderr_tail=stderr[-600:],
    )
    return result
