"""Scripts: parse the whole file first (a syntax error anywhere applies nothing), then run it.

A ``#`` that starts a word outside quotes begins a comment; a ``\\`` ending a line continues the
command on the next one. Errors carry ``FILE:LINE:COL`` (syntax) or ``FILE:LINE`` (run time), the
file's own lines and columns whatever was joined or cut. ``--check`` runs every check that needs
no cluster (:func:`check_script`); a dry run reports its commands as checked, never applied.

On the sandbox, commands run in batches that are written to disk once per batch; a batch's
results are printed only after its write, so no command is reported successful before its
effect is durable.
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
#: Handlers that look at what the endpoints serve: the commands before them must be on disk first
#: (their batch ends), and they run outside any batch.
OBSERVERS = frozenset({"verify_tls", "lab_status", "lab_check"})
BATCH_MAX_COMMANDS = 1000
BATCH_MAX_SECONDS = 0.5


class ScriptError(Exception):
    """The script cannot be read at all (missing, not UTF-8): exit 2."""


@dataclass
class ScriptLine:
    number: int  # the file's line the command starts on
    text: str  # the command as parsed: comments removed, continued lines joined
    command: object


WS = " \t"


def split_comment(line: str) -> tuple[str, bool]:
    """(the code of one physical line, whether a trailing ``\\`` continues it).

    A ``#`` is a comment when it is outside quotes and starts a word (at the start of the line or
    after a space or tab), as in a POSIX shell; ``HIGH:!MD5#x`` and ``"a # b"`` hold no comment.
    A backslash ending the line (outside quotes, not inside a comment) joins the next line to it,
    with a word break in between. Quotes follow the tokenizer: ``"..."`` with backslash escapes,
    ``'...'`` without.
    """
    quote, i, n = "", 0, len(line)
    while i < n:
        ch = line[i]
        if quote:
            if quote == '"' and ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in WS):
            return line[:i], False
        i += 1
    code = line.rstrip(WS)
    if not quote and code.endswith("\\"):
        return code[:-1] + " ", True
    return line, False


@dataclass
class _Logical:
    """One command as the parser sees it, and where each of its characters is in the file."""

    text: str
    segments: list  # (offset in text, line number, physical line)
    changed: bool  # a comment or a continuation was removed

    def locate(self, col: int) -> tuple[int, str, int]:
        """(line number, physical line, column there) of a 1-based column of ``text``."""
        offset = col - 1
        if self.changed:
            end = len(self.text.rstrip(WS))
            if offset >= end:  # "found end of line": just after the last word, not under the comment
                start, number, line = self._segment(end - 1)
                return number, line, min(end - start + 1, len(line) + 1)
        start, number, line = self._segment(offset)
        return number, line, min(offset - start + 1, len(line) + 1)

    def _segment(self, offset: int):
        found = self.segments[0]
        for seg in self.segments:
            if seg[0] <= offset:
                found = seg
        return found


def logical_lines(text: str):
    """Each command of a script: comments removed, continued lines joined; blank ones left out."""
    parts: list[str] = []
    segments: list = []
    changed = False
    length = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r")
        code, continued = split_comment(line)
        changed = changed or continued or code != line
        segments.append((length, number, line))
        parts.append(code)
        length += len(code)
        if continued:
            continue
        logical = _Logical("".join(parts), segments, changed)
        parts, segments, changed, length = [], [], False, 0
        if logical.text.strip():
            yield logical
    if parts:  # a backslash on the last line: the command ends with the file
        logical = _Logical("".join(parts), segments, True)
        if logical.text.strip():
            yield logical


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
    for logical in logical_lines(text):
        try:
            lines.append(ScriptLine(logical.segments[0][1], logical.text, parse(logical.text)))
        except CommandSyntaxError as err:
            errors += 1
            if errors <= max_errors:
                number, physical, col = logical.locate(err.col)
                syntax_error(printer, CommandSyntaxError(err.message, physical, col), prefix=f"{name}:{number}:")
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
    failed: list[int] = []
    pending: list[tuple[ScriptLine, commands.Result]] = []
    index = 0
    in_flight: int | None = None  # the line being run (an interrupted PUT may have been applied)
    needs_cluster = any(sl.command.handler not in LOCAL_HANDLERS for sl in lines)
    dry_run = bool(getattr(getattr(ctx, "options", None), "dry_run", False))

    def flush():
        for sl, result in pending:
            printer.result(result)
            applied.append(sl.number)
        pending.clear()

    def report(maybe: int | None = None):
        if dry_run:
            _report_dry_run(printer, name, applied, failed, lines)
        else:
            _report(printer, name, applied, lines, maybe=maybe)

    try:
        while index < len(lines):
            observer = lines[index].command.handler in OBSERVERS
            batch = getattr(ctx.backend, "batch", None) if needs_cluster and not observer else None
            started, first = time.monotonic(), index
            stop = False
            with (batch() if batch else contextlib.nullcontext()):
                while index < len(lines):
                    sl = lines[index]
                    if index > first and sl.command.handler in OBSERVERS:
                        break  # the batch goes to disk first: it observes what is served
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
                        failed.append(sl.number)
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
        report(maybe=in_flight if getattr(err, "maybe_applied", False) else None)
        raise
    try:
        commands.verify_deferred(ctx)  # one check on the wire of what the script changed
    except BackendError as err:  # --strict: applied, but not served
        printer.error(f"{name}: {err.message}")
        status = max(status, err.exit_code)
    if status != EXIT_OK:
        report()
    return status


def plural(count: int, word: str) -> str:
    """``1 command``, ``3 commands``."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def line_list(numbers: list[int]) -> str:
    """``line 1``, ``lines 2-3``, ``lines 1, 3 and 5-7``."""
    parts = _ranges(numbers)
    single = len(parts) == 1 and "-" not in parts[0]
    joined = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"line {joined}" if single else f"lines {joined}"


def _report(printer: Printer, name: str, applied: list[int], lines: list[ScriptLine], maybe: int | None = None) -> None:
    """``maybe``: the line whose change went out when the script was interrupted."""
    done = set(applied)
    not_applied = [sl.number for sl in lines if sl.number not in done and sl.number != maybe]
    printer.note(f"{name}: {len(applied)} of {plural(len(lines), 'command')} applied"
                 + (f" ({line_list(applied)})" if applied else "")
                 + (f"; may or may not have been applied: line {maybe}" if maybe is not None else "")
                 + (f"; not applied: {line_list(not_applied)}" if not_applied else ""))


def _report_dry_run(printer: Printer, name: str, passed: list[int], failed: list[int],
                    lines: list[ScriptLine]) -> None:
    """A dry run changes nothing: its commands are checked, never applied."""
    seen = set(passed) | set(failed)
    unchecked = [sl.number for sl in lines if sl.number not in seen]
    printer.note(f"{name}: dry run: {len(passed)} of {plural(len(lines), 'command')} checked OK"
                 + (f" ({line_list(passed)})" if passed else "")
                 + (f"; failed: {line_list(failed)}" if failed else "")
                 + (f"; not checked: {line_list(unchecked)}" if unchecked else "")
                 + "; nothing was changed")


def _ranges(numbers: list[int]) -> list[str]:
    out, start, prev = [], None, None
    for n in sorted(set(numbers)):
        if start is None:
            start = prev = n
        elif n == prev + 1:
            prev = n
        else:
            out.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = prev = n
    if start is not None:
        out.append(f"{start}" if start == prev else f"{start}-{prev}")
    return out


# -- --check: everything that can be checked without a cluster -----------------------------------
def local_problems(command) -> tuple[list[str], list[str], list[str]]:
    """(errors, warnings, notes) of one parsed command, found without a cluster: the files it
    reads, the certificates' pre-flight (the cluster's name is not known here, so SANs are not
    checked against it; a certificate given without key_file is checked against the key the
    cluster holds only when it runs), and cipher lists that need no current setting."""
    handler, args = command.handler, command.args
    errors: list[str] = []
    warnings: list[str] = []
    notes: list[str] = []
    pairs: list[tuple[str, str, str | None]] = []
    if handler == "certificate_set":
        pairs = [(args["certificate_name"], args["certificate_file"], args.get("key_file"))]
    elif handler == "certificate_set_internal":
        pairs = [("data_internode_encryption", args["dpine_certificate_file"], args["dpine_key_file"]),
                 ("ccs_internode_encryption", args["cpine_certificate_file"], args["cpine_key_file"])]
    elif handler == "cluster_config":
        errors += _cipher_problems(args)
    for name, cert_path, key_path in pairs:
        from .certificates.checks import CertificateProblem

        try:
            found_notes, found_warnings = _check_certificate(name, cert_path, key_path)
        except CertificateProblem as err:
            errors.append(err.message)
            continue
        notes += found_notes
        warnings += found_warnings
    return errors, warnings, notes


def _check_certificate(name: str, cert_path: str, key_path: str | None) -> tuple[list[str], list[str]]:
    from .certificates import checks as certs

    # no key_file and no key in the file: RS keeps the key it holds, which only the run can compare
    bundle = certs.prepare_files(name, cert_path, key_path, fqdn=None, cluster_key_unknown=True)
    return bundle.notes, bundle.warnings


def _cipher_problems(args: dict) -> list[str]:
    from . import ciphers, cluster_settings

    try:
        changes = cluster_settings.rest_changes(args["params"])
    except Exception:  # the grammar accepted it: what is left is for the run to say
        return []
    if not set(changes) & ciphers.FIELDS or ciphers.needs_cluster(changes):
        return []  # the verdict depends on the cluster's current settings: checked when it runs
    return list(ciphers.problems({}, changes))


def check_script(name: str | None, lines: list[ScriptLine], printer: Printer, strict: bool = False) -> int:
    """``--check``: what can be checked without a cluster; exit 1 when a command would fail.

    ``name`` None: one-shot words (messages carry no file name)."""
    bad: list[int] = []
    for sl in lines:
        prefix = f"{name}:{sl.number}: " if name is not None else ""
        try:
            errors, warnings, notes = local_problems(sl.command)
        except Exception as err:  # a bug of ours: one line, and the command counts as failing
            from .runner import report_bug

            report_bug(printer, err, prefix)
            bad.append(sl.number)
            continue
        for note in notes:
            printer.note(f"{prefix}note: {note}")
        if strict and warnings and not errors:
            errors = [f"{warnings[0]} (refused: --strict)"]
            warnings = warnings[1:]
        for warning in warnings:
            printer.note(f"{prefix}warning: {warning}")
        if errors:  # one document per command, however many errors it has
            printer.error(errors[0], prefix, more=errors[1:])
            bad.append(sl.number)
        elif printer.json:  # one document per command, a passing one too
            printer.document({"ok": True, **({"line": sl.number} if name is not None else {}), "checked": True})
        printer.warnings = []
    where = f"{name}: " if name is not None else ""
    if bad:
        if name is not None:
            printer.note(f"{where}{len(bad)} of {plural(len(lines), 'command')} would fail ({line_list(bad)}); "
                         "nothing was run")
        return EXIT_FAILED
    printer.note(f"{where}syntax OK, {plural(len(lines), 'command')} checked; what needs the cluster is checked "
                 + ("when it runs" if len(lines) == 1 else "when they run"))
    return EXIT_OK
