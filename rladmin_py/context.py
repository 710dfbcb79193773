"""What a command runs with: the backend (opened on first use), the options, and how to ask.

Built in one place, :func:`command_context`, for every mode that runs commands (one-shot,
script, the interactive shell), from the parsed argv.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .backends import Backend


@dataclass
class Options:
    json: bool = False
    yes: bool = False
    dry_run: bool = False
    strict: bool = False
    no_verify: bool = False  # skip the check on the wire after a change
    ca_cert: str | None = None  # --ca-cert: the trust probes use (on the sandbox too)
    verify_lines: bool = True  # say "verified: ..." after a change (scripts: only the warnings)


@dataclass
class Context:
    """What a command may use: the backend (opened on first use), options, and a confirm prompt."""

    open_backend: Callable[[], Backend]
    options: Options = field(default_factory=Options)
    confirm: Callable[[str], bool] | None = None  # set only in interactive sessions
    live_target: bool = False  # a live cluster is named: local commands must not open it
    note: Callable[[str], None] = lambda text: None  # warnings and notes, shown at once (stderr)
    found: dict = field(default_factory=dict)  # what a session learnt once (the endpoints to probe)
    _backend: Backend | None = None

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            self._backend = self.open_backend()
        return self._backend

    def sandbox(self, what: str) -> Backend:
        """The backend, which must be the local sandbox: ``what`` (a sandbox-only command) is
        refused on a live cluster, the same way for the shell's commands and the labs."""
        from .backends import NotSupported

        backend = self.backend
        if backend.kind != "sandbox":
            raise NotSupported(f"'{what}' works only on the local sandbox, not on {backend.target}",
                               error_code="sandbox_only")
        return backend

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None


def command_context(args, printer, *, script: bool = False) -> Context:
    """The context for the target argv names (the sandbox, or a live cluster opened lazily);
    ``script``: a script runs in it (checks after a change say only what went wrong)."""
    from .backends.connection import open_backend, uses_sandbox

    return Context(
        open_backend=lambda: open_backend(args, printer.note),
        live_target=not uses_sandbox(args),
        options=Options(json=args.json, yes=args.yes, dry_run=args.dry_run, strict=args.strict,
                        no_verify=getattr(args, "no_verify", False), ca_cert=getattr(args, "ca_cert", None),
                        verify_lines=not script),
        note=printer.note,
    )
