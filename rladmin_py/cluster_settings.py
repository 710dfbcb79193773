"""How rladmin's ``cluster config`` (and ``cluster ocsp config``) words map onto REST fields, and back.

Where each parameter goes is grammar data (attributes ``field=`` and ``route=`` of the params
tables): by default the cluster object's field of the same name (``PUT /v1/cluster``);
``services`` goes to ``/v1/cluster/services_configuration`` and ``auditing`` to
``/v1/cluster/auditing/db_conns``. Types follow the real captured cluster object
(fixtures/get_v1_cluster.json) and the REST object pages: TLS versions are strings, switches
booleans (https://redis.io/docs/latest/operate/rs/references/rest-api/objects/cluster/),
ports and counts integers, ``reserved_ports`` an array of strings, ``data_cipher_suites_tls_1_3``
and ``sentinel_cipher_suites`` arrays, the other cipher fields strings.
"""
from __future__ import annotations

from .language import grammar as gm

#: The longest string value accepted for a field (cipher lists, paths, URLs): RS's own lists are
#: a few hundred characters; a bound keeps a state file and every request small.
MAX_TEXT = 4096
#: The most items a stored list or object may hold, and the largest JSON encoding of one stored
#: value (a field of the cluster object or the policy that the grammar does not describe: RS's
#: ``alert_settings``, ``mtls_authorized_subjects`` ...), and how deeply it may nest.
MAX_ITEMS = 1000
MAX_VALUE = 64 * 1024
MAX_DEPTH = 8

CLUSTER, SERVICES, AUDITING = "cluster", "services_configuration", "auditing"
#: The request each route takes a change with.
ROUTE_PATHS = {CLUSTER: "/v1/cluster", SERVICES: "/v1/cluster/services_configuration",
               AUDITING: "/v1/cluster/auditing/db_conns"}


def _table(name: str = "cluster_config") -> dict:
    return gm.load().type(name).params


def rest_field(param: str) -> str:
    return _table()[param].attr("field", param)


def param_of_field(field: str) -> gm.Param | None:
    """The ``cluster config`` parameter that sets a cluster-object field (``use_ipv6`` -> ``ipv6``)."""
    for p in _table().values():
        if p.attr("route", CLUSTER) == CLUSTER and p.attr("field", p.name) == field:
            return p
    return None


def to_rest(param: str, value: object, table: str = "cluster_config") -> object:
    """The JSON value the REST API takes for ``<param> <value>`` as the parser gives it."""
    p = _table(table)[param]
    ptype = p.type
    if ptype == "switch":
        return value == "enabled"
    if ptype == "cipher_list":
        # [guess] the array fields take the colon-separated list split into names,
        # the shape GET returns them in.
        return [part for part in str(value).split(":") if part]
    return value  # numbers are ints already; reserved_ports a list of strings


def split_changes(params: dict) -> dict:
    """``{route: body}`` for a whole ``cluster config`` command, in the order the routes are sent."""
    out: dict = {}
    for name, value in params.items():
        route = _table()[name].attr("route", CLUSTER)
        if route == SERVICES:
            out.setdefault(SERVICES, {})[value["service"]] = {"operating_mode": value["operating_mode"]}
        elif route == AUDITING:
            out[AUDITING] = dict(value)
        else:
            out.setdefault(CLUSTER, {})[rest_field(name)] = to_rest(name, value)
    return out


def rest_changes(params: dict) -> dict:
    """The partial cluster object of a ``cluster config`` command (its cluster-object part)."""
    return split_changes(params).get(CLUSTER, {})


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


def value_problem(p: gm.Param, value: object, field: str) -> str | None:
    """Why a REST value is not one the parameter takes (the sandbox server's check of what a
    client sends, from the same grammar data as the parser's), or None."""
    g = gm.load()
    if p.compound:
        if not isinstance(value, dict):
            return f"{field} must be an object"
        for el in p.values:
            problem = _one_problem(g.type(el.type), value.get(el.dest), f"{field}.{el.dest}", switch_as_bool=False)
            if problem:
                return problem
        return None
    el = p.values[0]
    vt = g.type(el.type)
    if el.repeat:
        if not isinstance(value, list) or not value or len(value) > 1000:
            return f"{field} must be a non-empty list"
        for item in value:
            problem = _one_problem(vt, item, field)
            if problem:
                return problem
        return None
    if vt.name == "cipher_list":
        if not (isinstance(value, list) and all(isinstance(v, str) and v and _printable(v) for v in value)
                and len(":".join(value)) <= MAX_TEXT):
            return f"{field} must be a list of cipher suite names"
        return None
    return _one_problem(vt, value, field)


def stored_value_problem(value: object, field: str) -> str | None:
    """Why a client's value is too large to store (any JSON value: strings at most
    :data:`MAX_TEXT` characters, lists and objects at most :data:`MAX_ITEMS` items and
    :data:`MAX_DEPTH` levels, at most :data:`MAX_VALUE` bytes as JSON), or None. The check for
    the fields ``value_problem`` has no grammar for; the type is the caller's business."""
    import json

    budget = [MAX_VALUE]

    def walk(item: object, depth: int) -> str | None:
        if isinstance(item, str):
            budget[0] -= len(item) + 2
            if len(item) > MAX_TEXT:
                return f"{field}: a string longer than {MAX_TEXT} characters"
        elif isinstance(item, (list, dict)):
            if depth >= MAX_DEPTH:
                return f"{field}: nested more than {MAX_DEPTH} levels deep"
            if len(item) > MAX_ITEMS:
                return f"{field}: more than {MAX_ITEMS} items"
            budget[0] -= 2 + len(item)
            for key in item:
                if isinstance(item, dict):
                    problem = walk(key, depth + 1)
                    if problem:
                        return problem
                problem = walk(item[key] if isinstance(item, dict) else key, depth + 1)
                if problem:
                    return problem
        else:
            budget[0] -= len(json.dumps(item)) if isinstance(item, (int, float)) else 5
        return f"{field}: larger than {MAX_VALUE // 1024} KiB" if budget[0] < 0 else None

    return walk(value, 0)


def _one_problem(vt: gm.ValueType, value: object, field: str, switch_as_bool: bool = True) -> str | None:
    if vt.name == "switch" and switch_as_bool:
        return None if isinstance(value, bool) else f"{field} must be true or false"
    if vt.numeric:
        if not isinstance(value, int) or isinstance(value, bool):
            return f"{field} must be a whole number"
        return gm.value_problem(vt, str(value), field) if value >= 0 else f"{field} must not be negative"
    if not isinstance(value, str) or not value or len(value) > MAX_TEXT or not _printable(value):
        return f"{field} must be a non-empty string of printable ASCII characters (at most {MAX_TEXT})"
    return gm.value_problem(vt, value, field)


def _printable(text: str) -> bool:
    """Printable ASCII: no NUL or control character reaches OpenSSL, a file or a terminal."""
    return all(" " <= ch <= "~" for ch in text)
