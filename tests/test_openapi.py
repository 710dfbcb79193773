"""The sandbox server's answers to the certificate and OCSP requests conform to the official
OpenAPI file (a copy in tests/data/), except where the prose documentation disagrees, which each
exception below names (and README.md's "Where the documentation disagrees with itself"):

- 401 for missing or wrong credentials: the prose gives it, the file lists no 401 anywhere;
- error bodies carry no ``status_code`` (the file marks it required but ``x-go-json-ignore``: a
  real server does not send it), and the non-certificate routes say ``message``, as their pages do;
- ``PUT /v1/cluster/update_cert`` answers 404 for a text holding no certificate (its page lists
  404 "Failed, invalid certificate"; the file does not).
"""
from __future__ import annotations

import json
from pathlib import Path


from server_fixtures import request
from test_server import served  # noqa: F401  (a fixture)

#: A copy of the official file (tests/data/, from the project's reference fixtures), so CI checks it too.
OPENAPI = Path(__file__).resolve().parent / "data" / "rs-openapi.json"
PROSE_ONLY = {401}  # statuses the prose gives every route (see the module docstring)


def spec() -> dict:
    return json.loads(OPENAPI.read_text())


def resolve(schema: dict, root: dict) -> dict:
    while "$ref" in schema:
        node = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def problems(value, schema: dict, root: dict, where: str = "$") -> list[str]:
    """What of ``value`` the JSON schema refuses (the subset the file uses: type, properties,
    required, additionalProperties, items, minimum, maximum, enum)."""
    schema = resolve(schema, root)
    out = []
    kinds = {"object": dict, "array": list, "string": str, "boolean": bool, "integer": int, "number": (int, float)}
    kind = schema.get("type")
    if kind and not (isinstance(value, kinds[kind]) and not (kind in ("integer", "number") and isinstance(value, bool))):
        return [f"{where}: {type(value).__name__}, not {kind}"]
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{where}: {value!r} not in {schema['enum']}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"] or "maximum" in schema and value > schema["maximum"]:
            out.append(f"{where}: {value} out of range")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        out += [f"{where}: {name} missing" for name in schema.get("required", []) if name not in value]
        for name, item in value.items():
            if name in props:
                out += problems(item, props[name], root, f"{where}.{name}")
            elif schema.get("additionalProperties") is False or (props and "additionalProperties" not in schema):
                out.append(f"{where}: {name} is not described")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            out += problems(item, schema["items"], root, f"{where}[{i}]")
    return out


def operation(root: dict, method: str, path: str) -> dict:
    return root["paths"][path][method.lower()]


def check(served, method: str, path: str, template: str | None = None, body=None, *, expect: int | None = None):
    """One request; its status must be one the file (or the prose, PROSE_ONLY) gives, and a 200 body
    must match the file's schema (no schema: no body)."""
    root = spec()
    op = operation(root, method, template or path)
    status, answer = request(served, method, path, None if body is None else json.dumps(body).encode())
    assert str(status) in op["responses"] or status in PROSE_ONLY, (method, path, status, answer)
    if expect is not None:
        assert status == expect, (status, answer)
    if status == 200:
        content = op["responses"]["200"].get("content")
        if content:
            assert problems(answer, content["application/json"]["schema"], root) == [], answer
        else:
            assert answer is None or answer == {}, answer
    else:
        error = resolve(root["components"]["schemas"]["cluster_Error"], root)
        required = [f for f in error["required"] if f != "status_code"]  # x-go-json-ignore: never sent
        text_key = "description" if path.startswith("/v1/cluster/certificates") or "update_cert" in path else "message"
        assert set(answer) == {"error_code", text_key} and set(required) - {"description"} <= set(answer), answer
    return status, answer


def test_certificate_requests_conform(served, sandbox):
    check(served, "GET", "/v1/cluster/certificates", expect=200)
    check(served, "PUT", "/v1/cluster/certificates", body={"certificates": [{"name": "nosuch", "certificate": "x"}]},
          expect=403)
    check(served, "POST", "/v1/cluster/certificates/rotate", body={}, expect=200)
    check(served, "POST", "/v1/cluster/certificates/rotate", body={"name": "api"}, expect=403)
    check(served, "DELETE", "/v1/cluster/certificates/proxy", "/v1/cluster/certificates/{certificate_name}", expect=403)
    check(served, "DELETE", "/v1/cluster/certificates/ldap_client", "/v1/cluster/certificates/{certificate_name}",
          expect=404)
    sandbox.set_node_state(3, False)
    check(served, "POST", "/v1/cluster/certificates/rotate", body={}, expect=400)  # not all nodes updated


def test_update_cert_follows_the_prose_where_the_file_is_silent(served):
    status, body = request(served, "PUT", "/v1/cluster/update_cert",
                           json.dumps({"name": "proxy", "certificate": "not a certificate"}).encode())
    assert status == 404 and body["error_code"] == "invalid_certificate"
    assert "404" not in operation(spec(), "PUT", "/v1/cluster/update_cert")["responses"]  # the documented exception
    status, body = request(served, "GET", "/v1/ocsp", headers={"Authorization": "Basic eDp5"})
    assert status == 401 and "401" not in operation(spec(), "GET", "/v1/ocsp")["responses"]


def test_ocsp_requests_conform(served):
    check(served, "GET", "/v1/ocsp", expect=200)
    check(served, "PUT", "/v1/ocsp", body={"query_frequency": 7200}, expect=200)
    check(served, "PUT", "/v1/ocsp", body={"query_frequency": 10}, expect=400)
    check(served, "PUT", "/v1/ocsp", body={"ocsp_functionality": True}, expect=400)  # no responder URL
    check(served, "GET", "/v1/ocsp/status", expect=200)
    check(served, "POST", "/v1/ocsp/test", body={}, expect=500)  # the page: 500, responder_url not configured


def test_the_checker_refuses_what_the_file_refuses():
    root = spec()
    schema = root["components"]["schemas"]["OcspConfig"]
    assert problems({"query_frequency": 10}, schema, root) == ["$.query_frequency: 10 out of range"]
    assert problems({"bogus": 1}, schema, root) == ["$: bogus is not described"]
    assert problems({"ocsp_functionality": "yes"}, schema, root) == ["$.ocsp_functionality: str, not boolean"]
