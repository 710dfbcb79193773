"""Choosing the backend from flags, environment and profiles (flags > env > profile).

With no cluster named anywhere, the local sandbox is used.
"""
from __future__ import annotations

import os

from .backends import ConfigurationProblem


def wants_live_cluster(args) -> bool:
    return bool(getattr(args, "cluster", None) or os.environ.get("REDIS_ENTERPRISE_URL") or getattr(args, "profile", None))


def open_backend(args):
    """The backend for this session; the sandbox unless a live cluster is named."""
    if getattr(args, "sandbox", None) or not wants_live_cluster(args):
        from .backends.sandbox import SandboxBackend

        return SandboxBackend(getattr(args, "sandbox", None))
    raise ConfigurationProblem("live clusters are not supported yet")
