#!/usr/bin/python
# -*- coding: utf-8 -*-
# MIT License (see rladmin-py)
from __future__ import annotations

DOCUMENTATION = r'''
---
module: tls_settings
short_description: Set Redis Enterprise Software cluster parameters (minimum TLS versions, ciphers, ...) idempotently
version_added: "0.1.0"
description:
  - Sets any C(rladmin cluster config) parameters of a Redis Enterprise Software cluster, given as a dict
    (C(min_control_TLS_version), C(min_data_TLS_version), C(min_sentinel_TLS_version), C(control_cipher_suites),
    C(data_cipher_list), C(data_cipher_suites_tls_1_3), C(sentinel_tls_mode), C(http_support), ...; the full list
    is C(rladmin-py help cluster config)).
  - Every value is typed and range-checked by the rladmin-py grammar (the dict is parsed as the
    C(cluster config) line it stands for), so a wrong name or value fails with the shell's message before anything
    is sent; cipher settings are checked as the shell checks them.
  - Idempotent, changed only for the parameters whose current value differs; only those are sent.
  - Check mode sends nothing and returns the requests that would be sent. Diff mode shows the current and the
    new value of each parameter that changes.
  - After a change of a minimum TLS version or a cipher list, checks on the wire that the endpoints of that plane
    refuse the version below the minimum and ciphers outside the list (for up to O(verify_timeout) seconds), and
    fails the task when one does not (the change itself is in place).
author:
  - rladmin-py
options:
  settings:
    description:
      - "C(parameter: value) pairs, as C(cluster config) takes them. TLS versions may be written 1.2 or \"1.2\";
        switches V(enabled)/V(disabled) or V(true)/V(false); cipher lists as a colon-separated string or a list;
        C(reserved_ports) as a list; C(services) as C({service: NAME, operating_mode: enabled}); C(auditing) as
        C({audit_protocol: TCP, audit_address: HOST, audit_port: PORT})."
    type: dict
    required: true
extends_documentation_fragment:
  - redis.rs_tls.connection
  - redis.rs_tls.verify
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
seealso:
  - module: redis.rs_tls.tls_verify
'''

EXAMPLES = r'''
- name: Raise every minimum to TLS 1.3
  redis.rs_tls.tls_settings:
    url: "{{ rs_url }}"
    user: "{{ rs_user }}"
    password: "{{ rs_password }}"
    settings:
      min_control_TLS_version: "1.3"
      min_data_TLS_version: "1.3"
      min_sentinel_TLS_version: "1.3"
  delegate_to: localhost

- name: Restrict the TLS 1.2 ciphers of database endpoints
  redis.rs_tls.tls_settings:
    profile: prod
    settings:
      data_cipher_list: ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256
'''

RETURN = r'''
changes:
  description: Each parameter that changed (or would, in check mode), with its value before and after (as rladmin words
    them).
  returned: always
  type: dict
  sample: {min_data_TLS_version: {before: "1.2", after: "1.3"}}
requests:
  description: The requests that would be sent (method, path, body).
  returned: check mode, when something would change
  type: list
  elements: dict
verification:
  description: What the check on the wire found.
  returned: changed, not check mode, verify is true, and a TLS version or cipher list changed
  type: dict
  contains:
    verified: {description: Endpoints following the new settings., type: list, elements: str}
    not_reachable: {description: Endpoints not reachable from the controller (not verified)., type: list, elements: str}
    failures: {description: Endpoints not following them (the task failed)., type: list, elements: str}
retry_safe:
  description: True when the cluster answered 409; running the task again is safe.
  returned: failed with 409
  type: bool
'''

from ansible_collections.redis.rs_tls.plugins.module_utils.rs_tls import run_module


def main():
    run_module("tls_settings")  # the argument spec is module_utils' TASK_ARGS["tls_settings"] (the action plugin's too)


if __name__ == "__main__":
    main()
