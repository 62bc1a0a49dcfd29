"""Answer verification: ask the answer-writing model whether the cited sentences state the answer to the question.

Grounding (``qa.answer.ground``) checks that the answer's words are in a retrieved
sentence; it cannot tell whether that sentence is about the question's subject
(another railway's length, another person's title). One yes/no question to the same
model, read as the chance of "是" against "否" from the first reply token's logits,
is that check. The bar it is compared with is chosen on the development sets
(``python -m eval.verify``; eval/OUTSIDE.md).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from qa.answer.generate import Generator, Message

log = logging.getLogger(__name__)

SYSTEM_VERIFY_ZH = (
    "你是严谨的核对员。判断给出的句子是否明确说明了问题的答案。"
    "句子说的必须正是问题问的那个对象（人、地方、机构、事件、时间），答案必须是句子里针对问题所问的内容。"
    "只回答“是”或“否”。"
)

STYLES = ("sentence", "follow-up")


def verification_messages(question: str, answer: str, quotes: Sequence[str], *, style: str = "sentence",
                          conversation: Sequence["Message"] = ()) -> list["Message"]:
    """The yes/no question that checks ``answer`` against the sentences it cites.

    Args:
        question: as the user asked it.
        answer: the answer's plain text (no citation markers).
        quotes: the cited sentences.
        style: "sentence": a fresh question about the cited sentences alone; "follow-up": a
            further turn of ``conversation`` (the answer prompt and the model's reply), so the
            model judges with every passage it was shown and the cached prompt is reused.
        conversation: the answer prompt's messages, for "follow-up".

    Returns:
        Chat messages whose reply starts with "是" or "否".
    """
    if style not in STYLES:
        raise ValueError(f"verification style must be one of {STYLES}, got {style!r}")
    if style == "follow-up":
        ask = (f"请核对：上面的资料是否明确说明了“{question.strip()}”的答案是“{answer.strip()}”？"
               "资料说的必须正是问题问的对象。只回答“是”或“否”。")
        return [*conversation, {"role": "assistant", "content": answer}, {"role": "user", "content": ask}]
    body = "\n".join(q.strip() for q in quotes)
    user = (f"句子：{body}\n\n问题：{question.strip()}\n答案：{answer.strip()}\n\n"
            f"这些句子是否明确说明了问题的答案是“{answer.strip()}”？只回答“是”或“否”。")
    return [{"role": "system", "content": SYSTEM_VERIFY_ZH}, {"role": "user", "content": user}]


def yes_probability(generator: "Generator", messages: Sequence["Message"]) -> float | None:
    """The generator's chance of replying "是" rather than "否", or None when it cannot tell.

    Generators with a ``yes_probability`` method (llama.cpp, OpenAI-compatible servers)
    read it from logits; others are asked for one token and their text is read.
    """
    own = getattr(generator, "yes_probability", None)
    if callable(own):
        return own(messages)
    reply = "".join(generator.stream(messages, max_tokens=2)).strip()
    if reply.startswith(("是", "Yes", "yes")):
        return 1.0
    if reply.startswith(("否", "No", "no")):
        return 0.0
    log.info("verification reply neither yes nor no: %r", reply[:20])
    return None


__all__ = ("STYLES", "SYSTEM_VERIFY_ZH", "verification_messages", "yes_probability")
