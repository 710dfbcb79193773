"""Running one command line and reporting it: shared by one-shot, script and interactive modes.

Errors become one line (``error: ...``) and an exit code; only ``--debug`` shows tracebacks.
Every error, warning and note line is written through :func:`rladmin_py.terminal.escape` (they
quote file names, certificate fields and a cluster's answers), results through :mod:`.render`.
"""
from __future__ import annotations

import json
import re
import sys
import traceback
from dataclasses import dataclass, field
from typing import TextIO

from . import commands, render
from .results import Cancelled
from .terminal import escape
from .backends import EXIT_FAILED, EXIT_OK, EXIT_USAGE, AuthenticationFailed, BackendError


@dataclass
class Printer:
    """Where results (stdout) and errors, warnings and notes (stderr) go."""

    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    json: bool = False
    debug: bool = False
    warnings: list = field(default_factory=list)  # said by the command running now, not yet in a document

    def result(self, result: commands.Result) -> None:
        """Print a result (JSON with --json, or when the command asked for it with its own --json);
        as JSON, the warnings it said while it ran are in its document too (every document is an
        object). A script prints its results after their batch is on disk: each carries its own."""
        if result.kind != "exit" and (self.json or result.json):
            doc = render.document(result)
            return self._write({**doc, "warnings": result.warnings} if result.warnings else doc)
        text = render.render(result)
        if text:
            self.out.write(text + "\n")
            self.out.flush()

    def document(self, doc: dict) -> None:
        """A JSON document of this tool's own (a failure, a check), with the warnings said since
        the last one."""
        if self.warnings:
            doc["warnings"], self.warnings = self.warnings, []
        self._write(doc)

    def _write(self, doc: dict) -> None:
        self.out.write(json.dumps(doc) + "\n")
        self.out.flush()

    def error(self, message: str, prefix: str = "", *, code: str | None = None, column: int | None = None,
              more: list | None = None) -> None:
        """One line on stderr (and one for each of ``more``, the command's other errors); with --json
        also the command's one document on stdout:
        ``{"ok": false, "line": N, "error": {"code", "message"}, "errors": [...], "warnings": [...]}``."""
        for line in [message] + (more or []):
            self.err.write(f"{escape(prefix)}error: {escape(line)}\n")
        self.err.flush()
        if self.json:
            doc: dict = {"ok": False}
            where = re.match(r".*?:(\d+):(?:(\d+):)? ?$", prefix)
            if where:
                doc["line"] = int(where.group(1))
            if column is not None:
                doc["column"] = column
            doc["error"] = {"code": code or "error", "message": message}
            if more:
                doc["errors"] = [message] + more
            self.document(doc)
        self.warnings = []  # said with the failure: never carried to the next command's document

    def note(self, message: str) -> None:
        self.err.write(escape(message) + "\n")
        self.err.flush()
        warning = re.match(r"(?:.*?: )?warning: (.*)", message)
        if warning:  # kept for the command's JSON document, if it has one (--json, or its own --json)
            self.warnings.append(warning.group(1))


def describe_backend_error(err: BackendError) -> str:
    """One line; a cluster's error code is shown when it adds something."""
    show = err.error_code and err.status is not None and err.error_code not in err.message
    code = f" [{err.error_code}]" if show else ""
    return f"{err.message}{code}"


def execute(ctx: commands.Context, command, printer: Printer, prefix: str = "") -> tuple[int, commands.Result | None]:
    """Run a parsed command; report a failure on stderr (and, with --json, the command's own
    included, as its one document on stdout). Returns (exit code, result)."""
    own_json = bool(getattr(command, "args", {}).get("json")) and not printer.json
    if own_json:
        printer.json = True
    try:
        return _execute(ctx, command, printer, prefix)
    finally:
        if own_json:
            printer.json = False


def _execute(ctx: commands.Context, command, printer: Printer, prefix: str) -> tuple[int, commands.Result | None]:
    try:
        result = commands.run(ctx, command)
        result.warnings, printer.warnings = printer.warnings, []  # its own, whenever it is printed
        return result.exit_code or EXIT_OK, result
    except Cancelled as err:  # an answer, not an error
        printer.note(f"{prefix}{err.message}")
        if printer.json:  # the command's one document, all the same
            printer.document({"ok": False, "cancelled": True, "message": err.message})
        printer.warnings = []
        return err.exit_code, None
    except BackendError as err:
        if isinstance(err, AuthenticationFailed):
            ctx.found["auth_failed"] = True  # the shell may ask for the password again
        printer.error(describe_backend_error(err), prefix,
                      code=err.error_code or re.sub(r"(?<!^)(?=[A-Z])", "_", type(err).__name__).lower())
        return err.exit_code, None
    except KeyboardInterrupt:
        raise
    except Exception as err:  # a bug: say so in one line
        report_bug(printer, err, prefix)
        return EXIT_FAILED, None


def report_bug(printer: Printer, err: Exception, prefix: str = "") -> None:
    """An unexpected exception (a bug of ours): one line; the traceback only with --debug."""
    if printer.debug:
        traceback.print_exc(file=printer.err)
    printer.error(f"internal error: {type(err).__name__}: {err} (run with --debug for the traceback)", prefix)


def syntax_error(printer: Printer, err, prefix: str = "") -> int:
    """A line that does not parse: the message with its column, the line and a caret."""
    location = f"{prefix}{err.col}: " if prefix else f"column {err.col}: "
    location, message = escape(location), escape(err.message)
    printer.err.write(f"{location}error: {message}\n{err.caret()}\n" if prefix
                      else f"error: {location}{message}\n{err.caret()}\n")
    printer.err.flush()
    if printer.json:  # the line's one document
        where = re.match(r".*?:(\d+): ?$", prefix)
        doc = {"ok": False, **({"line": int(where.group(1))} if where else {}), "column": err.col,
               "message": err.message, "error": {"code": "syntax_error", "message": err.message}}
        printer.out.write(json.dumps(doc) + "\n")
        printer.out.flush()
    return EXIT_USAGE


def run_line(ctx: commands.Context, line: str, printer: Printer) -> tuple[int, commands.Result | None]:
    """Parse and run one line (one-shot and interactive); prints the result or the error."""
    from .language.parser import CommandSyntaxError, parse

    try:
        command = parse(line)
    except CommandSyntaxError as err:
        return syntax_error(printer, err), None
    code, result = execute(ctx, command, printer)
    if result is not None:
        printer.result(result)
    return code, result
