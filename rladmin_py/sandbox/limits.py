"""How many connections each endpoint of ``--serve`` may hold, from the process's file limit.

Every connection costs a file descriptor (two on the database endpoint: the client's and the
relay's to the shard). Running out of descriptors is worse than refusing a connection: a
listener whose ``accept`` fails with EMFILE stays readable, and a naive accept loop spins. So
``--serve`` raises its soft ``RLIMIT_NOFILE`` towards the hard limit at start, and each endpoint
refuses connections beyond its share of what the limit allows (at most
:data:`MAX_CONNECTIONS`). Standard library only, cheap to import.
"""
from __future__ import annotations

MAX_CONNECTIONS = 2048  # per endpoint, at most
MIN_CONNECTIONS = 16
RESERVED_FDS = 200  # listeners, the state file, TLS temp files, the log, the shard's socket...
#: descriptors per connection slot, over every endpoint: four web endpoints (one each) and the
#: database endpoint (two each)
FDS_PER_SLOT = 6
WANTED_FDS = 16384


def open_file_limit() -> int | None:
    """The soft RLIMIT_NOFILE (None where there is no such thing)."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError, AttributeError):
        return None
    return None if soft == getattr(resource, "RLIM_INFINITY", -1) else soft


def raise_open_file_limit(wanted: int = WANTED_FDS) -> int | None:
    """Raise the soft RLIMIT_NOFILE to ``wanted`` (or the hard limit, if lower); never lowers it.
    Returns the soft limit now in force."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        infinity = getattr(resource, "RLIM_INFINITY", -1)
        target = wanted if hard == infinity else min(wanted, hard)
        if soft != infinity and soft < target:
            for value in (target, 10240):  # macOS refuses more than OPEN_MAX (10240) for some processes
                try:
                    resource.setrlimit(resource.RLIMIT_NOFILE, (value, hard))
                    break
                except (ValueError, OSError):
                    continue
    except (ImportError, OSError, ValueError, AttributeError):
        pass
    return open_file_limit()


def connection_cap(limit: int | None = None) -> int:
    """Connections one endpoint may hold at once, given the file limit ``limit`` (by default the
    one in force now)."""
    limit = open_file_limit() if limit is None else limit
    if limit is None:
        return MAX_CONNECTIONS
    return max(MIN_CONNECTIONS, min(MAX_CONNECTIONS, (limit - RESERVED_FDS) // FDS_PER_SLOT))
