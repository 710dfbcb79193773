# -*- coding: utf-8 -*-
"""The Ansible side of redis.rs_tls: argument specs and AnsibleModule; every task is
rladmin_py.ansible_support, the rladmin-py shell's own code.

Both ways a task runs use what is here: the module (AnsibleModule, a Python process of its own) and
the action plugin of the same name (in Ansible's worker process on the controller, see
plugins/plugin_utils/in_worker.py): the same argument specs, the same task, the same result."""
from __future__ import annotations

import traceback

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
#: Each task's own options (the connection options come with every one).
TASK_ARGS = {
    "certificate": dict(
        name=dict(type="str", required=True, choices=["api", "cm", "proxy", "syncer", "metrics_exporter",
                                                      "ldap_client", "mtls_trusted_ca", "sso_issuer", "sso_service"]),
        certificate_file=dict(type="path", required=True),
        key_file=dict(type="path", no_log=False),
        force=dict(type="bool", default=False),
        strict=dict(type="bool", default=False),
        **VERIFY_ARGS
    ),
    "tls_settings": dict(settings=dict(type="dict", required=True), **VERIFY_ARGS),
    "certificate_info": dict(name=dict(type="str"), expiring_within_days=dict(type="int", default=30)),
    "tls_verify": dict(endpoint=dict(type="str", choices=["api", "cm", "http", "metrics_exporter", "database"])),
}


def argument_spec(task):
    """The whole argument spec of a task's module (a new dict each time: AnsibleModule may change it)."""
    import copy

    return copy.deepcopy(dict(CONNECTION_ARGS, **TASK_ARGS[task]))


def not_installed_message():
    from ansible.module_utils.basic import missing_required_lib

    return (missing_required_lib("rladmin-py", reason="the redis.rs_tls modules run its code")
            + " (the interpreter running the module is not the one rladmin-py is installed in? set "
              "ansible_python_interpreter: '{{ ansible_playbook_python }}')")


def execute(task, params, check_mode, diff):
    """(failed, result, traceback or None) of one task: the result holds ``msg`` when it failed and
    ``warnings`` (a list of strings) always."""
    try:
        failed, result = ansible_support.run_task(task, params, check_mode=check_mode, diff=diff)
    except Exception as err:  # a bug of ours: one line, never a request body
        return True, {"msg": "rladmin-py internal error in redis.rs_tls.%s: %s: %s" % (task, type(err).__name__, err),
                      "warnings": []}, traceback.format_exc()
    return failed, result, None


def run_module(task):
    """Build the module, run the task, exit the Ansible way (failed/msg)."""
    from ansible.module_utils.basic import AnsibleModule

    module = AnsibleModule(argument_spec=argument_spec(task), supports_check_mode=True)
    if ansible_support is None:
        module.fail_json(msg=not_installed_message(), exception=IMPORT_ERROR)
    failed, result, trace = execute(task, module.params, module.check_mode, module._diff)
    if trace is not None:
        module.fail_json(msg=result["msg"], exception=trace)
    for warning in result.pop("warnings", None) or []:
        module.warn(warning)
    if failed:
        module.fail_json(**result)
    module.exit_json(**result)
