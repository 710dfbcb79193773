# -*- coding: utf-8 -*-
"""redis.rs_tls.certificate_info in Ansible's worker process when the module would run on this interpreter
(see plugins/plugin_utils/in_worker.py); else the module, as Ansible runs it."""
from __future__ import annotations

from ansible_collections.redis.rs_tls.plugins.plugin_utils.in_worker import TaskAction


class ActionModule(TaskAction):
    TASK = "certificate_info"
