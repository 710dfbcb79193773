"""What a new operator tripped over (issue 15), through the console script."""
from __future__ import annotations

import json

import pytest

from rladmin_py.language import parser


@pytest.mark.parametrize("line", ["cluster certificate show --json proxy", "cluster config --json min_data_TLS_version 1.3",
                                  "status --json nodes issues_only", "info cluster --json"])
def test_flags_may_stand_anywhere_after_the_command_words(line):
    cmd = parser.parse(line)
    assert cmd.args["json"] is True and cmd.line == line


def test_a_suggestion_is_never_the_word_typed_and_columns_stay_those_typed():
    with pytest.raises(parser.CommandSyntaxError) as info:
        parser.parse("cluster certificate show --json prox")
    assert info.value.col == len("cluster certificate show --json ") + 1
    assert "(did you mean proxy?)" in info.value.message
    with pytest.raises(parser.CommandSyntaxError) as info:
        parser.parse("cluster certificate show --json proxy extra")
    assert "did you mean" not in info.value.message and info.value.col == len("cluster certificate show --json proxy ") + 1


def test_json_in_the_middle_from_the_console(rladmin):
    r = rladmin("cluster", "certificate", "show", "--json", "proxy")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[0]["name"] == "proxy"
    r = rladmin("status", "--json", "nodes")
    assert r.returncode == 0 and [row["NODE:ID"] for row in json.loads(r.stdout)["nodes"]][0] == "node:1"


def test_history_never_suggests_a_line_that_failed_to_parse():
    from prompt_toolkit.buffer import Buffer
    from prompt_toolkit.document import Document
    from prompt_toolkit.history import InMemoryHistory

    from rladmin_py.shell.repl import ValidSuggestions

    history = InMemoryHistory()
    for line in ("cluster config min_data_TLS_version 1.2", "cluster config min_data_TLS_version 1.1",
                 "cluster config min_data_TLS_version 1.3 bogus"):
        history.append_string(line)
    buffer = Buffer(history=history)
    suggestion = ValidSuggestions().get_suggestion(buffer, Document("cluster config min"))
    assert suggestion is not None and suggestion.text == "_data_TLS_version 1.2"
    assert ValidSuggestions().get_suggestion(buffer, Document("cluster config min_data_TLS_version 1.1")) is None
