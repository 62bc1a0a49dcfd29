"""Split article bodies into passages at Chinese sentence boundaries, measured in model tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from qa.types import Article, Chunk

# Paragraph breaks first, then sentence ends (full- and half-width), then clause
# breaks; the empty string is the last resort for a run of text with no punctuation.
# Chinese has no spaces between words, so " " is deliberately absent: the
# splitter's default [" ", ""] would fall back to cutting mid-word.
SEPARATORS = ["\n", "。", "！", "？", "；", "!", "?", ";", "，", ",", "、", "：", ":", ""]


@dataclass(frozen=True)
class ChunkParams:
    """Chunking parameters, recorded in the index manifest."""

    chunk_size: int = 160  # model tokens per passage (the model's limit is 512)
    chunk_overlap: int = 32

    def __post_init__(self) -> None:
        if self.chunk_size < 16:
            raise ValueError(f"chunk_size must be at least 16 tokens, got {self.chunk_size}")
        if not 0 <= self.chunk_overlap < self.chunk_size:
            raise ValueError(
                f"chunk_overlap must be in [0, chunk_size), got {self.chunk_overlap} with chunk_size {self.chunk_size}"
            )


def make_splitter(params: ChunkParams, length: Callable[[str], int]):
    """A langchain RecursiveCharacterTextSplitter configured for Chinese news text."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(
        separators=SEPARATORS,
        keep_separator="end",  # the 。 stays with its sentence
        chunk_size=params.chunk_size,
        chunk_overlap=params.chunk_overlap,
        length_function=length,
        strip_whitespace=True,
    )


def chunk_articles(
    articles: Iterable[Article], params: ChunkParams, length: Callable[[str], int], first_id: int = 0
) -> list[Chunk]:
    """Split every article body into chunks with offsets into the body.

    Args:
        articles: parsed articles.
        params: sizes in units of ``length``.
        length: measures a text, normally in the embedding model's tokens.
        first_id: id of the first chunk; ids increase by one.

    Returns:
        Chunks in article order; ``article.body[c.start:c.end] == c.text``.
    """
    splitter = make_splitter(params, length)
    chunks: list[Chunk] = []
    next_id = first_id
    for a in articles:
        cursor = 0
        for text in splitter.split_text(a.body):
            start = a.body.find(text, cursor)
            if start < 0:  # cannot happen for substrings, but never emit wrong offsets
                start = a.body.find(text)
            if start < 0:
                raise AssertionError(f"chunk not found in article {a.id}")
            chunks.append(Chunk(next_id, a.id, text, start, start + len(text)))
            next_id += 1
            cursor = start + 1
    return chunks
