#!/usr/bin/python
# -*- coding: utf-8 -*-
# MIT License (see rladmin-py)
from __future__ import annotations

DOCUMENTATION = r'''
---
module: certificate
short_description: Replace a Redis Enterprise Software cluster certificate, checked first and verified on the wire
version_added: "0.1.0"
description:
  - Replaces one certificate of a Redis Enterprise Software (RS) cluster on every node, as
    C(rladmin cluster certificate set <name> certificate_file <path> key_file <path>) does in the rladmin-py shell.
  - Runs the shell's pre-flight checks first (missing files, DER instead of PEM, password-protected keys,
    key_values_mismatch, expired certificates, chains out of order, weak keys, ...); a refusal fails the task
    with the shell's message and nothing is sent. Warnings (near expiry, SANs that miss the cluster name, ...)
    are Ansible warnings; O(strict=true) refuses on them.
  - Idempotent, changed only when the certificate the cluster holds under O(name) has another SHA-256
    fingerprint (of the leaf) than the new one; a second run changes nothing.
  - Check mode sends nothing and says what would change. Diff mode shows subject, SANs, issuer, expiry and
    fingerprint before and after (never key material).
  - After a change, checks on the wire, as C(verify tls) does, that every endpoint serving that certificate
    serves the new one to a new connection (for up to O(verify_timeout) seconds), and fails the task when one
    still serves the old certificate (the change itself is in place; C(changed) is true).
  - Certificates go out with C(PUT /v1/cluster/certificates) (C(PUT /v1/cluster/update_cert) before RS 7.22.2)
    and are read back.
author:
  - rladmin-py
options:
  name:
    description:
      - The certificate to replace.
      - The internode-encryption pair (C(ccs_internode_encryption), C(data_internode_encryption)) must be
        replaced together; use the shell's C(cluster certificate set internal) form for it.
    type: str
    required: true
    choices: [api, cm, proxy, syncer, metrics_exporter, ldap_client, mtls_trusted_ca, sso_issuer, sso_service]
  certificate_file:
    description:
      - The PEM certificate (chain, leaf first) on the controller. Relative paths are relative to the directory
        C(ansible-playbook) runs in (use C({{ playbook_dir }})).
    type: path
    required: true
  key_file:
    description:
      - The PEM private key (unencrypted) on the controller. Without it, the key in O(certificate_file) is used,
        or the cluster's current key is kept when the new certificate matches it.
      - Never logged, shown or put in a diff.
    type: path
  force:
    description:
      - Send the certificate even when the cluster already holds it (then always changed).
      - After a 409 (a node was down) the cluster holds the new certificate already, so a plain run reports no
        change; once every node is up, run once with V(true) to update the nodes that missed it.
    type: bool
    default: false
  strict:
    description:
      - Refuse on the pre-flight warnings too (rladmin-py's C(--strict)).
    type: bool
    default: false
extends_documentation_fragment:
  - redis.rs_tls.connection
  - redis.rs_tls.verify
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
seealso:
  - module: redis.rs_tls.certificate_info
  - module: redis.rs_tls.tls_verify
'''

EXAMPLES = r'''
- name: Rotate the proxy certificate
  redis.rs_tls.certificate:
    url: https://cluster.example.com:9443
    user: admin@example.com
    password: "{{ rs_password }}"      # from Ansible Vault
    ca_cert: /etc/rladmin/prod-ca.pem
    name: proxy
    certificate_file: "{{ playbook_dir }}/certs/proxy-chain.pem"
    key_file: "{{ playbook_dir }}/certs/proxy-key.pem"
  delegate_to: localhost

- name: The same with the connection in module_defaults, refusing on warnings
  redis.rs_tls.certificate:
    name: api
    certificate_file: certs/api.pem
    key_file: certs/api.key
    strict: true
  module_defaults:
    group/redis.rs_tls.cluster:
      url: "{{ rs_url }}"
      user: "{{ rs_user }}"
      password: "{{ rs_password }}"
'''

RETURN = r'''
certificate:
  description: The new certificate (no key material).
  returned: unless the pre-flight checks refused it
  type: dict
  contains:
    name: {description: The certificate's name., type: str}
    subject: {description: Subject (RFC 4514)., type: str}
    issuer: {description: Issuer (RFC 4514)., type: str}
    sans: {description: Subject alternative names., type: list, elements: str}
    not_before: {description: Start of validity (ISO 8601, UTC)., type: str}
    not_after: {description: End of validity (ISO 8601, UTC)., type: str}
    days_left: {description: Whole days until not_after., type: int}
    key_type: {description: RSA or EC., type: str}
    key_size: {description: Key size in bits., type: int}
    sha256: {description: SHA-256 fingerprint of the leaf (hex)., type: str}
    self_signed: {description: Whether the leaf is self-signed., type: bool}
  sample: {name: proxy, subject: "CN=cluster.example.com", sha256: "3f2a...", days_left: 364}
previous:
  description: The certificate the cluster held under that name before (same fields), or null.
  returned: unless the pre-flight checks refused it
  type: dict
nodes:
  description: The nodes the cluster says were updated.
  returned: changed and not check mode
  type: list
  elements: dict
verification:
  description: What the check on the wire found.
  returned: changed, not check mode, and verify is true
  type: dict
  contains:
    verified: {description: Endpoints serving the new certificate., type: list, elements: str}
    not_reachable: {description: Endpoints not reachable from the controller (not verified)., type: list, elements: str}
    failures: {description: Endpoints still serving the old certificate (the task failed)., type: list, elements: str}
notes:
  description: The pre-flight checks' notes (what was normalised before sending).
  returned: when there are any
  type: list
  elements: str
retry_safe:
  description: True when the cluster answered 409 (not every node was updated); running the task again is safe.
  returned: failed with 409
  type: bool
error_code:
  description: The error code of a refusal (the shell's, or the cluster's).
  returned: failed, when known
  type: str
'''

from ansible_collections.redis.rs_tls.plugins.module_utils.rs_tls import run_module


def main():
    run_module("certificate")  # the argument spec is module_utils' TASK_ARGS["certificate"] (the action plugin's too)


if __name__ == "__main__":
    main()
