"""The interactive shell: a thin prompt_toolkit adapter over :mod:`rladmin_py.language.completion`.

Only this module imports prompt_toolkit, and only the interactive path imports this module.
The first prompt appears before pyparsing is imported: completion, highlighting, the toolbar
and ``?`` walk the grammar data, and the pyparsing parser is built in a background thread once
the first prompt is on screen (Enter waits for it; validation while typing uses it once ready).
"""
from __future__ import annotations

import re
import sys
import threading

from prompt_toolkit import PromptSession
from prompt_toolkit.application import run_in_terminal
from prompt_toolkit.auto_suggest import AutoSuggest, Suggestion
from prompt_toolkit.completion import CompleteEvent, Completer, Completion, get_common_complete_suffix
from prompt_toolkit.enums import DEFAULT_BUFFER
from prompt_toolkit.filters import has_focus
from prompt_toolkit.history import FileHistory, InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings
from prompt_toolkit.lexers import Lexer
from prompt_toolkit.output.color_depth import ColorDepth
from prompt_toolkit.shortcuts import CompleteStyle
from prompt_toolkit.styles import Style

from ..exitcodes import EXIT_OK, EXIT_USAGE
from ..language import completion, helptext, walker
from ..language.tokens import tokenize
from ..terminal import escape_lines
from .history import history_path, may_hold_secret, prepare_history_file
from .prompt import PROMPT, describe_target, greeting_text, no_color


STYLE = {
    "keyword": "ansiblue bold",
    "flag": "ansimagenta",
    "parameter": "ansicyan",
    "value": "ansigreen",
    "path": "ansiyellow",
    "string": "ansigreen",
    "help": "ansiblue",
    "invalid": "ansired bold underline",
    "comment": "ansibrightblack italic",
    "toolbar.target": "bold",
    "toolbar.error": "bold fg:ansired",
    "toolbar.hint": "",
}
#: How the lexer's token roles (walker.Analysis.roles) are styled.
ROLE_CLASS = {role: f"class:{role}" for role in ("keyword", "flag", "parameter", "value", "path", "string",
                                                 "help", "invalid")}


class ParserLoader:
    """Builds the pyparsing parser in a background thread (started after the first prompt)."""

    def __init__(self):
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.parse = None  # parser.parse, once built

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._build, name="rladmin-parser", daemon=True)
            self._thread.start()

    def _build(self) -> None:
        try:
            from ..language import parser

            parser.parser()
            self.parse = parser.parse
        except Exception:  # Enter will import it again and report the problem there
            pass
        finally:
            self._ready.set()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()


class SafeFileHistory(FileHistory):
    """File history that never writes lines that could carry secrets (they stay in memory for
    this session's up-arrow only)."""

    skip_next = False  # the line typed right after a failed password: it may be the password

    def store_string(self, string: str) -> None:
        skip, self.skip_next = self.skip_next, False
        if skip or may_hold_secret(string):
            return
        super().store_string(string)


# -- prompt_toolkit adapters ----------------------------------------------------------------------
class GrammarCompleter(Completer):
    """The one place plain candidates become prompt_toolkit Completions."""

    def get_completions(self, document, complete_event):
        for c in completion.complete(document.text, document.cursor_position):
            yield Completion(c.text, c.start_position, display=c.display, display_meta=c.description)


class GrammarLexer(Lexer):
    """Highlighting from the grammar walk: keywords, values, paths, the first invalid word."""

    def __init__(self, shell: "Shell"):
        self.shell = shell

    def lex_document(self, document):
        lines = document.lines
        first = self.fragments(lines[0] if lines else "")

        def get_line(lineno: int):
            if lineno == 0:
                return first
            return [("", lines[lineno])] if lineno < len(lines) else []

        return get_line

    def fragments(self, line: str):
        a = self.shell.analyze(line)
        if a.status == "comment":
            return [("class:comment", line)]
        out, pos = [], 0
        for tok, role in zip(a.tokens, a.roles):
            if tok.start > pos:
                out.append(("", line[pos:tok.start]))
            out.append((ROLE_CLASS.get(role, ""), line[tok.start:tok.end]))
            pos = tok.end
        if pos < len(line):
            out.append(("", line[pos:]))
        return out


class ValidSuggestions(AutoSuggest):
    """prompt_toolkit's history suggestion, but never a line that does not parse: a line typed
    wrong once is in the history (to fix it with the up arrow), not proposed again as it was."""

    def get_suggestion(self, buffer, document):
        text = document.text.rsplit("\n", 1)[-1]
        if not text.strip():
            return None
        for string in reversed(list(buffer.history.get_strings())):
            for line in reversed(string.splitlines()):
                if line.startswith(text) and line != text and _parses(line):
                    return Suggestion(line[len(text):])
        return None


def _parses(line: str) -> bool:
    from ..language import parser

    if walker.match(line) is not None:  # most lines: no pyparsing
        return True
    try:
        parser.parse(line)
    except parser.CommandSyntaxError:
        return False
    return True


class Shell:
    def __init__(self, args, printer, input=None, output=None):
        from ..context import command_context

        self.args = args
        self.printer = printer
        self.input, self.output = input, output
        self.target = describe_target(args)
        self.loader = ParserLoader()
        self.ctx = command_context(args, printer)
        self.ctx.confirm = self.confirm
        self._confirm_session = None
        self.completer = GrammarCompleter()
        self.session = self._session()
        self.session.app.after_render += self._after_render

    # -- building ------------------------------------------------------------------------------
    def _history(self):
        try:
            return SafeFileHistory(prepare_history_file(history_path()))
        except OSError as err:
            self.printer.note(f"warning: history is not kept: {history_path()}: {err.strerror}")
            return InMemoryHistory()

    def _key_bindings(self) -> KeyBindings:
        kb = KeyBindings()

        @kb.add("tab", filter=has_focus(DEFAULT_BUFFER))
        def _(event):
            self.tab(event.current_buffer)

        @kb.add("?", filter=has_focus(DEFAULT_BUFFER))
        def _(event):
            buf = event.current_buffer
            before = buf.document.text_before_cursor
            tokens = tokenize(before)
            if tokens and not tokens[-1].closed:  # inside an open quote: a literal '?'
                buf.insert_text("?")
                return
            text = self.next_help(buf.document.text, buf.document.cursor_position)
            run_in_terminal(lambda: self._write(text))

        return kb

    def _session(self) -> PromptSession:
        return PromptSession(
            PROMPT,
            completer=self.completer,
            complete_while_typing=True,
            complete_style=CompleteStyle.COLUMN,
            lexer=GrammarLexer(self),
            history=self._history(),
            auto_suggest=ValidSuggestions(),
            bottom_toolbar=self.toolbar,
            key_bindings=self._key_bindings(),
            style=Style.from_dict(STYLE),
            include_default_pygments_style=False,
            color_depth=ColorDepth.DEPTH_1_BIT if no_color() else None,
            reserve_space_for_menu=8,
            input=self.input,
            output=self.output,
        )

    def tab(self, buf) -> None:
        """Tab: one candidate is inserted; several insert their common part, then show the menu;
        Tab again walks the menu. Computed synchronously (the completer takes microseconds), so a
        Tab typed right after text never races the complete-while-typing coroutine."""
        state = buf.complete_state
        if state is not None and state.complete_index is not None:
            buf.complete_next()
            return
        completions = list(self.completer.get_completions(buf.document, CompleteEvent(completion_requested=True)))
        if not completions:
            return
        if len(completions) == 1:
            buf.apply_completion(completions[0])
            return
        suffix = get_common_complete_suffix(buf.document, completions)
        if suffix:
            buf.insert_text(suffix)
            completions = list(self.completer.get_completions(buf.document, CompleteEvent(completion_requested=True)))
        elif state is not None and state.completions and state.original_document == buf.document:
            buf.complete_next()  # the menu is already showing: the second Tab selects
            return
        try:
            buf._set_completions(completions)  # show the menu at once, no selection
        except AttributeError:  # a prompt_toolkit without it: the asynchronous way
            buf.start_completion(select_first=False)

    def _after_render(self, _app) -> None:
        self.loader.start()  # once the prompt is on screen (idempotent)

    # -- what the widgets show -----------------------------------------------------------------
    def analyze(self, line: str) -> walker.Analysis:
        return walker.analyze(line, self.loader.parse if self.loader.ready else None)

    def toolbar(self):
        return self.toolbar_for(self.session.default_buffer.text)

    def toolbar_for(self, line: str, width: int | None = None):
        """Idle: the target and a hint. Typing: the usage of the command (or the error, with its
        column) first, the target at the right when there is room for both."""
        a = self.analyze(line)
        kind, text = helptext.toolbar_hint(a)
        target = f" {self.target} "
        if not kind:
            return [("class:toolbar.target", target),
                    ("class:toolbar.hint", " <TAB> completes, <?> shows what may come next, Ctrl-D leaves")]
        if width is None:
            try:
                width = self.session.app.output.get_size().columns
            except Exception:
                width = 80
        width = max(width, 20)
        if kind == "error":  # never cut: wrapped at spaces onto more lines
            import textwrap

            lines = []  # whole clauses (split after ": ") per line where they fit, words otherwise
            for clause in re.split(r"(?<=: )", f"error: {text}"):
                clause = clause.strip()
                if lines and len(lines[-1]) + 1 + len(clause) < width:
                    lines[-1] += " " + clause
                else:
                    lines += textwrap.wrap(" " + clause, width - 1, break_long_words=False, break_on_hyphens=False)
            message = [("class:toolbar.error", "\n".join(lines))]
        else:  # the usage may be shortened, at a space, to leave room for the target
            usage = f" {text}"
            limit = width - 1 - (len(target) if width - len(target) >= 30 else 0)  # a long target yields
            if len(usage) > limit:
                usage = usage[: max(usage.rfind(" ", 0, limit - 4), 1)] + " ..."
            lines = [usage]
            message = [("class:toolbar.usage", usage)]
        room = width - len(lines[-1]) - len(target)
        if room >= 1:
            message += [("", " " * room), ("class:toolbar.target", target)]
        return message

    def next_help(self, line: str, cursor: int) -> str:
        if not line.strip():
            return helptext.form_list()
        return helptext.format_next_help(completion.next_help(line, cursor))

    def _write(self, text: str) -> None:
        self.printer.out.write(text + "\n")
        self.printer.out.flush()

    def confirm(self, question: str) -> bool:
        if self._confirm_session is None:
            self._confirm_session = PromptSession(input=self.input, output=self.output)
        try:
            answer = self._confirm_session.prompt(f"{escape_lines(question)} [y/N] ")  # it names the target
        except (KeyboardInterrupt, EOFError):
            return False
        return answer.strip().lower() in ("y", "yes")

    # -- the loop ------------------------------------------------------------------------------
    def run_line(self, line: str) -> bool:
        """Run one line; False when the session should end."""
        from ..runner import report_bug, run_line

        if not line.strip() or line.lstrip().startswith("#"):
            return True
        try:
            self.loader.wait()  # Enter needs the parser; it is usually built long before
            _, result = run_line(self.ctx, line, self.printer)
            if self.ctx.found.pop("auth_failed", False):
                result = self._authenticate_again(line, result)
        except KeyboardInterrupt as err:
            if getattr(err, "maybe_applied", False):  # Ctrl-C after a change request went out
                self.printer.error(err.message)
            else:
                self.printer.err.write("interrupted\n")
                self.printer.err.flush()
            return True
        except Exception as err:  # a bug must not end the session
            report_bug(self.printer, err)
            return True
        return not (result is not None and result.kind == "exit")

    PASSWORD_TRIES = 3

    def _authenticate_again(self, line: str, result):
        """After a 401 on a live cluster: ask for the password (no echo, never in history) up to
        three times, running the line again with each; then say how to leave."""
        from ..runner import run_line

        backend = self.ctx._backend
        if backend is None or not hasattr(backend, "set_password") or self.input is not None:
            self._history_skips_next()
            return result
        from prompt_toolkit import prompt as ask

        for attempt in range(1, self.PASSWORD_TRIES + 1):
            try:
                password = ask(f"Password for {backend.user} at {backend.url} (try {attempt} of "
                               f"{self.PASSWORD_TRIES}): ", is_password=True)
            except (KeyboardInterrupt, EOFError):
                break
            backend.set_password(password)
            _, result = run_line(self.ctx, line, self.printer)
            if not self.ctx.found.pop("auth_failed", False):
                return result
        self.printer.note("authentication still fails: check the user name (--user) and the password "
                          "(REDIS_ENTERPRISE_PASSWORD); type exit or press Ctrl-D to leave")
        self._history_skips_next()
        return result

    def _history_skips_next(self) -> None:
        history = self.session.history
        if isinstance(history, SafeFileHistory):
            history.skip_next = True

    def loop(self, predrawn: bool = False) -> int:
        """Read and run lines until exit. ``predrawn``: the banner and a first prompt are on the
        screen already (see :func:`.prompt.predraw`); draw over that prompt."""
        if predrawn:
            self.printer.out.write("\r")
            self.printer.out.flush()
        else:
            self._write(greeting_text(self.target))
        try:
            while True:
                try:
                    line = self.session.prompt()
                except KeyboardInterrupt:  # Ctrl-C: a fresh, empty line
                    continue
                except EOFError:  # Ctrl-D
                    break
                if not self.run_line(line):
                    break
        finally:
            self.ctx.close()
        return EXIT_OK


def run(args, printer, *, input=None, output=None, predrawn: bool = False) -> int:
    """The interactive session; its exit code (0 when left with exit, quit or Ctrl-D)."""
    if input is None and not sys.stdin.isatty():  # never a PromptSession on a pipe
        printer.error("the interactive shell needs a terminal; give a command, or a script with -f FILE")
        return EXIT_USAGE
    return Shell(args, printer, input=input, output=output).loop(predrawn)
