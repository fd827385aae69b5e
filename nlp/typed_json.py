"""Typed JSON: dataclasses to and from JSON objects, strictly, and atomic JSON files.

Used by :mod:`nlp.model_folder` (the one owner of the model-folder and checkpoint
formats) to read and write its dataclasses; nothing here knows those formats.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import types
import typing
from pathlib import Path
from typing import Any

from nlp.errors import ModelFormatError, ModelNotFoundError


def to_json(value: Any) -> Any:
    """A dataclass (nested dataclasses, tuples, dicts) as plain JSON values."""
    if dataclasses.is_dataclass(value):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    return value


def from_json(cls: type, data: Any, where: str) -> Any:
    """Build dataclass ``cls`` from parsed JSON, refusing unknown keys and wrong types.

    Raises:
        ModelFormatError: naming ``where`` and the key at fault.
    """
    if not isinstance(data, dict):
        raise ModelFormatError(f"{where}: expected a JSON object; found {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ModelFormatError(f"{where}: unknown keys {unknown}; this notescore reads {sorted(names)}")
    kwargs = {key: _coerce(hints[key], value, f"{where}.{key}") for key, value in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ModelFormatError(f"{where}: {exc}") from exc


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(inner, value, where)
    if dataclasses.is_dataclass(hint):
        return from_json(hint, value, where)
    if origin is tuple:
        if not isinstance(value, list):
            raise ModelFormatError(f"{where}: expected a list; found {type(value).__name__}")
        return tuple(_coerce(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise ModelFormatError(f"{where}: expected an object; found {type(value).__name__}")
        return dict(value)
    expected = {int: (int,), float: (int, float), str: (str,), bool: (bool,)}.get(hint)
    if expected and (not isinstance(value, expected) or (hint is not bool and isinstance(value, bool))):
        raise ModelFormatError(f"{where}: expected {hint.__name__}; found {value!r}")
    return float(value) if hint is float else value


def write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as indented UTF-8 JSON under a temporary name, then rename it into place."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json_object(path: Path, missing: str) -> dict[str, Any]:
    """Read a JSON file that must hold an object.

    Args:
        path: the file.
        missing: the message when it does not exist.

    Raises:
        ModelNotFoundError: the file is missing (with ``missing``).
        ModelFormatError: not JSON, or not an object.
    """
    if not path.is_file():
        raise ModelNotFoundError(missing)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFormatError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ModelFormatError(f"{path}: expected a JSON object; found {type(data).__name__}")
    return data
