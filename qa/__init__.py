"""Question answering over Chinese newspaper archives: parsing, indexing, retrieval and cited answers."""

from qa.api import ask, ask_stream, clear_cache, get_pipeline
from qa.errors import (
    CorpusError,
    IndexCorruptError,
    IndexMismatchError,
    IndexNotFoundError,
    InputError,
    ModelNotInstalledError,
    NewsQAError,
)
from qa.types import Answer, Article, Chunk, Citation, Hit

__all__ = [
    "ask", "ask_stream", "clear_cache", "get_pipeline", "Answer", "Article", "Chunk", "Citation", "Hit",
    "NewsQAError", "InputError", "CorpusError", "IndexNotFoundError", "IndexMismatchError",
    "IndexCorruptError", "ModelNotInstalledError",
]
