"""The question as every stage after retrieval sees it: normalised, embedded and expanded once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from qa.answer.answer_type import AnswerType


@dataclass(frozen=True, eq=False)
class Query:
    """One question, prepared once per request.

    Attributes:
        asked: the question as the user asked it (cleaned by the input layer).
        rewritten: the standalone form of a follow-up question, or None.
        text: the retrieval form (``qa.text.normalize`` of ``rewritten or asked``).
        vec: the embedding of ``text``.
        latin: whether ``text`` is mostly in a Latin script (an English question).
        scoring_text: what passage sentences are scored against: ``text``, or for an
            English question ``text`` with the Chinese terms its words point to.
        scoring_vec: the embedding of ``scoring_text`` (``vec`` when they are equal).
        wanted: the answer type the question asks for (an age, a date, a count …), or None.
    """

    asked: str
    rewritten: str | None
    text: str
    vec: "np.ndarray"
    latin: bool
    scoring_text: str
    scoring_vec: "np.ndarray"
    wanted: "AnswerType | None"

    @property
    def expanded(self) -> bool:
        """Whether sentences are scored against an expanded form (an English question with Chinese terms)."""
        return self.scoring_text != self.text
