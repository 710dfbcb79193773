"""The Backend protocol every cluster adapter implements, and the errors they raise.

Backends speak in REST shapes (the cluster object, ``<name>_cert``/``<name>_key`` certificate
maps) so the sandbox, the REST adapter and the sandbox server share one vocabulary. They know
nothing of the shell, the parser or the renderer.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..exitcodes import EXIT_CONNECTION, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE  # noqa: F401


class BackendError(Exception):
    """A command failed on the cluster side; the message is one line for the user."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, error_code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.error_code = error_code
        self.status = status


class ConnectionProblem(BackendError):
    """The cluster could not be reached, or TLS to it failed."""

    exit_code = EXIT_CONNECTION


class AuthenticationFailed(BackendError):
    """Wrong or missing credentials."""

    exit_code = EXIT_CONNECTION


class ConfigurationProblem(BackendError):
    """The tool's own configuration is wrong (bad profile, unreadable state file...)."""

    exit_code = EXIT_CONNECTION


class PartialUpdate(BackendError):
    """Not every node took the change (RS answers 409); running the command again is safe."""


class NotSupported(BackendError):
    """The command exists, but not on this kind of backend (sandbox-only on a live cluster)."""


class UnconfirmedChange(BackendError):
    """The cluster answered a change, but its answer does not show the change in force (an
    unexpected status or body, or a read-back showing the old value): exit 1 unless the read-back
    itself failed (then that failure's exit code). ``maybe_applied``: the caller must not report
    the command as "not applied"."""

    maybe_applied = True

    def __init__(self, message: str, *, error_code: str | None = None, status: int | None = None,
                 exit_code: int | None = None):
        super().__init__(message, error_code=error_code, status=status)
        if exit_code is not None:
            self.exit_code = exit_code


class ChangeInterrupted(KeyboardInterrupt):
    """Ctrl-C after a change request had gone out and before its outcome was known. Still a
    KeyboardInterrupt (``except KeyboardInterrupt`` catches it); ``message`` is one line for the
    user saying the change may or may not have been applied, and how to check."""

    maybe_applied = True

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class CertificateUpdate:
    """One certificate to install: the PEM chain, and the key PEM (None keeps the current key)."""

    name: str
    certificate: str
    key: str | None = None

    def __repr__(self) -> str:  # never show key material, even in a debugger or traceback
        return f"CertificateUpdate(name={self.name!r}, key={'<redacted>' if self.key else None})"


class Backend(Protocol):
    kind: str  # "sandbox" or "rest"
    target: str  # what the banner and toolbar show: a path, or user@url

    def get_cluster(self) -> dict:
        """The cluster object, as GET /v1/cluster returns it."""

    def update_cluster(self, changes: dict) -> dict:
        """Apply a partial cluster object (PUT /v1/cluster); returns the new object."""

    def get_certificates(self) -> dict:
        """``{"<name>_cert": PEM, "<name>_key": PEM, ...}`` as GET /v1/cluster/certificates."""

    def replace_certificates(self, updates: list[CertificateUpdate]) -> list[dict]:
        """Install the certificates on every node, all or nothing; returns the nodes updated."""

    def get_nodes(self) -> list[dict]:
        """The node objects, as GET /v1/nodes."""

    def close(self) -> None:
        """Release connections and locks."""
