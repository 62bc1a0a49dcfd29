"""One typed error family for newsqa; the CLI and UI turn these into friendly messages."""

from __future__ import annotations


class NewsQAError(Exception):
    """Base class of every error newsqa raises on purpose."""


class InputError(NewsQAError, ValueError):
    """A question or option the user gave is not acceptable."""


class CorpusError(NewsQAError):
    """A corpus file could not be read or parsed."""


class ModelNotInstalledError(NewsQAError):
    """A model the request needs is not installed in the model cache."""


class IndexNotFoundError(NewsQAError):
    """No index exists at the requested location."""


class IndexMismatchError(NewsQAError):
    """An index does not match the model, dimension or its own manifest."""


class IndexCorruptError(IndexMismatchError):
    """An index file is missing, truncated or its hash disagrees with the manifest."""


class IndexWriteError(NewsQAError):
    """A new index generation could not be written (disk full, file too large...); the current one is unchanged."""
