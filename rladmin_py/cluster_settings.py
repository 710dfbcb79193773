"""How rladmin's ``cluster config`` words map onto REST cluster fields, and back.

The REST field names are the parameter names. Types follow the real captured cluster object
(fixtures/get_v1_cluster.json): TLS versions are strings, ``encrypt_pkeys`` and
``http_support`` are booleans, ``data_cipher_suites_tls_1_3`` and ``sentinel_cipher_suites``
are arrays, the other cipher fields strings.
"""
from __future__ import annotations

from .language import grammar as gm


def to_rest(param: str, value: str) -> object:
    """The JSON value PUT /v1/cluster takes for ``cluster config <param> <value>``."""
    ptype = gm.load().type("cluster_config").params[param].type
    if ptype == "switch":
        return value == "enabled"
    if ptype == "cipher_list":
        # [guess] the array fields take the colon-separated list split into names,
        # the shape GET returns them in.
        return [part for part in value.split(":") if part]
    return value


def from_rest(value: object) -> str:
    """How ``info cluster`` shows a REST value, in rladmin's words."""
    if value is True:
        return "enabled"
    if value is False:
        return "disabled"
    if isinstance(value, list):
        return ":".join(str(v) for v in value) if value else "(default)"
    if value in (None, ""):
        return "(default)"
    return str(value)


def rest_changes(params: dict) -> dict:
    """The partial cluster object for a whole ``cluster config`` command."""
    return {name: to_rest(name, value) for name, value in params.items()}
