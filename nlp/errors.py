"""Errors raised by notescore.

Every error the library raises on purpose is a :class:`NotescoreError`. Each
subclass also derives from the builtin it resembles, so callers that already
catch ``FileNotFoundError`` or ``ValueError`` keep working.
"""

from __future__ import annotations


class NotescoreError(Exception):
    """Base class of every error notescore raises on purpose."""


class ModelNotFoundError(NotescoreError, FileNotFoundError):
    """A model folder, or a file it must hold, does not exist."""


class ModelFormatError(NotescoreError, ValueError):
    """A model folder exists but is not a valid notescore model."""


class InputFormatError(NotescoreError, ValueError):
    """An input file cannot be read in the format asked for (or detected)."""


class OutputPathError(NotescoreError, ValueError):
    """An output path cannot be used: its folder is missing, it is a folder, it is the
    input or another output of the same job, or it exists under ``--no-clobber``."""


class RecordError(NotescoreError, ValueError):
    """One input record cannot be scored.

    Attributes:
        line: 1-based line (JSON Lines, CSV), row (Parquet) or element (JSON
            array) number, or the 0-based index for in-memory lists.
        reason: why the record was rejected, in words.
        raw: the raw line or a JSON rendering of the record, for the errors file.
        unit: how the message names ``line`` (``line``, ``item``).
    """

    def __init__(self, line: int, reason: str, raw: str = "", unit: str = "line") -> None:
        super().__init__(f"{unit} {line}: {reason}")
        self.line = line
        self.reason = reason
        self.raw = raw
        self.unit = unit


class DecodeError(RecordError):
    """A row whose bytes are not valid text in the file's encoding."""


class MissingDependencyError(NotescoreError, ImportError):
    """An optional dependency (an extra) is not installed."""


def require_extra(module: str, extra: str) -> MissingDependencyError:
    """Build the error for a missing optional dependency.

    Args:
        module: the module that failed to import.
        extra: the notescore extra that provides it.

    Returns:
        A :class:`MissingDependencyError` naming the install command.
    """
    return MissingDependencyError(
        f"{module} is not installed; it comes with the {extra!r} extra: pip install 'notescore[{extra}]'"
    )
