"""The sandbox as a Backend: the simulated cluster of :mod:`rladmin_py.sandbox`, in-process.

The shell's commands reach the sandbox through this adapter; the sandbox's own REST API serves
the same :class:`~rladmin_py.sandbox.cluster.SandboxCluster` on the wire.
"""
from __future__ import annotations

from ..sandbox.cluster import SandboxCluster


class SandboxBackend(SandboxCluster):
    """The Backend protocol over a local sandbox state file."""

    kind = "sandbox"

    @property
    def target(self) -> str:  # what the banner and toolbar show
        return self.path
