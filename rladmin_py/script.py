"""Scripts: parse the whole file first (a syntax error anywhere applies nothing), then run it.

Errors carry ``FILE:LINE:COL`` (syntax) or ``FILE:LINE`` (run time). On the sandbox, commands
run in batches that are written to disk once per batch; a batch's results are printed only
after its write, so no command is reported successful before its effect is durable.
"""
from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass

from . import commands
from .backends import EXIT_FAILED, EXIT_OK, BackendError
from .runner import Printer, execute, syntax_error

#: Handlers that never touch a cluster (no backend is opened for a script made only of these).
LOCAL_HANDLERS = frozenset({"help", "exit", "sandbox_make_certs"})
BATCH_MAX_COMMANDS = 1000
BATCH_MAX_SECONDS = 0.5


class ScriptError(Exception):
    """The script cannot be read at all (missing, not UTF-8): exit 2."""


@dataclass
class ScriptLine:
    number: int
    text: str
    command: object


def read_script(path: str | None) -> tuple[str, str]:
    """(name for messages, text). ``None`` or ``-`` reads standard input."""
    if path in (None, "-"):
        name, data = "<stdin>", sys.stdin.buffer.read()
    else:
        name = path
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            raise ScriptError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise ScriptError(f"{path}: is a directory") from None
        except OSError as err:
            raise ScriptError(f"{path}: cannot read: {err.strerror}") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ScriptError(f"{name}:{line}: error: not UTF-8 text (byte 0x{data[err.start]:02x})") from None
    return name, text


def parse_script(name: str, text: str, printer: Printer, max_errors: int = 20) -> list[ScriptLine] | None:
    """Every command of the script, or None after printing its syntax errors."""
    from .language.parser import CommandSyntaxError, parse

    lines, errors = [], 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r")
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            lines.append(ScriptLine(number, line, parse(line)))
        except CommandSyntaxError as err:
            errors += 1
            if errors <= max_errors:
                syntax_error(printer, err, prefix=f"{name}:{number}:")
    if errors > max_errors:
        printer.note(f"{name}: {errors - max_errors} more syntax errors not shown")
    if errors:
        printer.note(f"{name}: {errors} syntax error{'s' if errors > 1 else ''}; nothing was run")
        return None
    return lines


def run_script(ctx: commands.Context, name: str, lines: list[ScriptLine], printer: Printer,
               keep_going: bool = False) -> int:
    """Run parsed lines; stop at the first failure unless ``keep_going``. Returns the exit code."""
    status = EXIT_OK
    applied: list[int] = []
    pending: list[tuple[ScriptLine, commands.Result]] = []
    index = 0
    in_flight: int | None = None  # the line being run (an interrupted PUT may have been applied)
    needs_cluster = any(sl.command.handler not in LOCAL_HANDLERS for sl in lines)

    def flush():
        for sl, result in pending:
            printer.result(result)
            applied.append(sl.number)
        pending.clear()

    try:
        while index < len(lines):
            batch = getattr(ctx.backend, "batch", None) if needs_cluster else None
            started = time.monotonic()
            stop = False
            with (batch() if batch else contextlib.nullcontext()):
                while index < len(lines):
                    sl = lines[index]
                    index += 1
                    if sl.command.handler == "exit":
                        stop = True
                        break
                    in_flight = sl.number
                    code, result = execute(ctx, sl.command, printer, prefix=f"{name}:{sl.number}: ")
                    in_flight = None
                    if result is not None:
                        pending.append((sl, result))
                        status = max(status, code)  # a command that ran and found a fault (verify tls)
                    else:
                        status = max(status, code)
                        if code != EXIT_FAILED or not keep_going:
                            stop = True
                            break
                    if (not batch or len(pending) >= BATCH_MAX_COMMANDS
                            or time.monotonic() - started > BATCH_MAX_SECONDS):
                        break  # without a batch (a live cluster) each command is done when it returns
            flush()  # the batch is on disk: only now are its commands reported
            if stop:
                break
    except BackendError as err:  # the batch itself could not be written
        printer.error(f"{name}: {err.message}")
        status = err.exit_code

    except KeyboardInterrupt as err:
        pending.clear()
        _report(printer, name, applied, lines, maybe=in_flight if getattr(err, "maybe_applied", False) else None)
        raise
    try:
        commands.verify_deferred(ctx)  # one check on the wire of what the script changed
    except BackendError as err:  # --strict: applied, but not served
        printer.error(f"{name}: {err.message}")
        status = max(status, err.exit_code)
    if status != EXIT_OK:
        _report(printer, name, applied, lines)
    return status


def _report(printer: Printer, name: str, applied: list[int], lines: list[ScriptLine], maybe: int | None = None) -> None:
    """``maybe``: the line whose change went out when the script was interrupted."""
    done = set(applied)
    not_applied = [sl.number for sl in lines if sl.number not in done and sl.number != maybe]
    printer.note(f"{name}: {len(applied)} of {len(lines)} commands applied"
                 + (f" (lines {_ranges(applied)})" if applied else "")
                 + (f"; may or may not have been applied: line {maybe}" if maybe is not None else "")
                 + (f"; not applied: lines {_ranges(not_applied)}" if not_applied else ""))


def _ranges(numbers: list[int]) -> str:
    out, start, prev = [], None, None
    for n in numbers:
        if start is None:
            start = prev = n
        elif n == prev + 1:
            prev = n
        else:
            out.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = prev = n
    if start is not None:
        out.append(f"{start}" if start == prev else f"{start}-{prev}")
    return ", ".join(out)


def check_script(name: str, lines: list[ScriptLine], printer: Printer) -> int:
    printer.note(f"{name}: {len(lines)} commands, syntax OK")
    return EXIT_OK

