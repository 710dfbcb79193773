"""What a command gives back (:class:`Result`) and how it refuses on this machine
(:class:`CommandFailed`): a leaf module, so that handlers outside :mod:`.commands` (the labs)
build results without importing the dispatcher that imports them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .backends import BackendError


class CommandFailed(BackendError):
    """A command refused on this machine, before anything was sent (exit 1)."""


class Cancelled(CommandFailed):
    """The user answered no at a confirmation: not an error (the shell goes on; a one-shot exits
    1 without ``error:``)."""

    def __init__(self, message: str = "cancelled: nothing was changed"):
        super().__init__(message, error_code="cancelled")


@dataclass
class Result:
    """What a command produced. ``kind`` picks the renderer; ``data`` is JSON-able; ``remarks``
    are words the text rendering adds beside a field (never part of the JSON)."""

    kind: str
    data: Any = None
    json: bool = False  # the command's own --json (as in `cluster certificate show --json`)
    remarks: dict = field(default_factory=dict)
    exit_code: int = 0  # a command that ran and found something wrong (verify tls: 1)
    warnings: list = field(default_factory=list)  # said while it ran: for its JSON document (see runner)
