"""notescore's per-user cache folder (``$NOTESCORE_CACHE``, else
``$XDG_CACHE_HOME/notescore``, else ``~/.cache/notescore``).

Caches that are loaded with ``marshal`` or ``pickle`` (jieba's prefix
dictionary) must never come from a folder other users can write to, such as the
shared temporary folder: a planted file would run as our code. A folder is used
only when it belongs to this user and nobody else may write to it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def cache_root() -> Path:
    """The cache root (it may not exist yet)."""
    if os.environ.get("NOTESCORE_CACHE"):
        return Path(os.environ["NOTESCORE_CACHE"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "notescore"
    return Path.home() / ".cache" / "notescore"


def is_private(folder: Path) -> bool:
    """Whether ``folder`` is a real folder of this user that no one else can write to."""
    try:
        st = os.lstat(folder)
    except OSError:
        return False
    if not stat.S_ISDIR(st.st_mode) or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return False
    return not hasattr(os, "getuid") or st.st_uid == os.getuid()


def private_cache_dir(name: str) -> Path | None:
    """``<cache root>/<name>``, created with mode 0700, or None when it cannot be made private.

    Args:
        name: the sub-folder (``jieba``).
    """
    folder = cache_root() / name
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        return None
    return folder if is_private(folder) else None
