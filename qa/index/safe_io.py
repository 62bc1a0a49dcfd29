"""Bounded reads of index files: regular files only, never through a symlink, never past a size limit."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path

from qa.errors import IndexCorruptError

KB, MB, GB = 1 << 10, 1 << 20, 1 << 30
# Fixed caps for files whose size the manifest does not record (the manifest itself, CURRENT,
# indexes built before sizes were recorded). A real generation's metadata stays far below them.
CURRENT_MAX = 4 * KB
MANIFEST_MAX = 64 * MB
FILE_MAX = 64 * GB  # any other index file without a recorded size
BLOCK = 1 << 20


def _open(path: Path, max_bytes: int) -> tuple[int, int]:
    """Open ``path`` for reading: (fd, size). Refuses symlinks, FIFOs, devices, folders and oversized files.

    ``O_NONBLOCK`` keeps ``open`` of a FIFO from waiting for a writer; ``O_NOFOLLOW``
    refuses a final symlink (to /dev/zero, to a file outside the index).

    Raises:
        FileNotFoundError: when there is no such file (callers name it as missing).
        IndexCorruptError: for anything else that is not a regular file within ``max_bytes``.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise IndexCorruptError(f"{path} is a symbolic link; index files must be regular files") from None
        raise IndexCorruptError(f"{path} cannot be opened ({e.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = "a folder" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode) else \
                "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "not a regular file"
            raise IndexCorruptError(f"{path} is {kind}; index files must be regular files")
        if st.st_size > max_bytes:
            raise IndexCorruptError(f"{path} has {st.st_size} bytes, more than the {max_bytes} allowed")
    except BaseException:
        os.close(fd)
        raise
    return fd, st.st_size


def read_bytes(path: Path, max_bytes: int) -> bytes:
    """The whole content of a regular file of at most ``max_bytes`` bytes.

    Raises:
        FileNotFoundError, IndexCorruptError: see ``_open``; also when the file grows past the limit while read.
    """
    fd, size = _open(Path(path), max_bytes)
    with os.fdopen(fd, "rb") as f:
        data = f.read(size + 1)  # the stat'ed size, plus one byte to notice a file that grew
    if len(data) > max_bytes:
        raise IndexCorruptError(f"{path} is larger than the {max_bytes} bytes allowed")
    return data


def read_text(path: Path, max_bytes: int) -> str:
    """``read_bytes`` decoded as UTF-8.

    Raises:
        FileNotFoundError, IndexCorruptError (also for bytes that are not UTF-8).
    """
    try:
        return read_bytes(path, max_bytes).decode("utf-8")
    except UnicodeDecodeError as e:
        raise IndexCorruptError(f"{path} is not UTF-8 text ({e})") from None


def sha256(path: Path, max_bytes: int) -> str:
    """Hex sha256 of a regular file of at most ``max_bytes`` bytes, read in 1 MiB blocks.

    Raises:
        FileNotFoundError, IndexCorruptError.
    """
    fd, _ = _open(Path(path), max_bytes)
    h, seen = hashlib.sha256(), 0
    with os.fdopen(fd, "rb") as f:
        while block := f.read(BLOCK):
            seen += len(block)
            if seen > max_bytes:
                raise IndexCorruptError(f"{path} is larger than the {max_bytes} bytes allowed")
            h.update(block)
    return h.hexdigest()


def check_file(path: Path, max_bytes: int) -> int:
    """Check that ``path`` is a regular file (no symlink) of at most ``max_bytes`` bytes; its size.

    For files a library opens by name (FAISS, numpy), after their checksum was verified.

    Raises:
        FileNotFoundError, IndexCorruptError.
    """
    fd, size = _open(Path(path), max_bytes)
    os.close(fd)
    return size
