"""``sandbox make-certs``: practice certificates for training, good and deliberately broken.

Writes a small CA (root + intermediate), a valid chain and key for the sandbox's FQDN, and a
labelled set of broken files, each paired with the exact rladmin-py command that shows what the
shell says about it (README.txt in the same directory). Every key written here is a throwaway:
it protects nothing, and the encrypted ones use the password in :data:`PASSWORD`.

The intermediate's leaves name an OCSP responder in their Authority Information Access, so
``cluster ocsp`` has something real to ask: given ``register_ocsp``, the intermediate, the serials
it issued and the one it revoked (``revoked-chain.pem``) are registered with the sandbox's own
responder (:mod:`rladmin_py.sandbox.ocsp_responder`, run by ``--serve``), whose URL they name.
The callable comes from the caller because this package never imports the sandbox.

:data:`CASES` is the single list behind README.txt and the tests that check each command does
what README.txt says.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import shlex
from dataclasses import dataclass
from typing import Callable

from ..safefiles import make_private_dirs, write_secret_file

#: The password of the encrypted practice key and of the PFX bundle (a throwaway, said in README.txt).
PASSWORD = "practice"
DEFAULT_FQDN = "cluster.sandbox.local"
#: The OCSP URI of practice sets made without a sandbox to register with [guess: a port next to
#: the metrics exporter's 8070; nothing answers there unless something is started on it].
DEFAULT_OCSP_URL = "http://127.0.0.1:8079/"
#: register_ocsp(ca_cert_pem, ca_key_pem, {revoked serial: ISO time}, [issued serials]) -> responder URL;
#: called twice: first for the URL the leaves name, then with their serials
RegisterOCSP = Callable[[str, str, dict, list], str]


@dataclass(frozen=True)
class Case:
    """One thing to try: the command's words after ``rladmin-py``, and what it shows."""

    title: str
    words: tuple[str, ...]  # file names are relative to the practice directory
    outcome: str  # "accepted", "refused", "warning" or "note"
    shows: str  # a fragment of what the shell prints (stderr for refusals, warnings and notes)
    explain: str


def _set(name: str, cert: str, key: str | None = None, *flags: str) -> tuple[str, ...]:
    words = (*flags, "cluster", "certificate", "set", name, "certificate_file", cert)
    return words + (("key_file", key) if key else ())


CASES: tuple[Case, ...] = (
    Case("A good chain and key", _set("proxy", "good-chain.pem", "good-key.pem"), "accepted",
         "Set proxy certificate to contents of file",
         "leaf, intermediate and root in order, with the matching unencrypted key: replaced on every node."),
    Case("Check first, change nothing", _set("proxy", "good-chain.pem", "good-key.pem", "--dry-run"), "accepted",
         "Dry run, nothing changed",
         "every check runs; prints the summary and the REST request, with the key shown as <redacted>."),
    Case("Expired certificate", _set("proxy", "expired-chain.pem", "good-key.pem"), "refused", "expired on",
         "the leaf's not-after date is in the past; RS answers 406."),
    Case("Not yet valid", _set("proxy", "not-yet-valid-chain.pem", "good-key.pem"), "refused", "not valid until",
         "the leaf's not-before date is in the future (often a wrong clock where it was made)."),
    Case("Mismatched key", _set("proxy", "good-chain.pem", "wrong-key.pem"), "refused", "key_values_mismatch",
         "the key belongs to another certificate; RS calls this key_values_mismatch."),
    Case("Chain in the wrong order", _set("proxy", "wrong-order-chain.pem", "good-key.pem"), "refused",
         "chain out of order",
         "root, intermediate, leaf: RS needs the leaf first, then each issuer; the message gives the order."),
    Case("Password-protected key", _set("proxy", "good-chain.pem", "encrypted-key.pem"), "refused",
         "password-protected",
         f"RS takes no passphrase; the message prints the openssl pkey command (password: {PASSWORD})."),
    Case("DER instead of PEM", _set("proxy", "good-cert.der", "good-key.pem"), "refused", "DER, not PEM",
         "binary DER; the message prints the openssl x509 command that converts it."),
    Case("A PFX bundle as it came", _set("proxy", "bundle.pfx"), "refused", "PKCS#12",
         f"binary PKCS#12; the message prints the openssl pkcs12 command (password: {PASSWORD})."),
    Case("Truncated file", _set("proxy", "truncated-chain.pem", "good-key.pem"), "refused", "truncated PEM",
         "a copy-paste that lost the end of the file: a BEGIN line without its END line."),
    Case("Files swapped", _set("proxy", "good-key.pem", "good-chain.pem"), "refused", "swapped",
         "certificate_file and key_file the wrong way round."),
    Case("RSA key too small", _set("proxy", "weak-rsa1024-chain.pem", "weak-rsa1024-key.pem"), "refused",
         "1024 bits", "RS requires RSA keys of 2048 bits or more."),
    Case("Internode certificates must be RSA",
         ("cluster", "certificate", "set", "internal", "dpine_certificate_file", "good-chain.pem",
          "dpine_key_file", "good-key.pem", "cpine_certificate_file", "ecdsa-chain.pem",
          "cpine_key_file", "ecdsa-key.pem"), "refused", "must have RSA keys",
         "ECDSA is fine for proxy, not for internode encryption; one refused pair means nothing changes."),
    Case("ECDSA key from openssl ecparam", _set("proxy", "ecdsa-chain.pem", "ecdsa-key.pem"), "accepted",
         "Set proxy certificate to contents of file",
         "the key file starts with an EC PARAMETERS block, as `openssl ecparam -genkey` writes it: accepted."),
    Case("Converted from PFX", _set("proxy", "pfx-converted.pem"), "note", "Bag Attributes",
         "openssl pkcs12 -nodes output: the Bag Attributes lines are dropped and the key in the file is used."),
    Case("Expires soon", _set("proxy", "expiring-soon-chain.pem", "good-key.pem"), "warning", "expires in",
         "valid for 10 more days: a warning, the command goes on."),
    Case("Expires soon, --strict", _set("proxy", "expiring-soon-chain.pem", "good-key.pem", "--strict"), "refused",
         "--strict", "--strict turns every warning into a refusal."),
    Case("Self-signed", _set("proxy", "self-signed-chain.pem", "good-key.pem"), "warning", "self-signed",
         "no CA: every client must be given this very certificate to trust it."),
    Case("No wildcard for database endpoints", _set("proxy", "no-wildcard-chain.pem", "good-key.pem"), "warning",
         "which database endpoints need", "the proxy certificate must also cover *.<fqdn>."),
    Case("Revoked by its CA", _set("proxy", "revoked-chain.pem", "good-key.pem"), "accepted",
         "Set proxy certificate to contents of file",
         "RS does not ask OCSP when a certificate is set; with --serve running, 'cluster ocsp "
         "test_certificate' then says OCSP certificate status is: REVOKED."),
)


def _openssl_name(name) -> str:
    """A name the way ``openssl pkcs12 -nodes`` prints it after ``subject=``: ``CN = x, O = y``."""
    short = {"commonName": "CN", "organizationalUnitName": "OU", "organizationName": "O", "countryName": "C"}
    return ", ".join(f"{short.get(a.oid._name, a.oid.dotted_string)} = {a.value}" for rdn in name.rdns for a in rdn)


def _pfx_converted(leaf, chain, key_pem: str, friendly: str) -> str:
    """What ``openssl pkcs12 -in bundle.pfx -nodes`` writes: Bag Attributes before each block."""
    from cryptography.hazmat.primitives import serialization

    key_id = " ".join(f"{b:02X}" for b in hashlib.sha1(leaf.public_bytes(serialization.Encoding.DER)).digest())
    out = []
    for i, cert in enumerate(chain):
        if i == 0:
            out.append(f"Bag Attributes\n    friendlyName: {friendly}\n    localKeyID: {key_id} \n")
        else:
            out.append("Bag Attributes: <No Attributes>\n")
        out.append(f"subject={_openssl_name(cert.subject)}\nissuer={_openssl_name(cert.issuer)}\n")
        out.append(cert.public_bytes(serialization.Encoding.PEM).decode())
    out.append(f"Bag Attributes\n    friendlyName: {friendly}\n    localKeyID: {key_id} \n"
               "Key Attributes: <No Attributes>\n")
    out.append(key_pem)
    return "".join(out)


def make_practice_files(fqdn: str, register_ocsp: RegisterOCSP | None = None) -> dict[str, tuple[bytes, str]]:
    """{file name: (content, purpose)}; README.txt is written by :func:`write_practice_certs`.
    The leaves name the URL ``register_ocsp`` returns (:data:`DEFAULT_OCSP_URL` without one)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import pkcs12

    from . import making as certgen

    now = dt.datetime.now(dt.timezone.utc)
    org = "rladmin-py practice (throwaway)"
    root = certgen.make_ca("Practice Root CA", org=org)
    inter = certgen.make_ca("Practice Intermediate CA", issuer=root, org=org, path_length=0)
    sans = certgen.cluster_sans(fqdn)
    key = certgen.new_key("rsa")
    key_text = certgen.key_pem(key)

    url = DEFAULT_OCSP_URL
    if register_ocsp is not None:  # the URL first, for the leaves to name; their serials once they exist
        url = register_ocsp(inter.cert_pem, inter.key_pem, {}, [])

    def leaf(**kw):
        issuer = kw.pop("issuer", inter)
        return certgen.make_leaf(fqdn, kw.pop("sans", sans), issuer, key=kw.pop("key", key),
                                 ocsp_url=url if issuer is inter else None, **kw)

    def chain_of(issued):
        return issued.cert_pem + inter.cert_pem + root.cert_pem

    good = leaf()
    expired = leaf(not_before=now - dt.timedelta(days=400), days=365)
    future = leaf(not_before=now + dt.timedelta(days=30))
    soon = leaf(not_before=now - dt.timedelta(days=355) + dt.timedelta(hours=1), days=365)
    self_signed = leaf(issuer=None)
    no_wildcard = leaf(sans=[fqdn])
    weak_key = certgen.new_key("rsa", 1024)
    weak = leaf(key=weak_key)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ecdsa = leaf(key=ec_key)
    wrong_key = certgen.new_key("rsa")
    revoked = leaf()

    issued = {"good": good, "expired": expired, "future": future, "soon": soon, "no_wildcard": no_wildcard,
              "weak": weak, "ecdsa": ecdsa, "revoked": revoked}
    revoked_at = {str(revoked.cert.serial_number): now.replace(microsecond=0).isoformat()}
    if register_ocsp is not None:
        register_ocsp(inter.cert_pem, inter.key_pem, revoked_at, [str(i.cert.serial_number) for i in issued.values()])

    good_chain = chain_of(good)
    lines = good_chain.splitlines(keepends=True)
    truncated = "".join(lines[: len(lines) // 5])  # part of the leaf only: no END line
    ec_params = ec_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                     serialization.NoEncryption()).decode()
    ec_params = "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n" + ec_params
    encrypted = certgen.key_pem(key, PASSWORD.encode())
    pfx = pkcs12.serialize_key_and_certificates(
        fqdn.encode(), key, good.cert, [inter.cert, root.cert],
        serialization.BestAvailableEncryption(PASSWORD.encode()))

    def text(s: str) -> bytes:
        return s.encode()

    return {
        "ca.pem": (text(root.cert_pem), "the practice root CA (give it to clients: --ca-cert, redis-cli --cacert)"),
        "intermediate.pem": (text(inter.cert_pem), "the practice intermediate CA"),
        "good-chain.pem": (text(good_chain), f"a valid chain for {fqdn}: leaf, intermediate, root"),
        "good-key.pem": (text(key_text), "its private key (PKCS#8, unencrypted; throwaway)"),
        "good-cert.der": (good.cert.public_bytes(serialization.Encoding.DER), "broken: the leaf in DER, not PEM"),
        "expired-chain.pem": (text(chain_of(expired)), "broken: expired (use with good-key.pem)"),
        "not-yet-valid-chain.pem": (text(chain_of(future)), "broken: valid only from 30 days on (good-key.pem)"),
        "wrong-key.pem": (text(certgen.key_pem(wrong_key)), "broken: a key that matches no certificate here"),
        "wrong-order-chain.pem": (text(root.cert_pem + inter.cert_pem + good.cert_pem),
                                  "broken: root, intermediate, leaf (good-key.pem)"),
        "encrypted-key.pem": (text(encrypted), f"broken: good-key.pem with the password '{PASSWORD}'"),
        "bundle.pfx": (pfx, f"broken: PKCS#12 bundle of the good chain and key, password '{PASSWORD}'"),
        "pfx-converted.pem": (text(_pfx_converted(good.cert, [good.cert, inter.cert, root.cert], key_text, fqdn)),
                              "openssl pkcs12 -nodes output: Bag Attributes, chain and key in one file"),
        "truncated-chain.pem": (text(truncated), "broken: the first lines of good-chain.pem only"),
        "weak-rsa1024-chain.pem": (text(chain_of(weak)), "broken: an RSA 1024-bit certificate"),
        "weak-rsa1024-key.pem": (text(certgen.key_pem(weak_key)), "its key (throwaway)"),
        "ecdsa-chain.pem": (text(chain_of(ecdsa)), "an ECDSA P-256 chain (fine for proxy, not for internode)"),
        "ecdsa-key.pem": (text(ec_params), "its key as openssl ecparam -genkey writes it (EC PARAMETERS first)"),
        "expiring-soon-chain.pem": (text(chain_of(soon)), "warning: expires in 10 days (good-key.pem)"),
        "self-signed-chain.pem": (text(self_signed.cert_pem), "warning: self-signed (good-key.pem)"),
        "no-wildcard-chain.pem": (text(chain_of(no_wildcard)), f"warning: SANs lack *.{fqdn} (good-key.pem)"),
        "revoked-chain.pem": (text(chain_of(revoked)), "a valid chain whose leaf the practice CA revoked: "
                              "OCSP says REVOKED (good-key.pem)"),
    }


def command_words(case: Case, directory: str, sandbox: str | None = None) -> list[str]:
    """The words after ``rladmin-py`` for a case, with the files' full paths."""
    words = [os.path.join(directory, w) if i and case.words[i - 1].endswith("_file") else w
             for i, w in enumerate(case.words)]
    return (["--sandbox", sandbox] if sandbox else []) + words


def command_line(case: Case, directory: str, sandbox: str | None = None) -> str:
    """The exact command for a case, as typed in a terminal."""
    return "rladmin-py " + " ".join(shlex.quote(w) for w in command_words(case, directory, sandbox))


def readme(fqdn: str, directory: str, files: dict[str, tuple[bytes, str]], sandbox: str | None = None,
           ocsp_url: str = DEFAULT_OCSP_URL, registered: bool = False) -> str:
    width = max(len(n) for n in files)
    listing = "\n".join(f"  {n.ljust(width)}  {purpose}" for n, (_, purpose) in files.items())
    lines = [
        f"Practice certificates for {fqdn} (written by rladmin-py sandbox make-certs)",
        "=" * 72,
        "",
        "THROWAWAY MATERIAL. Every key in this directory is a practice key: it protects",
        "nothing and must never be used on a real cluster. The encrypted key and the PFX",
        f"bundle use the throwaway password: {PASSWORD}",
        "",
        "Files",
        "-----",
        listing,
        "",
        "Try each command below on the sandbox. Refusals exit with status 1 and print one",
        "line on stderr naming the file and the problem; nothing is sent and the sandbox",
        "keeps its certificate. Warnings are printed and the command goes on (--strict",
        "refuses instead). In the interactive shell, type the same words without",
        "'rladmin-py' and its options. 'cluster certificate show proxy' shows what the",
        "sandbox holds; 'sandbox reset' starts over with the sandbox's own certificates.",
        "",
        f"OCSP: the certificates the intermediate issued name the OCSP responder {ocsp_url}",
        ("(the sandbox's own: 'rladmin-py --serve' runs it; it knows revoked-chain.pem as revoked)."
         if registered else "(no sandbox was told about them: nothing answers there)."),
        "",
    ]
    for i, case in enumerate(CASES, 1):
        lines += [f"{i}. {case.title} ({case.outcome}; look for: {case.shows})",
                  f"   {case.explain}",
                  f"   {command_line(case, directory, sandbox)}",
                  ""]
    return "\n".join(lines)


def write_practice_certs(directory: str, fqdn: str, sandbox: str | None = None,
                         register_ocsp: RegisterOCSP | None = None) -> dict:
    """Write the practice files and README.txt into ``directory`` (created if missing).

    ``sandbox``: the sandbox state file README.txt's commands name with ``--sandbox``.
    ``register_ocsp``: registers the intermediate CA with a sandbox's OCSP responder and returns
    its URL (``rladmin_py.sandbox.ocsp_responder.registrar(backend)``); without it the leaves
    name :data:`DEFAULT_OCSP_URL`.
    """
    directory = os.path.abspath(os.path.expanduser(directory))
    make_private_dirs(directory)  # it holds private keys: 0700 whatever the umask
    said: list[str] = []

    def register(*args) -> str:
        said.append(register_ocsp(*args))
        return said[-1]

    files = make_practice_files(fqdn, register if register_ocsp is not None else None)
    ocsp_url = said[-1] if said else DEFAULT_OCSP_URL
    for name, (content, _) in files.items():
        _write(os.path.join(directory, name), content, private="key" in name or name.endswith(".pfx")
               or name == "pfx-converted.pem")
    text = readme(fqdn, directory, files, sandbox, ocsp_url, registered=bool(said))
    _write(os.path.join(directory, "README.txt"), text.encode(), private=False)
    listing = [{"file": "README.txt", "purpose": "what each file is for, and the command that shows each refusal"}]
    listing += [{"file": n, "purpose": p} for n, (_, p) in files.items()]
    return {"fqdn": fqdn, "directory": directory, "files": listing, "ocsp_url": ocsp_url,
            "ocsp_registered": bool(said)}


def _write(path: str, content: bytes, private: bool) -> None:
    """Through a new temp name (never a planted file or symlink), its mode set on the descriptor."""
    write_secret_file(path, content, mode=0o600 if private else 0o644)
