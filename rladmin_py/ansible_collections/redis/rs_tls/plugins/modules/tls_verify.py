#!/usr/bin/python
# -*- coding: utf-8 -*-
# MIT License (see rladmin-py)
from __future__ import annotations

DOCUMENTATION = r'''
---
module: tls_verify
short_description: Check on the wire what a Redis Enterprise Software cluster serves (rladmin-py verify tls)
version_added: "0.1.0"
description:
  - Connects to every endpoint of the cluster reachable from the controller (REST API, Cluster Manager UI, the
    plain-HTTP port, the metrics exporter, every database endpoint with TLS) and compares what is served with what
    the cluster holds, as C(rladmin-py verify tls) does - the certificate served against the one held, whether the
    chain verifies with the trust in use (O(ca_cert), else the system store) and names the cluster, the lowest TLS
    version accepted against the configured minimum, whether a TLS 1.2 cipher outside the configured list is
    accepted, and that the plain-HTTP port refuses while http_support is disabled.
  - Returns the rows as data. Fails when any row is MISMATCH, or when no endpoint is reachable at all;
    UNREACHABLE rows are warnings. Never changes anything.
author:
  - rladmin-py
options:
  endpoint:
    description:
      - Only these endpoints.
    type: str
    choices: [api, cm, http, metrics_exporter, database]
extends_documentation_fragment:
  - redis.rs_tls.connection
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
'''

EXAMPLES = r'''
- name: Every endpoint serves what the cluster holds
  redis.rs_tls.tls_verify:
    url: "{{ rs_url }}"
    user: "{{ rs_user }}"
    password: "{{ rs_password }}"
    ca_cert: "{{ rs_ca_cert }}"
  delegate_to: localhost
  register: verified

- name: Only the database endpoints
  redis.rs_tls.tls_verify:
    profile: prod
    endpoint: database
'''

RETURN = r'''
rows:
  description: One row per endpoint, as C(verify tls --json) gives them.
  returned: always (also when the task failed on a MISMATCH)
  type: list
  elements: dict
  contains:
    endpoint: {description: api, cm, http, metrics_exporter or db:<id>., type: str}
    address: {description: host:port probed., type: str}
    status: {description: OK, MISMATCH, UNREACHABLE or NOT TESTABLE., type: str}
    certificate: {description: The certificate the endpoint should serve., type: str}
    served: {description: CN, sha256, days_left and tls_version of what is served., type: dict}
    expected_sha256: {description: SHA-256 of the certificate held under that name., type: str}
    chain: {description: Whether the chain verifies with the trust in use., type: str}
    name_match: {description: Whether the certificate names the endpoint., type: bool}
    min_version: {description: The configured minimum and what the version below it got., type: dict}
    cipher_outside: {description: What a TLS 1.2 cipher outside the configured list got., type: str}
    problems: {description: What is wrong, one line each., type: list, elements: str}
ok:
  description: Whether every reachable row is OK (verify tls's exit code 0).
  returned: always
  type: bool
counts:
  description: Rows per status.
  returned: always
  type: dict
  sample: {OK: 4, UNREACHABLE: 1}
'''

from ansible_collections.redis.rs_tls.plugins.module_utils.rs_tls import run_module


def main():
    run_module("tls_verify")  # the argument spec is module_utils' TASK_ARGS["tls_verify"] (the action plugin's too)


if __name__ == "__main__":
    main()
