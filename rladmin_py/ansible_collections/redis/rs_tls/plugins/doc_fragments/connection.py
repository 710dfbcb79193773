# -*- coding: utf-8 -*-
"""The connection options every redis.rs_tls module takes (the rladmin-py shell's settings)."""


class ModuleDocFragment(object):
    DOCUMENTATION = r'''
options:
  url:
    description:
      - The cluster's REST API, C(https://HOST:9443) (the port defaults to 9443).
      - Else C(REDIS_ENTERPRISE_URL) in the controller's environment, else the O(profile)'s C(url).
      - Plain C(http://) and URLs holding a user name or password are refused.
    type: str
  user:
    description:
      - The user name. Else C(REDIS_ENTERPRISE_USER), else the O(profile)'s C(user).
    type: str
  password:
    description:
      - The password (keep it in Ansible Vault). Never logged or shown.
      - Else C(REDIS_ENTERPRISE_PASSWORD), else the variable the O(profile)'s C(password_env) names.
    type: str
  ca_cert:
    description:
      - A PEM file (on the controller) of the CA certificates that verify the cluster's REST API
        certificate; also the trust the on-the-wire checks use. Default the system store.
    type: path
  validate_certs:
    description:
      - Verify the REST API certificate. V(false) is rladmin-py's C(--insecure) (with a warning).
    type: bool
    default: true
  profile:
    description:
      - A profile of C($XDG_CONFIG_HOME/rladmin-py/config.toml) (url, user, ca_cert, password_env).
      - The options above win over the environment, which wins over the profile.
    type: str
  timeout:
    description:
      - Seconds a whole request may take (default 60, 900 for certificate requests).
    type: float
notes:
  - "Runs on the controller (C(connection: local) or C(delegate_to: localhost)) with an interpreter that has
    rladmin-py installed, for example C(ansible_python_interpreter: '{{ ansible_playbook_python }}')."
  - "With C(connection: local) and the interpreter Ansible itself runs in (C(ansible_python_interpreter:
    '{{ ansible_playbook_python }}')), the task runs in the worker process Ansible forks for the host (the
    module's action plugin): no interpreter is started and no module is sent per cluster, with the same
    argument checks and results. With C(become), C(async), a task C(environment) or another interpreter,
    it runs as a module."
  - A 409 answer (not every node took the change) fails the task with a message saying the task is safe
    to retry; an authentication failure says so and nothing else.
requirements:
  - rladmin-py (installed with C(pip install 'rladmin-py[ansible]'))
'''
