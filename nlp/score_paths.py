"""Where a scoring job writes, decided and checked before a row is read.

The output, the errors file and the summary are checked for a usable folder, for
``--no-clobber``, and against each other and the input: no job may write over
its own input or write two of its files to one path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from nlp.atomic import check_output_path
from nlp.compression import split_suffixes
from nlp.errors import OutputPathError
from nlp.formats import FORMATS, Format
from nlp.io import check_input, detect_format

ERRORS_SUFFIX = ".errors.jsonl"


@dataclass(frozen=True)
class OutputPlan:
    """The files of one scoring job, checked.

    Attributes:
        input: the input path, or ``-``.
        output: the output path, or ``-``.
        errors: where rows that cannot be scored go.
        summary: where the JSON summary goes, or None.
        input_format: the input's format.
        output_format: the output's format.
        review: where the review queue goes (``--review``), or None.
    """

    input: str
    output: str
    errors: str
    summary: str | None
    input_format: Format
    output_format: Format
    review: str | None = None


def default_errors_path(output: str | Path, input_path: str | Path) -> Path:
    """Where the errors file goes when ``--errors`` is not given.

    Named after the whole output name less its format and compression suffixes
    (``scored.2024-01.jsonl.gz`` → ``scored.2024-01.errors.jsonl``), beside it; beside
    the input when writing to stdout; ``notescore.errors.jsonl`` in the working
    folder when both are streams.

    Example:
        >>> str(default_errors_path("runs/scored.2024-01.jsonl", "in.csv"))
        'runs/scored.2024-01.errors.jsonl'
    """
    base = str(output) if str(output) != "-" else str(input_path)
    if base == "-":
        return Path("notescore" + ERRORS_SUFFIX)
    p = Path(base)
    name = p.name
    suffixes, compression = split_suffixes(name)
    if compression is not None:
        name = name[: -len(compression.suffix)]
    known = {e for f in FORMATS.values() for e in f.extensions}
    if suffixes and suffixes[-1] in known and len(name) > len(suffixes[-1]):
        name = name[: -len(suffixes[-1])]
    return p.with_name(name + ERRORS_SUFFIX)


def _identity(path: str) -> tuple:
    """What makes two paths one file: the same inode, or the same resolved path."""
    try:
        st = os.stat(path)
        return ("inode", st.st_dev, st.st_ino)
    except OSError:
        return ("path", os.path.realpath(path))


def refuse_collisions(paths: dict[str, str | None]) -> None:
    """Refuse two roles (input, output, errors file, summary) that name one file.

    Args:
        paths: role (as the user would name it: ``the input``, ``-o``) → path; ``-``
            and None are skipped.

    Raises:
        OutputPathError: naming both roles.
    """
    seen: dict[tuple, str] = {}
    for role, path in paths.items():
        if path is None or path == "-":
            continue
        for key in {_identity(path), ("path", os.path.realpath(path))}:
            if key in seen:
                raise OutputPathError(
                    f"{role} {path} is the same file as {seen[key]}; nothing done. Choose another path"
                )
        seen.update(dict.fromkeys({_identity(path), ("path", os.path.realpath(path))}, role))


def plan_outputs(
    input_path: str | Path,
    output_path: str | Path,
    *,
    input_format: Format | str | None = None,
    output_format: Format | str | None = None,
    errors_path: str | Path | None = None,
    summary_path: str | Path | None = None,
    no_clobber: bool = False,
    mkdir: bool = False,
    review_path: str | Path | None = None,
) -> OutputPlan:
    """Check a job's input and outputs before anything is read or written.

    Raises:
        InputFormatError: the input is missing, a folder, or of an unknown format.
        OutputPathError: an output's folder is missing (without ``mkdir``) or not
            writable; an output exists under ``no_clobber``; two of the job's
            files are one file; a format cannot be written.
    """
    source, target = str(input_path), str(output_path)
    in_fmt = detect_format(source, input_format)
    out_fmt = detect_format(target, output_format, output=True)
    if out_fmt.needs_path and target == "-":
        raise OutputPathError(f"{out_fmt.name} cannot be written to stdout; pass -o FILE{out_fmt.extensions[0]}")
    check_input(source)
    errors = str(errors_path) if errors_path is not None else str(default_errors_path(target, source))
    if errors == "-":
        raise OutputPathError("--errors -: expected a file path (the output may be on stdout)")
    summary = str(summary_path) if summary_path is not None else None
    if summary == "-" and target == "-":
        raise OutputPathError("--summary-json - and the output would both go to stdout; give one of them a file path")
    review = str(review_path) if review_path is not None else None
    if review == "-":
        raise OutputPathError("--review -: expected a file path for the review queue (JSON Lines)")
    roles = {"the input": source, "-o/--output": target, "--errors": errors, "--summary-json": summary,
             "--review": review}  # fmt: skip
    refuse_collisions(roles)
    for role, path in (("output", target), ("errors file", errors), ("summary", summary), ("review queue", review)):
        if path is None or path == "-":
            continue
        check_output_path(path, role, mkdir=mkdir)
        if no_clobber and Path(path).exists():
            raise OutputPathError(f"{role} {path} exists (--no-clobber); nothing done")
    return OutputPlan(source, target, errors, summary, in_fmt, out_fmt, review)
