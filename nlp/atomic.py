"""Files written whole or not at all.

An output is written to ``.NAME.notescore-PID.part`` beside it and renamed into
place at the end, so an interrupted run never leaves a file that looks complete.
The temporary name carries the writer's process id: a later run writing the same
NAME removes the leftovers of processes that are gone (killed with SIGKILL, a
machine that lost power). Files are created with the user's umask, as ``cp``
creates them, and a replaced file keeps its mode.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import sys
from pathlib import Path
from typing import IO

from nlp.compression import split_suffixes
from nlp.errors import OutputPathError

log = logging.getLogger(__name__)
TEMP_MARK = ".notescore-"
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


def temp_path(target: Path, pid: int | None = None) -> Path:
    """The temporary file a process writes ``target`` under.

    Example:
        >>> temp_path(Path("out/scored.jsonl"), 42).name
        '.scored.jsonl.notescore-42.part'
    """
    return target.with_name(f".{target.name}{TEMP_MARK}{os.getpid() if pid is None else pid}.part")


def _alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill would terminate it there; never guess
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_leftovers(target: Path) -> list[Path]:
    """Remove the temporary files of ``target`` left by processes that no longer run.

    Returns:
        The files removed.
    """
    pattern = re.compile(re.escape(f".{target.name}{TEMP_MARK}") + r"(\d+)\.part")
    removed: list[Path] = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return removed
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match and int(match.group(1)) != os.getpid() and not _alive(int(match.group(1))):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
                log.info("removed %s, left by an interrupted run", entry.path)
    return removed


def check_output_path(path: str | Path, what: str = "output", mkdir: bool = False) -> None:
    """Refuse an output path that cannot be written, before anything is read.

    Args:
        path: the file to write, or ``-`` for stdout.
        what: how messages name it (``output``, ``errors file``).
        mkdir: create a missing folder instead of refusing.

    Raises:
        OutputPathError: it is a folder, its folder is missing (without ``mkdir``)
            or not writable.
    """
    if str(path) == "-":
        return
    target = Path(path)
    if target.is_dir():
        raise OutputPathError(f"{what} {path} is a folder; expected a file path")
    folder = target.parent
    if not folder.exists():
        if not mkdir:
            fix = " or pass --mkdir" if what in ("output", "errors file", "summary") else ""
            raise OutputPathError(f"{what} folder {folder} does not exist; create it{fix}")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputPathError(f"{what} folder {folder} cannot be created ({exc.strerror})") from exc
    if not folder.is_dir():
        raise OutputPathError(f"{what} {path}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        option = {"errors file": "--errors", "summary": "--summary-json"}.get(what)
        fix = f"; pass {option} PATH to write it elsewhere" if option else ""
        raise OutputPathError(f"{what} {path}: folder {folder} is not writable{fix}")


class AtomicWriter:
    """A binary file written under a temporary name and renamed on :meth:`commit`.

    A ``.gz`` or ``.zst`` target is compressed. ``-`` writes to stdout directly.

    Args:
        path: the final path, or ``-`` for stdout.
        no_clobber: refuse to replace an existing file, also one that appears
            while writing.

    Raises:
        OutputPathError: the target is a folder, its folder does not exist, or it
            exists under ``no_clobber``.
    """

    def __init__(self, path: str | Path, *, no_clobber: bool = False) -> None:
        self.path = str(path)
        self.no_clobber = no_clobber
        self._raw: IO[bytes] | None = None
        self._tmp: Path | None = None
        if self.path == "-":
            self.stream: IO[bytes] = sys.stdout.buffer
            return
        target = Path(self.path)
        check_output_path(target)
        if no_clobber and target.exists():
            raise OutputPathError(f"{self.path} exists (--no-clobber)")
        remove_leftovers(target)
        tmp = temp_path(target)
        tmp.unlink(missing_ok=True)  # this process's own leftover
        # Tracked before it exists, so that a signal at any point leaves nothing behind.
        self._tmp = tmp
        try:
            self._raw = self.stream = os.fdopen(os.open(tmp, _CREATE, 0o666), "wb")
            compression = split_suffixes(self.path)[1]
            if compression is not None:
                self.stream = compression.writer(self._raw)
        except BaseException:
            self.abort()
            raise

    def _close(self) -> None:
        stream = getattr(self, "stream", None)
        if stream is not None and stream is not self._raw:
            stream.close()
        if self._raw is not None:
            self._raw.close()

    def commit(self) -> None:
        """Finish the file and move it into place."""
        if self._tmp is None:
            self.stream.flush()
            return
        tmp, self._tmp = self._tmp, None
        try:
            self._close()
            self._place(tmp)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _place(self, tmp: Path) -> None:
        target = Path(self.path)
        with contextlib.suppress(FileNotFoundError):
            os.chmod(tmp, target.stat().st_mode & 0o7777)  # a replaced file keeps its mode, as with cp
        if not self.no_clobber:
            os.replace(tmp, target)
            return
        try:
            os.link(tmp, target)  # fails if the target appeared meanwhile
        except FileExistsError as exc:
            raise OutputPathError(f"{self.path} appeared while scoring; kept it (--no-clobber)") from exc
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EOPNOTSUPP):
                raise
            if target.exists():
                raise OutputPathError(f"{self.path} appeared while scoring; kept it (--no-clobber)") from exc
            os.replace(tmp, target)
            return
        tmp.unlink()

    def abort(self) -> None:
        """Remove the temporary file (the target is left untouched)."""
        if self._tmp is None:
            return
        tmp, self._tmp = self._tmp, None
        with contextlib.suppress(Exception):
            self._close()
        tmp.unlink(missing_ok=True)
