"""argv -> one mode (one-shot, script, interactive, serve) -> one exit code.

Exit codes: 0 ok; 1 a command failed; 2 usage or syntax error; 3 connection, authentication or
configuration error; 130 interrupted. Heavy modules are imported only by the mode that needs
them (pyparsing to parse, prompt_toolkit for the shell, httpx for a live cluster).
"""
from __future__ import annotations

import argparse
import os
import sys

from . import __version__
from .exitcodes import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE

EPILOG = """\
modes:
  rladmin-py                         interactive shell (on a terminal)
  rladmin-py <command words>         run one command, e.g. rladmin-py cluster config min_data_TLS_version 1.3
  rladmin-py -f FILE | < FILE        run a script (parsed whole before anything runs; '#' starts a
                                     comment, a '\\' at the end of a line continues it)
  rladmin-py --check [-f FILE | <command words>]
                                     validate without a cluster, run nothing
  rladmin-py --sandbox PATH --serve [HOST:]PORT
                                     serve the sandbox as a cluster on the wire: REST API (HTTPS
                                     and plain HTTP), Cluster Manager UI, metrics exporter and a
                                     database endpoint (port 0: every endpoint a free port)

target: the local sandbox unless --cluster, REDIS_ENTERPRISE_URL or --profile names a cluster.
exit codes: 0 ok, 1 a command failed, 2 usage or syntax error,
            3 connection, authentication or configuration error, 130 interrupted.
"""


class UsageError(Exception):
    """Bad command-line usage: exit 2."""


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The width without importing shutil (``--help`` is timed against a bare interpreter)."""

    def __init__(self, prog, **kw):
        try:
            width = int(os.environ.get("COLUMNS") or os.get_terminal_size(sys.stdout.fileno()).columns)
        except (OSError, ValueError):
            width = 80
        super().__init__(prog, width=max(width, 40) - 2, **kw)


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message):  # one line and exit 2, like every other usage error
        raise UsageError(message)


def build_argparser() -> argparse.ArgumentParser:
    p = _ArgumentParser(
        prog="rladmin-py",
        description="An rladmin-style admin shell for Redis Enterprise Software clusters (TLS and certificates).",
        epilog=EPILOG,
        formatter_class=_HelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"rladmin-py {__version__}")
    mode = p.add_argument_group("modes")
    mode.add_argument("-f", "--file", metavar="FILE", help="run the commands in FILE ('-' for standard input)")
    mode.add_argument("--check", action="store_true",
                      help="parse and validate the script (or the command words) without a cluster: syntax, "
                           "values, files and the certificates' pre-flight; run nothing")
    mode.add_argument("--keep-going", action="store_true", help="in a script, run the rest after a failing command")
    mode.add_argument("--serve", metavar="[HOST:]PORT",
                      help="serve the sandbox's endpoints (REST API on PORT, UI, metrics, a database)")
    mode.add_argument("--quiet", action="store_true", help="with --serve: no log line per connection or request")
    out = p.add_argument_group("output and behaviour")
    out.add_argument("--json", action="store_true", help="machine-readable output: one JSON document per command")
    out.add_argument("-y", "--yes", action="store_true", help="assume yes to confirmations")
    out.add_argument("--dry-run", action="store_true", help="check everything and show what would be sent; change nothing")
    out.add_argument("--strict", action="store_true", help="treat certificate warnings as refusals")
    out.add_argument("--no-verify", action="store_true",
                     help="after a certificate or TLS change, do not check on the wire that endpoints follow")
    out.add_argument("--debug", action="store_true", help="show tracebacks and request timings (never bodies)")
    target = p.add_argument_group("target")
    target.add_argument("--sandbox", metavar="PATH", help="use the local sandbox cluster kept in PATH")
    target.add_argument("--cluster", metavar="URL", help="a live cluster's REST API (https://host:9443)")
    target.add_argument("--user", metavar="USER", help="REST API user (or REDIS_ENTERPRISE_USER)")
    target.add_argument("--profile", metavar="NAME", help="a profile from $XDG_CONFIG_HOME/rladmin-py/config.toml")
    target.add_argument("--ca-cert", metavar="FILE", help="CA certificate to verify the cluster with")
    target.add_argument("-k", "--insecure", action="store_true", help="do not verify the cluster's TLS certificate")
    target.add_argument("--timeout", type=float, metavar="SECONDS", help="REST request timeout")
    p.add_argument("words", nargs=argparse.REMAINDER, help="a command to run once (without the 'rladmin' prefix)")
    return p


def _line_of(args) -> str:
    """The command line one-shot words make (a leading ``--`` ends the options)."""
    words = args.words[1:] if args.words[:1] == ["--"] else args.words
    return " ".join(quote_word(w) for w in words)


def _one_shot(args, printer) -> int:
    from .context import command_context
    from .runner import run_line

    line = _line_of(args)
    ctx = command_context(args, printer)
    try:
        code, _ = run_line(ctx, line, printer)
    finally:
        ctx.close()
    return code


def _check_words(args, printer) -> int:
    """``--check`` of one-shot words: parsed and checked as one line of a script, run nothing."""
    from . import script
    from .language.parser import CommandSyntaxError, parse
    from .runner import syntax_error

    line = _line_of(args)
    try:
        command = parse(line)
    except CommandSyntaxError as err:
        return syntax_error(printer, err)
    return script.check_script(None, [script.ScriptLine(1, line, command)], printer, strict=args.strict)


def quote_word(word: str) -> str:
    """One argv word as it would be typed at the prompt: the shell already split the words.

    A word the user quoted on purpose ("'HIGH:!MD5'", as rladmin's docs show) stays quoted so the
    grammar strips the quotes, as rladmin does.
    """
    if len(word) >= 2 and word[0] == word[-1] and word[0] in "'\"" and word[0] not in word[1:-1]:
        return word
    if word and not any(ch.isspace() or ch in "'\"\\" for ch in word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _script(args, printer) -> int:
    from . import script
    from .context import command_context

    try:
        name, text = script.read_script(args.file)
    except script.ScriptError as err:
        from .terminal import escape

        message = escape(str(err))  # it names the file
        printer.err.write(message + "\n" if ": error: " in message else f"error: {message}\n")
        return EXIT_USAGE
    lines = script.parse_script(name, text, printer)
    if lines is None:
        return EXIT_USAGE
    if args.check:
        return script.check_script(name, lines, printer, strict=args.strict)
    ctx = command_context(args, printer, script=True)
    try:
        return script.run_script(ctx, name, lines, printer, keep_going=args.keep_going)
    finally:
        ctx.close()


def _interactive(args, printer) -> int:
    from .shell.prompt import predraw

    predraw(args, printer.out)  # the prompt appears now; prompt_toolkit loads while the user types
    from .shell import repl

    return repl.run(args, printer, predrawn=True)


def _serve(args, printer) -> int:
    from .sandbox import serve

    return serve.main(args, printer)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--version"]:  # the fast path: nothing else to import
        print(f"rladmin-py {__version__}")
        return EXIT_OK
    try:
        args = build_argparser().parse_args(argv)
    except UsageError as err:
        from .terminal import escape

        sys.stderr.write(f"error: {escape(str(err))} (see rladmin-py --help)\n")
        return EXIT_USAGE
    from .safefiles import disable_core_dumps

    disable_core_dumps()  # every mode past this point may hold private keys or a password
    from .backends import BackendError
    from .runner import Printer

    printer = Printer(json=args.json, debug=args.debug)
    try:
        if args.serve is not None:
            return _serve(args, printer)
        if args.file is not None and args.words:
            raise UsageError("give either command words or -f FILE, not both")
        if args.check and args.words:
            return _check_words(args, printer)
        if args.check and args.file is None and sys.stdin.isatty():
            raise UsageError("--check takes a script (-f FILE or standard input) or command words")
        if args.words:
            return _one_shot(args, printer)
        if args.file is not None or not sys.stdin.isatty():
            return _script(args, printer)
        return _interactive(args, printer)
    except UsageError as err:
        printer.error(f"{err} (see rladmin-py --help)")
        return EXIT_USAGE
    except BackendError as err:  # opening the backend failed (bad profile, unreadable sandbox)
        printer.error(err.message)
        return err.exit_code
    except KeyboardInterrupt as err:
        if getattr(err, "maybe_applied", False):  # Ctrl-C after a change request went out
            printer.err.write("\n")
            printer.error(err.message)
        else:
            printer.err.write("\ninterrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (| head): not an error worth a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK

