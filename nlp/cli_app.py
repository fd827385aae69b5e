"""The notescore typer app and what its commands share: exit codes, the one-line
failure, the model loader, and help that shows defaults and no ``<bool>`` for flags.

Commands live in :mod:`nlp.cli_score`, :mod:`nlp.cli_notes` and
:mod:`nlp.cli_model`; :mod:`nlp.cli` puts them together.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperCommand, TyperGroup

from nlp import __version__
from nlp.errors import NotescoreError

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_ROWS_FAILED = 3
EXIT_INTERRUPTED = 130  # SIGINT, as shells report it
EXIT_TERMINATED = 143  # SIGTERM


def _no_flag_metavar(params) -> None:
    """A flag takes no value: show nothing where typer would show ``<bool>``."""
    for param in params:
        if getattr(param, "is_flag", False):
            param.metavar = ""


class _HelpRules:
    """Flags (``--help`` too) show no ``<bool>``: mixed into the command and the group."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _no_flag_metavar(self.params)

    def get_help_option(self, ctx):
        option = super().get_help_option(ctx)
        _no_flag_metavar([option] if option is not None else [])
        return option


class NotescoreCommand(_HelpRules, TyperCommand):
    """A command with the help rules of :class:`_HelpRules`."""


class NotescoreGroup(_HelpRules, TyperGroup):
    """The command group, with the same help rules."""


app = typer.Typer(
    name="notescore",
    cls=NotescoreGroup,
    help="Score social-media notes as genuine, sponsored or possibly false, and extract search keywords.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def fail(message: str, code: int = EXIT_FAILED) -> typer.Exit:
    """Print one line to stderr and return the exit to raise."""
    typer.echo(f"notescore: {message}", err=True)
    return typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"notescore {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Score social-media notes as genuine, sponsored or possibly false."""


def load_classifier(
    model: Optional[Path], threads: Optional[int], batch_size: int, keywords: bool = True, thresholds=None,
    backend: str = "auto",
):  # fmt: skip
    """Load a model folder, or fail with one line (exit 1; exit 2 for a bad threshold or backend name)."""
    from nlp.backends import BACKEND_CHOICES
    from nlp.classifier import NoteClassifier

    if backend not in BACKEND_CHOICES:
        raise fail(f"--backend: expected one of {', '.join(BACKEND_CHOICES)}; found {backend!r}", EXIT_USAGE)
    try:
        return NoteClassifier.load(
            model, threads=threads, batch_size=batch_size, keywords=keywords, thresholds=thresholds, backend=backend
        )
    except NotescoreError as exc:
        raise fail(str(exc)) from exc
    except ValueError as exc:  # check_thresholds: a label the model does not have
        if not thresholds:
            raise
        raise fail(f"--threshold: {exc}", EXIT_USAGE) from exc
