"""notescore: is a social-media note genuine, sponsored or possibly false?

The runtime library. It never imports torch; models run with ONNX Runtime.

Example:
    >>> from nlp import NoteClassifier
    >>> clf = NoteClassifier.load()
    >>> clf.predict("戳链接领券，私信我拿优惠码！").label
    'sponsored'
"""

from __future__ import annotations

__version__ = "0.2.0"

from nlp.classifier import NoteClassifier, Prediction, default_model_dir
from nlp.encoding import clean_text, compose_text
from nlp.errors import (
    InputFormatError,
    MissingDependencyError,
    ModelFormatError,
    ModelNotFoundError,
    NotescoreError,
    RecordError,
)
from nlp.evidence import Evidence
from nlp.keywords import KeywordExtractor, extract_keywords
from nlp.model_folder import LABELS, ModelSpec, read_model_spec
from nlp.records import LabelledNote, pick_text
from nlp.report import ReportOptions, ReportSummary, write_report
from nlp.review import ReviewQueue
from nlp.scoring import ScoreOptions, ScoreSummary, score_file, score_records

__all__ = [
    "LABELS",
    "Evidence",
    "InputFormatError",
    "KeywordExtractor",
    "LabelledNote",
    "MissingDependencyError",
    "ModelFormatError",
    "ModelNotFoundError",
    "ModelSpec",
    "NoteClassifier",
    "NotescoreError",
    "Prediction",
    "RecordError",
    "ReportOptions",
    "ReportSummary",
    "ReviewQueue",
    "ScoreOptions",
    "ScoreSummary",
    "__version__",
    "clean_text",
    "compose_text",
    "default_model_dir",
    "extract_keywords",
    "pick_text",
    "read_model_spec",
    "score_file",
    "score_records",
    "write_report",
]
