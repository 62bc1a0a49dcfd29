"""Defaults and environment overrides: where the corpus, index and models live, and tuned thresholds."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MAX_QUESTION_CHARS = 500


def project_root() -> Path:
    """The checkout holding ``corpus/`` (for an editable install), else the working directory."""
    here = Path(__file__).resolve().parent.parent
    if (here / "pyproject.toml").is_file() and (here / "corpus").is_dir():
        return here
    return Path.cwd()


def default_corpus_dir() -> Path:
    """``$NEWSQA_CORPUS`` or ``<project>/corpus/raw``."""
    env = os.environ.get("NEWSQA_CORPUS")
    return Path(env).expanduser() if env else project_root() / "corpus" / "raw"


def default_index_dir() -> Path:
    """``$NEWSQA_INDEX`` or ``<project>/corpus/index``."""
    env = os.environ.get("NEWSQA_INDEX")
    return Path(env).expanduser() if env else project_root() / "corpus" / "index"


def default_model() -> str | None:
    """``$NEWSQA_MODEL`` (a folder or installed model name) or None for the default."""
    return os.environ.get("NEWSQA_MODEL") or None


@dataclass(frozen=True)
class AnswerSettings:
    """Extractive answering knobs. Refusal thresholds were set on eval/gold.jsonl (see README)."""

    # Refuse when the best passage's cosine is below this and the best sentence's
    # lexical support is below ``min_support``.
    min_score: float = 0.80
    min_support: float = 0.45
    # Add a second sentence when it scores at least this fraction of the best one.
    second_ratio: float = 0.92
