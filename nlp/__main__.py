"""``python -m nlp`` runs the notescore command line."""

from nlp.cli import main

main()
