"""Which cipher settings a cluster can take: checked before anything is stored or sent.

One checker for the sandbox (which refuses a bad ``PUT /v1/cluster`` as RS would) and for the
shell (which refuses before a request reaches a live cluster). The rules, from
https://redis.io/docs/latest/operate/rs/security/encryption/tls/ciphers/ :

- ``control_cipher_suites`` (BoringSSL names) and ``data_cipher_list`` (OpenSSL names) are cipher
  strings for TLS 1.2; here they must be strings this machine's OpenSSL accepts.
- "The deprecated 3DES and RC4 cipher suites are no longer supported"; "Redis Software doesn't
  support static Diffie-Hellman (DH) key exchange ciphers".
- ``data_cipher_suites_tls_1_3`` holds TLS 1.3 suite names only.
- A list must leave a cipher for every TLS version the plane still allows ("The configured TLS
  version matches the required cipher suites"): a TLS 1.3-only list while the minimum is 1.2
  would lock out every TLS 1.2 client.

Standard library only (``ssl``), imported when a cipher setting is checked.
"""
from __future__ import annotations

import functools
import threading

#: The TLS 1.3 cipher suites (RFC 8446, appendix B.4), as OpenSSL names them.
TLS13_SUITES = ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
                "TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256")
#: plane -> (the field of its minimum TLS version, the field of its TLS 1.2 cipher list): the one
#: table the checks, the sandbox's TLS contexts and ``verify tls`` read.
PLANES = {"control": ("min_control_TLS_version", "control_cipher_suites"),
          "data": ("min_data_TLS_version", "data_cipher_list")}
#: Cipher list field -> the field holding the minimum TLS version of its plane.
LIST_MINIMUM = {cipher_field: version_field for version_field, cipher_field in PLANES.values()}
#: The fields a change must touch for these checks to have anything to say.
FIELDS = frozenset(f for pair in PLANES.values() for f in pair) | {"data_cipher_suites_tls_1_3"}
_DOC = "https://redis.io/docs/latest/operate/rs/security/encryption/tls/ciphers/"


def _words(value: str) -> list[str]:
    """The cipher names a string asks for (exclusions ``!X``, ``-X`` and ``+X`` moves left out)."""
    return [w for w in value.replace(",", ":").replace(" ", ":").split(":") if w and w[0] not in "!-+@"]


def _unsupported(name: str) -> str | None:
    """Why RS refuses a cipher it is asked for by name, or None."""
    upper = name.upper()
    if "3DES" in upper or "DES-CBC3" in upper:
        return f"{name}: 3DES cipher suites are not supported by RS (deprecated)"
    if "RC4" in upper:
        return f"{name}: RC4 cipher suites are not supported by RS (deprecated)"
    if upper.startswith(("DH-", "ECDH-")) or upper in ("KDH", "KECDH", "DH", "ECDH") or upper.startswith("TLS_DH_"):
        return f"{name}: static Diffie-Hellman (DH) key exchange ciphers are not supported by RS"
    return None


_CONTEXT = None
_LOCK = threading.Lock()


def _selects(value: str) -> bool:
    """Whether OpenSSL selects at least one TLS 1.2-or-older cipher for ``value`` (OpenSSL does not
    count TLS 1.3 suites when it accepts a cipher string). One shared context: making one costs
    more than the check."""
    import ssl

    global _CONTEXT
    with _LOCK:
        if _CONTEXT is None:
            _CONTEXT = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            _CONTEXT.set_ciphers(value)
        except (ssl.SSLError, ValueError):  # ValueError: a NUL character
            return False
        return True


@functools.lru_cache(maxsize=1)
def _weak_ciphers_exist() -> bool:
    """Whether this OpenSSL offers any 3DES, RC4 or static-DH cipher at all (usually not)."""
    return _selects("3DES:RC4:kDHr:kDHd:kECDHr:kECDHe")


def tls12_ciphers(value: str) -> list[dict] | None:
    """The TLS 1.2-and-older ciphers OpenSSL selects for ``value`` (None: none)."""
    import ssl

    if not _selects(value):
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_ciphers(value)
    return [c for c in ctx.get_ciphers() if c.get("protocol") != "TLSv1.3"]


def check_cipher_string(field: str, value: str, min_version: str) -> str | None:
    """Why a TLS 1.2 cipher string cannot be stored in ``field`` while the plane's minimum is
    ``min_version``, or None when it can."""
    for name in _words(value):
        problem = _unsupported(name)
        if problem:
            return f"invalid value for {field}: {problem} ({_DOC})"
    names = _words(value)
    if not _selects(value):
        if names and all(n in TLS13_SUITES for n in names):
            if str(min_version) == "1.3":
                return None  # a TLS 1.3-only plane does not use this list
            return (f"invalid value for {field}: it names only TLS 1.3 suites, which leaves no cipher for TLS 1.2, "
                    f"and the minimum TLS version is {min_version}: every TLS 1.2 client would be locked out; raise "
                    f"{LIST_MINIMUM[field]} to 1.3 first, or give TLS 1.2 ciphers")
        return f"invalid value for {field}: {value!r} is not a cipher string OpenSSL accepts (no cipher matches)"
    if _weak_ciphers_exist():  # only then can a generic string (ALL, MEDIUM...) select one
        weak = [c["name"] for c in tls12_ciphers(value) or () if _unsupported(c["name"])]
        if weak:
            return f"invalid value for {field}: it selects {weak[0]}, and {_unsupported(weak[0]).split(': ', 1)[1]}"
    return None


def check_tls13_suites(field: str, names: list[str]) -> str | None:
    """Why a list of TLS 1.3 suites cannot be stored, or None."""
    for name in names:
        if name not in TLS13_SUITES:
            hint = " (a TLS 1.2 cipher: set it in data_cipher_list)" if _selects(name) else ""
            return (f"invalid value for {field}: {name} is not a TLS 1.3 cipher suite{hint}; expected names from "
                    f"{', '.join(TLS13_SUITES)}")
    return None


def needs_cluster(changes: dict) -> bool:
    """Whether checking ``changes`` needs the cluster's current settings: only when the verdict
    depends on the other half of a plane (a TLS 1.3-only list, or a minimum lowered to 1.2),
    so that most commands cost no extra request to a live cluster."""
    for field, version_field in LIST_MINIMUM.items():
        value, version = changes.get(field), changes.get(version_field)
        if value is not None and version is None and isinstance(value, str) and not _selects(value):
            return True
        if version is not None and str(version) != "1.3" and value is None:
            return True
    return False


def problems(cluster: dict, changes: dict) -> list[str]:
    """Why the cipher and minimum-version fields of ``changes`` cannot be applied to ``cluster``
    (REST shapes: cipher strings, lists of TLS 1.3 names, versions as strings). The minimum
    versions and lists are checked together, as they will be after the change."""
    after = {**cluster, **changes}
    out = []
    for field, version_field in LIST_MINIMUM.items():
        if field in changes or version_field in changes:
            value = after.get(field)
            if isinstance(value, str) and value:
                problem = check_cipher_string(field, value, str(after.get(version_field) or "1.2"))
                if problem and field not in changes:  # the minimum moved under a list that cannot serve it
                    problem = (f"cannot set {version_field} to {after.get(version_field)}: {field} is {value!r}, "
                               f"which leaves no cipher for TLS 1.2; every TLS 1.2 client would be locked out; "
                               f"change {field} first")
                if problem:
                    out.append(problem)
    suites = changes.get("data_cipher_suites_tls_1_3")
    if isinstance(suites, list):
        problem = check_tls13_suites("data_cipher_suites_tls_1_3", [s for s in suites if isinstance(s, str)])
        if problem:
            out.append(problem)
    return out
