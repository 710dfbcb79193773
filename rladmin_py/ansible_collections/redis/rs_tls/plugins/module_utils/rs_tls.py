# -*- coding: utf-8 -*-
"""The Ansible side of redis.rs_tls: argument specs and AnsibleModule; every task is
rladmin_py.ansible_support, the rladmin-py shell's own code."""
from __future__ import annotations

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    from rladmin_py import ansible_support
except ImportError:
    ansible_support = None
    IMPORT_ERROR = traceback.format_exc()
else:
    IMPORT_ERROR = None

CONNECTION_ARGS = dict(
    url=dict(type="str"),
    user=dict(type="str"),
    password=dict(type="str", no_log=True),
    ca_cert=dict(type="path"),
    validate_certs=dict(type="bool", default=True),
    profile=dict(type="str"),
    timeout=dict(type="float"),
)
VERIFY_ARGS = dict(
    verify=dict(type="bool", default=True),
    verify_timeout=dict(type="float", default=10.0),
)


def run_module(task, argument_spec, **kwargs):
    """Build the module, run the task, exit the Ansible way (failed/msg)."""
    module = AnsibleModule(argument_spec=dict(CONNECTION_ARGS, **argument_spec), supports_check_mode=True, **kwargs)
    if ansible_support is None:
        module.fail_json(msg=missing_required_lib("rladmin-py", reason="the redis.rs_tls modules run its code")
                         + " (the interpreter running the module is not the one rladmin-py is installed in? set "
                           "ansible_python_interpreter: '{{ ansible_playbook_python }}')",
                         exception=IMPORT_ERROR)
    try:
        failed, result = ansible_support.run_task(task, module.params, check_mode=module.check_mode,
                                                  diff=module._diff)
    except Exception as err:  # a bug of ours: one line, never a request body
        module.fail_json(msg="rladmin-py internal error in redis.rs_tls.%s: %s: %s" % (task, type(err).__name__, err),
                         exception=traceback.format_exc())
    for warning in result.pop("warnings", None) or []:
        module.warn(warning)
    if failed:
        module.fail_json(**result)
    module.exit_json(**result)
