# -*- coding: utf-8 -*-
"""The options of the modules that change something and check on the wire after it (certificate,
tls_settings): the shell's check after a change."""


class ModuleDocFragment(object):
    DOCUMENTATION = r'''
options:
  verify:
    description:
      - Check on the wire after a change that the endpoints it touches follow it (new connections).
      - V(false) skips it.
    type: bool
    default: true
  verify_timeout:
    description:
      - Seconds to wait for each endpoint to follow the change (a cluster may take a moment to reload).
    type: float
    default: 10.0
'''
