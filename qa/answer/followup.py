"""Follow-up questions: earlier turns as (question, answer) pairs, and the rewrite into a standalone question."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from qa.errors import NewsQAError
from qa.inputs import sanitize
from qa.settings import MAX_QUESTION_CHARS

if TYPE_CHECKING:
    from qa.answer.generate import Generator

log = logging.getLogger(__name__)

FOLLOW_UP = re.compile(r"^(那|那么|还有|另外|后来|然后)|他们|她们|它们|[他她它]|那个|这个|那些|这些|该|此|其|呢[？?]?$|^(what|how) about|\b(he|she|it|they|that|this|those)\b", re.I)


def history_pairs(history: list[Any]) -> list[tuple[str, str]]:
    """The last three (question, answer) turns of a history the input layer checked (``qa.inputs.check_history``).

    Args:
        history: [{"role","content"}…] (Gradio messages) or [(question, answer)…].
    """
    pairs: list[tuple[str, str]] = []
    last_q = None
    for item in history:
        if isinstance(item, dict):
            role, content = item.get("role"), item.get("content")
            if role == "user":
                last_q = content
            elif role == "assistant" and last_q is not None:
                pairs.append((last_q, content))
                last_q = None
        else:
            pairs.append((item[0], item[1]))
    if last_q is not None:
        pairs.append((last_q, ""))
    return pairs[-3:]


def rewrite_follow_up(question: str, history: list[Any], generator: "Generator | None" = None) -> str | None:
    """Turn a follow-up (他/那个项目/后来呢) into a standalone question, or None when it already is one.

    With a generator the model rewrites it; without one the previous question's words
    are prepended, which is enough for retrieval to find the same articles.

    Args:
        question: the follow-up as asked.
        history: earlier turns, as checked by ``qa.inputs.check_history``.
        generator: the answer-writing model, or None.

    Returns:
        The standalone question, or None when ``question`` needs no rewrite.
    """
    pairs = history_pairs(history)
    if not pairs or not FOLLOW_UP.search(question):
        return None
    prev_q = sanitize(pairs[-1][0][:MAX_QUESTION_CHARS])
    if not prev_q:
        return None
    if generator is not None:
        convo = "\n".join(f"问：{q}\n答：{a[:200]}" for q, a in pairs)
        messages = [
            {"role": "system", "content": "把用户的后续问题改写成一个不依赖上下文的完整问题。只输出改写后的问题，不要回答。"},
            {"role": "user", "content": f"对话：\n{convo}\n\n后续问题：{question}"},
        ]
        try:
            text = "".join(generator.stream(messages, max_tokens=60)).strip().splitlines()
            if text and 2 <= len(text[0]) <= MAX_QUESTION_CHARS:
                return text[0].strip()
        except NewsQAError as e:
            log.warning("follow-up rewrite failed (%s); using the previous question as context", e)
    return f"{prev_q} {question}"
