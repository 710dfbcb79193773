"""Reading files the user names, safely: only regular files, never blocking, never more than a
limit. A FIFO, a device or a socket named as ``certificate_file`` or ``--ca-cert`` would block
an ordinary ``open`` until Ctrl-C; here it is refused before a byte is read.
"""
from __future__ import annotations

import os
import stat


class NotRegular(OSError):
    """The path names something other than a regular file; ``kind`` says what."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def read_regular(path: str, limit: int) -> bytes:
    """Up to ``limit + 1`` bytes of a regular file (so that the caller can tell "too large").

    Opened non-blocking (a FIFO's open returns at once), checked with ``fstat`` on the open
    descriptor (no window between the check and the read), then read normally. Raises
    :class:`NotRegular`, or the OSError of the open or read.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegular(next((kind for test, kind in _KINDS if test(mode)), "not a regular file"))
        os.set_blocking(fd, True)
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 16, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
