"""The note record, defined once: where its text and title are, what a labelled
note must carry, and how labelled files are read.

Scoring, training, evaluation, the corpus tools and bench all read notes through
here. A record is a JSON object (a JSON Lines line, a CSV row, a Parquet row):

- the body: the first present of :data:`TEXT_FIELDS` (or a field the user names);
- ``title``: optional;
- for labelled data (LABELS.md): ``label`` (one of the labels), or for sources
  that only tell one side, ``labels_allowed`` (the labels the note may have);
  optional ``id``, ``keywords``, ``source``, ``lang``, ``promo`` (a
  ``possibly_false`` note that also promotes something).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlp.encoding import clean_text, compose_text, has_visible_text
from nlp.errors import DecodeError, InputFormatError, NotescoreError, RecordError
from nlp.io import raw_of, read_records

TEXT_FIELDS = ("text", "content", "desc", "description", "body", "note")
OUTPUT_KEY = "notescore"
# Rows looked at before a job whose rows all lack the text field is stopped.
PROBE_ROWS = 50


def result_fields(prefix: str, labels: Iterable[str], evidence: bool = False) -> list[str]:
    """The flat columns of the results, in order (``notescore_label``, a score per label, keywords,
    and with ``--explain`` the evidence)."""
    fields = [f"{prefix}_label", *(f"{prefix}_{label}" for label in labels), f"{prefix}_keywords"]
    return [*fields, f"{prefix}_evidence"] if evidence else fields


def flatten(record: dict[str, Any], prefix: str = OUTPUT_KEY) -> dict[str, Any]:
    """The CSV/Parquet form of a scored record: ``notescore_*`` columns.

    Example:
        >>> flatten({"id": 1, "notescore": {"label": "genuine", "scores":
        ...     {"genuine": 1.0}, "keywords": ["a", "b"]}})["notescore_keywords"]
        'a|b'
    """
    out = {k: v for k, v in record.items() if k != prefix}
    result = record.get(prefix)
    if result is not None:
        out[f"{prefix}_label"] = result["label"]
        for label, p in result["scores"].items():
            out[f"{prefix}_{label}"] = p
        out[f"{prefix}_keywords"] = "|".join(result["keywords"])
        if "evidence" in result:  # --explain: the evidence list as JSON text
            out[f"{prefix}_evidence"] = json.dumps(result["evidence"], ensure_ascii=False)
    return out


class MissingTextError(RecordError):
    """A record without a usable text field: the field is absent or not text."""


class TextFieldError(InputFormatError):
    """The first rows of a dump all lack a usable text field: the wrong ``--text-field``."""


def text_field_hint(fields: dict[str, Any]) -> str:
    """The fix to suggest for a record without its text field (`` Use --text-field desc?``).

    Args:
        fields: a record, or field names mapped to an example value.
    """
    keys = list(fields)
    if len(keys) == 1 and isinstance(keys[0], str):
        for sep, shown in ((";", "';'"), ("\t", "tab"), ("|", "'|'")):
            if sep in keys[0]:
                return f" The header looks {shown}-separated: pass --delimiter {shown}."
    texts = {k: v for k, v in fields.items() if isinstance(v, str) and len(clean_text(v)) >= 10}
    if texts:
        return f" Use --text-field {max(texts, key=lambda k: len(texts[k]))}?"
    return " Use --text-field NAME."


def pick_text(
    record: dict[str, Any], line: int, text_field: str | None = None, title_field: str | None = None
) -> tuple[str, str | None]:
    """Find a record's body and title.

    Args:
        record: one input record.
        line: its line number, for messages.
        text_field: the body field; the first present of :data:`TEXT_FIELDS` when None.
        title_field: the title field; ``title`` when present if None.

    Returns:
        ``(body, title)``; a body or title stored as UTF-8 bytes (a Parquet binary
        column) is decoded.

    Raises:
        MissingTextError: no text field, or a text that is not a string.
        RecordError: a text that is empty, also once invisible characters are removed.

    Example:
        >>> pick_text({"desc": "好吃", "title": "火锅"}, 1)
        ('好吃', '火锅')
    """
    name = body_field(record, text_field)
    if name is None:
        wanted = f"no {text_field!r} field" if text_field else f"no text field (looked for {', '.join(TEXT_FIELDS)})"
        keys = list(record)[:12]
        raise MissingTextError(line, f"{wanted}; found keys {keys}.{text_field_hint(record)}", raw_of(record))
    text = _as_text(record[name])
    if not isinstance(text, str):
        found = type(record[name]).__name__
        raise MissingTextError(line, f"field {name!r} is {found}, expected a string", raw_of(record))
    title = _as_text(record.get(title_field or "title"))
    if title is not None and not isinstance(title, str):
        if title_field:
            found = type(title).__name__
            raise MissingTextError(line, f"field {title_field!r} is {found}, expected a string", raw_of(record))
        title = None
    if not has_visible_text(text) and not has_visible_text(title or ""):
        invisible = " after removing invisible characters" if text.strip() else ""
        raise RecordError(line, f"field {name!r} is empty{invisible}", raw_of(record))
    return text, title


def body_field(record: dict[str, Any], text_field: str | None = None) -> str | None:
    """The name of the field :func:`pick_text` reads the body from (None when there is none).

    Example:
        >>> body_field({"title": "火锅", "desc": "好吃"})
        'desc'
    """
    candidates = (text_field,) if text_field else TEXT_FIELDS
    # A column present but null (union schemas of CSV/Parquet exports) does not count.
    name = next((c for c in candidates if record.get(c) is not None), None)
    if name is None and text_field and text_field in record:
        name = text_field
    return name


def _as_text(value: Any) -> Any:
    """UTF-8 bytes (a Parquet binary column) as text; anything else as it is."""
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return value
    return value


def probe_text_field(
    records: Iterable[tuple[int, Any]],
    text_field: str | None = None,
    title_field: str | None = None,
    name: str = "-",
    rows: int = PROBE_ROWS,
) -> Iterator[tuple[int, Any]]:
    """Stop a job that is plainly misconfigured, before anything is written.

    Reads up to ``rows`` rows ahead, until one has its text, then returns the rows
    read plus the rest, unchanged.

    Raises:
        TextFieldError: no row read has the text field and some lack it (the wrong
            ``--text-field``); the message lists the fields found and suggests one.
        InputFormatError: every row read is undecodable (the wrong ``--encoding``).
    """
    it = iter(records)
    seen: list[tuple[int, Any]] = []
    failed: list[tuple[int, dict[str, Any], MissingTextError]] = []
    for line, item in it:
        seen.append((line, item))
        if not isinstance(item, RecordError):
            try:
                pick_text(item, line, text_field, title_field)
                return itertools.chain(seen, it)
            except MissingTextError as err:
                failed.append((line, item, err))
            except RecordError:
                return itertools.chain(seen, it)
        if len(seen) >= rows:
            break
    if failed:
        raise TextFieldError(_probe_message(failed, text_field, name))
    if seen and all(isinstance(item, DecodeError) for _, item in seen):
        what = f"the first {len(seen)} rows are" if len(seen) > 1 else "the first row is"
        raise InputFormatError(f"{name}: {what} not valid text ({seen[0][1].reason}); nothing scored")
    return itertools.chain(seen, it)


def _probe_message(
    failed: list[tuple[int, dict[str, Any], MissingTextError]], text_field: str | None, name: str
) -> str:
    examples: dict[str, Any] = {}
    for _, record, _ in failed:
        for key, value in record.items():
            if key not in examples or (isinstance(value, str) and len(value) > len(str(examples[key]))):
                examples[key] = value
    n = len(failed)
    first = failed[0][2].reason.split(";")[0]
    rows = f"the first {n} rows have" if n > 1 else "the first row has"
    return (
        f"{name}: {rows} no usable text ({first}); nothing scored. "
        f"Fields found: {list(examples)[:20]}.{text_field_hint(examples)}"
    )


@dataclass(frozen=True)
class LabelledNote:
    """One labelled note, ready for training or evaluation.

    Attributes:
        text: title and body composed as the model reads them.
        allowed: the labels the note may have (one for a fully labelled note).
        source: where it came from (the record's ``source``, else the file name).
        label: the label, or None for a one-sided row.
        body: the body alone.
        title: the title, if any.
        keywords: gold keywords, if any.
        promo: for a ``possibly_false`` note, whether it also promotes something
            (None when not said).
        id: the record's ``id``, if any.
        subtype: the record's ``subtype`` (a corpus's sub-type of note), if any.
    """

    text: str
    allowed: tuple[str, ...]
    source: str
    label: str | None = None
    body: str = ""
    title: str | None = None
    keywords: tuple[str, ...] = ()
    promo: bool | None = None
    id: str = ""
    subtype: str = ""


def labelled_note(record: dict[str, Any], line: int, labels: Sequence[str], default_source: str = "") -> LabelledNote:
    """Validate one labelled record.

    Args:
        record: the parsed record.
        line: its line number, for messages.
        labels: the model's labels.
        default_source: ``source`` when the record has none.

    Returns:
        The :class:`LabelledNote`.

    Raises:
        RecordError: no usable text, or neither a known ``label`` nor a valid
            ``labels_allowed``.
    """
    body, title = pick_text(record, line)
    label, allowed = record.get("label"), record.get("labels_allowed")
    if label in labels:
        allowed_t = (label,)
    elif isinstance(allowed, (list, tuple)) and allowed and set(allowed) <= set(labels):
        allowed_t, label = tuple(allowed), None
    else:
        raise RecordError(
            line, f"label {label!r} is not one of {list(labels)} (or give labels_allowed)", raw_of(record)
        )
    keywords = record.get("keywords")
    keywords_t = tuple(k for k in keywords if isinstance(k, str)) if isinstance(keywords, list) else ()
    promo = record.get("promo")
    return LabelledNote(
        text=compose_text(body, title),
        allowed=allowed_t,
        source=str(record.get("source") or default_source),
        label=label,
        body=body,
        title=title,
        keywords=keywords_t,
        promo=promo if isinstance(promo, bool) else None,
        id=str(record.get("id") or ""),
        subtype=str(record.get("subtype") or ""),
    )


class LabelledDataError(NotescoreError, ValueError):
    """Labelled data that cannot be used as a whole (its bad rows are listed)."""


def iter_labelled(path: str, labels: Sequence[str]) -> Iterator[tuple[int, LabelledNote | RecordError]]:
    """Read one labelled file: ``(line, note or RecordError)`` for every row.

    ``source`` defaults to the file name without extensions.
    """
    source = Path(path).name.split(".")[0] if path != "-" else "stdin"
    for line, item in read_records(path):
        if isinstance(item, RecordError):
            yield line, item
            continue
        try:
            yield line, labelled_note(item, line, labels, source)
        except RecordError as err:
            yield line, err


def read_labelled(paths: Sequence[str], labels: Sequence[str], max_errors: int = 10) -> list[LabelledNote]:
    """Read labelled files, refusing them when any row is unusable.

    Training on a silently shortened file is worse than stopping, so every bad row
    is collected and the first ``max_errors`` are listed.

    Raises:
        InputFormatError: a file cannot be opened.
        LabelledDataError: some rows cannot be used, or there are none.
    """
    notes: list[LabelledNote] = []
    problems: list[str] = []
    for path in paths:
        for line, item in iter_labelled(str(path), labels):
            if isinstance(item, RecordError):
                problems.append(f"{path} line {line}: {item.reason}")
            else:
                notes.append(item)
    if problems:
        shown = "\n  ".join(problems[:max_errors])
        more = f"\n  … and {len(problems) - max_errors} more" if len(problems) > max_errors else ""
        raise LabelledDataError(f"{len(problems)} labelled rows cannot be used:\n  {shown}{more}")
    if not notes:
        raise LabelledDataError(f"no labelled rows found in {', '.join(map(str, paths))}")
    return notes


def note_record(note: LabelledNote) -> dict[str, Any]:
    """A labelled note back as a record (for dev files written beside a checkpoint)."""
    record: dict[str, Any] = {"text": note.body, "source": note.source}
    if note.title:
        record["title"] = note.title
    if note.label is not None:
        record["label"] = note.label
    else:
        record["labels_allowed"] = list(note.allowed)
    if note.promo is not None:
        record["promo"] = note.promo
    if note.keywords:
        record["keywords"] = list(note.keywords)
    return record


def write_records(path: str | Path, records: Sequence[dict[str, Any]]) -> None:
    """Write records as JSON Lines (a small helper for tools and tests)."""
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
