# -*- coding: utf-8 -*-
"""The redis.rs_tls tasks run in Ansible's worker process, when that is where the module would run.

The modules talk to each cluster's REST API from the controller (``connection: local``) with the
interpreter rladmin-py is installed in (``ansible_python_interpreter: "{{ ansible_playbook_python }}"``),
which is the interpreter Ansible itself runs in. Running the module as Ansible does would start
that interpreter once per cluster, import Ansible's module code and rladmin-py again, build and write
the module's zip and clean up after it: about half a second of CPU per cluster, for a task that
takes a few milliseconds. The action plugin of each module (plugins/action/) runs the same task,
with the same argument spec, on the same interpreter and rladmin-py, in the worker Ansible has
already forked for that host: nothing is started, and what the tasks import was imported once,
before the workers were forked (Ansible's strategy loads the action plugin in the controller).

Whenever the module would run somewhere else, or differently, it runs as a module, exactly as
before: another connection than ``local``, ``become``, ``async``, an ``environment``, another
interpreter (or none named: Ansible would discover one), or rladmin-py not importable here.

What comes back is what the module returns: the validated parameters (``invocation``), the no_log
values masked anywhere in the result, warnings, ``failed`` and ``msg``; the result passes through
JSON as the module's does.
"""
from __future__ import annotations

import json
import os
import re
import sys

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash

from ansible_collections.redis.rs_tls.plugins.module_utils import rs_tls

if rs_tls.ansible_support is not None:
    rs_tls.ansible_support.preload()  # here: in the controller, before Ansible forks the workers
#: Each task's argument spec, ready to validate with (built once, in the controller).
VALIDATORS = {task: ArgumentSpecValidator(rs_tls.argument_spec(task)) for task in rs_tls.TASK_ARGS}
#: The interpreter Ansible runs in, named the way the example inventory names it (no templating needed).
PLAYBOOK_PYTHON = re.compile(r"\{\{-?\s*ansible_playbook_python\s*-?\}\}")


def _same_interpreter(path) -> bool:
    """Whether ``path`` names the interpreter running this (same path, or the same file in the same
    directory: ``python`` and ``python3`` of one virtualenv)."""
    if not isinstance(path, str) or not path:
        return False
    here = os.path.abspath(sys.executable)
    there = os.path.abspath(os.path.expanduser(path))
    if there == here:
        return True
    try:
        return os.path.dirname(there) == os.path.dirname(here) and os.path.samefile(there, here)
    except OSError:
        return False


class TaskAction(ActionBase):
    """The action plugin of the module named :attr:`TASK`."""

    TASK = ""
    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        if self._runs_as_module(task_vars):
            return self._as_module(tmp, task_vars)
        result = super().run(tmp, task_vars)  # what every action checks (check mode, async)
        return merge_hash(result, self._in_worker())

    # -- where the task runs -------------------------------------------------------------------------------
    def _runs_as_module(self, task_vars) -> bool:
        """Whether running the task here could differ from running the module."""
        if rs_tls.ansible_support is None:  # the module says so, with its message
            return True
        if getattr(self._connection, "transport", None) != "local" or self._play_context.become:
            return True
        if self._task.async_val:
            return True
        environments = self._task.environment
        if not isinstance(environments, list):
            environments = [environments]
        if any(environment for environment in environments):  # the module would run with it
            return True
        host_vars = task_vars
        if self._task.delegate_to:
            host_vars = (task_vars.get("ansible_delegated_vars") or {}).get(self._task.delegate_to)
            if not isinstance(host_vars, dict):
                return True
        interpreter = host_vars.get("ansible_python_interpreter")
        if interpreter is None:  # Ansible would discover one
            return True
        if isinstance(interpreter, str) and PLAYBOOK_PYTHON.fullmatch(interpreter.strip()):
            interpreter = task_vars.get("ansible_playbook_python")  # no template to render for it
        else:
            try:
                interpreter = self._templar.template(interpreter)
            except Exception:  # the module path says what is wrong with it
                return True
        return not _same_interpreter(interpreter)

    def _as_module(self, tmp, task_vars):
        """The module, as Ansible runs it (what ansible.builtin.normal does)."""
        result = super().run(tmp, task_vars)
        wrap_async = self._task.async_val and not self._connection.has_native_async
        result = merge_hash(result, self._execute_module(task_vars=task_vars, wrap_async=wrap_async))
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    # -- the task in this process --------------------------------------------------------------------------
    def _in_worker(self):
        validation = VALIDATORS[self.TASK].validate(dict(self._task.args))
        params = validation.validated_parameters
        no_log_values = validation._no_log_values
        if validation.error_messages:
            msg = validation.errors.msg
            if type(validation.errors[0]).__name__ == "UnsupportedError":
                msg = "Unsupported parameters for (%s) module: %s" % (self._task.action, msg)
            return self._returned({"failed": True, "msg": msg}, params, no_log_values)
        failed, result, trace = rs_tls.execute(self.TASK, params, bool(self._task.check_mode), bool(self._task.diff))
        result = dict(result)
        warnings = list(result.pop("warnings", None) or [])
        if trace is not None:
            result["exception"] = trace
        if failed:
            result["failed"] = True
        if warnings:
            result["warnings"] = warnings
        return self._returned(result, params, no_log_values)

    @staticmethod
    def _returned(result, params, no_log_values):
        """What AnsibleModule.exit_json/fail_json make of a result: the parameters as validated, the
        no_log values masked wherever they appear (booleans and nulls kept), through JSON."""
        result.setdefault("invocation", {"module_args": params})
        kept = {k: v for k, v in result.items() if v is None or isinstance(v, bool)}
        result = remove_values(result, no_log_values)
        result.update(kept)
        return json.loads(json.dumps(result))
