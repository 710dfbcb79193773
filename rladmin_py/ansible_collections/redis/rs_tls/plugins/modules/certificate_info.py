#!/usr/bin/python
# -*- coding: utf-8 -*-
# MIT License (see rladmin-py)
from __future__ import annotations

DOCUMENTATION = r'''
---
module: certificate_info
short_description: Facts for every certificate of a Redis Enterprise Software cluster (for expiry reports)
version_added: "0.1.0"
description:
  - Reads the cluster's certificates (C(GET /v1/cluster/certificates)) and returns, for each, what
    C(rladmin-py cluster certificate show) shows - subject, SANs, issuer, self-signed, not_after, days_left and the
    SHA-256 fingerprint - as facts. Keys are never looked at or returned.
  - Sets the facts C(rs_tls_certificates) (by name), C(rs_tls_expiring) (the names expiring within
    O(expiring_within_days)) and C(rs_tls_cluster_name).
author:
  - rladmin-py
options:
  name:
    description:
      - Only this certificate (fails when the cluster holds none of that name).
    type: str
  expiring_within_days:
    description:
      - The horizon of RV(expiring) - certificates whose days_left is at most this.
    type: int
    default: 30
extends_documentation_fragment:
  - redis.rs_tls.connection
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
'''

EXAMPLES = r'''
- name: Certificates of every cluster
  redis.rs_tls.certificate_info:
    url: "{{ rs_url }}"
    user: "{{ rs_user }}"
    password: "{{ rs_password }}"
  delegate_to: localhost
  register: info

- name: Say which expire within 30 days
  ansible.builtin.debug:
    msg: "{{ inventory_hostname }}: {{ info.expiring | join(', ') }}"
  when: info.expiring | length > 0
'''

RETURN = r'''
cluster:
  description: The cluster's name.
  returned: always
  type: str
certificates:
  description: One entry per certificate.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: The certificate's name (api, cm, proxy, ...)., type: str}
    subject: {description: Subject (RFC 4514)., type: str}
    issuer: {description: Issuer (RFC 4514)., type: str}
    sans: {description: Subject alternative names., type: list, elements: str}
    self_signed: {description: Whether the leaf is self-signed., type: bool}
    not_before: {description: Start of validity (ISO 8601, UTC)., type: str}
    not_after: {description: End of validity (ISO 8601, UTC)., type: str}
    days_left: {description: Whole days until not_after (negative once expired)., type: int}
    key_type: {description: RSA or EC., type: str}
    key_size: {description: Key size in bits., type: int}
    sha256: {description: SHA-256 fingerprint of the leaf (hex)., type: str}
expiring:
  description: Names of the certificates whose days_left is at most expiring_within_days.
  returned: always
  type: list
  elements: str
ansible_facts:
  description: rs_tls_certificates (by name), rs_tls_expiring, rs_tls_cluster_name.
  returned: always
  type: dict
'''

from ansible_collections.redis.rs_tls.plugins.module_utils.rs_tls import run_module


def main():
    run_module("certificate_info")  # the argument spec is module_utils' TASK_ARGS["certificate_info"] (the action plugin's too)


if __name__ == "__main__":
    main()
