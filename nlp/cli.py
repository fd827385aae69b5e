"""The notescore command line: thin commands over the library.

This module and the ``cli_*`` modules it gathers are the only ones that print or
exit. Exit codes: 0 success; 1 a runtime error (model folder invalid, training
failed, a missing extra); 2 a usage error (bad option, missing or unreadable
input, an output path that cannot be used), nothing written; 3 the job finished
but some rows could not be scored (they are in the errors file); 130/143
interrupted by SIGINT/SIGTERM, nothing written.
"""

from __future__ import annotations

# The commands register themselves on ``app`` when imported, in the order --help lists them.
from nlp import cli_model, cli_notes, cli_score  # noqa: F401
from nlp.cli_app import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_ROWS_FAILED,
    EXIT_TERMINATED,
    EXIT_USAGE,
    app,
)

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_ROWS_FAILED", "EXIT_TERMINATED", "EXIT_USAGE", "app", "main"]


def main() -> None:
    """Entry point of the ``notescore`` console script."""
    app()
