"""PEM text and certificate files: the blocks of a bundle, and reading a file the way RS needs it.

What RS takes is PEM (rs-tls.md section 5): this module finds the ``-----BEGIN/END-----`` blocks
(PFX ``Bag Attributes`` text around them is dropped, with a note), and recognises what is not
PEM (DER, PKCS#12, escaped PEM from JSON) to say how to convert it. :class:`CertificateProblem`
is the one error of the certificates package: one line, never key material.
"""
from __future__ import annotations

import base64
import binascii
import os
import re
import shlex
from dataclasses import dataclass, field
from typing import NoReturn

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..safefiles import NotRegular, read_regular
from ..terminal import escape

MAX_FILE_BYTES = 1 << 20

CERT_LABELS = ("CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE")
KEY_LABELS = ("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY",
              "DSA PRIVATE KEY", "OPENSSH PRIVATE KEY", "ANY PRIVATE KEY")
CSR_LABELS = ("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST")
PUBLIC_LABELS = ("PUBLIC KEY", "RSA PUBLIC KEY")

# A BEGIN or END line. Labels are upper case words; anything else that looks like one is corrupt.
_MARKER = re.compile(r"-----(BEGIN|END) ([A-Z0-9][A-Z0-9 ]{0,62}[A-Z0-9]|[A-Z0-9])-----")
_ESCAPED_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]+-----\\[rn]")
_PKCS12_HEAD = b"\x02\x01\x03\x30"  # PFX: SEQUENCE { INTEGER 3, ContentInfo ... }
_OID_PKCS7_DATA = b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x01"


class CertificateProblem(Exception):
    """A certificate or key RS would refuse. ``message`` is one line (control and bidi characters
    escaped, :func:`rladmin_py.terminal.escape`) and never holds key material."""

    def __init__(self, message: str, error_code: str = "invalid_certificate", status: int = 400):
        message = escape(message)  # it quotes file names and certificate fields
        super().__init__(message)
        self.message = message
        self.error_code = error_code
        self.status = status


def refuse(message: str, error_code: str = "invalid_certificate", status: int = 400) -> NoReturn:
    problem = CertificateProblem(message, error_code, status)
    problem.__suppress_context__ = True  # as `raise ... from None`: the parser's own error adds nothing
    raise problem


# -- PEM text -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Block:
    """One PEM block: its label, its RFC 1421 headers (``Proc-Type``...) and its base64 body."""

    label: str
    b64: str
    headers: tuple[str, ...]
    line: int  # where its BEGIN line is, 1-based

    @property
    def text(self) -> str:
        """The block as normalised PEM: LF line endings, base64 wrapped at 64 columns."""
        head = "".join(h + "\n" for h in self.headers) + ("\n" if self.headers else "")
        body = "\n".join(self.b64[i : i + 64] for i in range(0, len(self.b64), 64))
        return f"-----BEGIN {self.label}-----\n{head}{body}\n-----END {self.label}-----\n"

    def der(self) -> bytes | None:
        """The decoded body, or None if it is not valid base64."""
        try:
            return base64.b64decode(self.b64, validate=True)
        except (binascii.Error, ValueError):
            return None

    @property
    def encrypted(self) -> bool:
        return self.label == "ENCRYPTED PRIVATE KEY" or any(
            h.replace(" ", "").upper().startswith("PROC-TYPE:4,ENCRYPTED") for h in self.headers)


@dataclass
class PemText:
    """The PEM blocks of one file or field, with the text around them dropped."""

    source: str
    blocks: list[Block]
    dropped_text: bool
    notes: list[str] = field(default_factory=list)

    def of(self, *labels: str) -> list[Block]:
        return [b for b in self.blocks if b.label in labels]

    def labelled(self, *labels: str) -> list[str]:
        return [b.text for b in self.of(*labels)]


def pem_blocks(text: str, source: str) -> PemText:
    """Split text into PEM blocks; anything outside them (Bag Attributes, subject= lines) is dropped.

    A BEGIN line without its END line, an END line without its BEGIN line, or a block closed by
    another label's END line is refused (a truncated or spliced file).
    """
    notes = []
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if _ESCAPED_PEM.search(text):  # JSON-escaped PEM (the REST route's sed step): undo it
        text = text.replace("\\r\\n", "\n").replace("\\n", "\n").replace("\\r", "\n")
        notes.append(f"{source}: newlines written as \\n (JSON-escaped PEM) were read as line breaks")
    blocks: list[Block] = []
    outside: list[str] = []
    pos = 0
    opened: tuple[str, int, int] | None = None  # label, body start, line
    line, counted = 1, 0  # line numbers, counted incrementally (a hostile file may hold many blocks)
    for m in _MARKER.finditer(text):
        kind, label = m.group(1), m.group(2)
        line += text.count("\n", counted, m.start())
        counted = m.start()
        if kind == "BEGIN":
            if opened:
                refuse(f"{source}: truncated PEM: the {opened[0]} block that begins on line {opened[2]} "
                        f"has no END line (another block begins on line {line})")
            outside.append(text[pos : m.start()])
            opened = (label, m.end(), line)
            continue
        if not opened:
            refuse(f"{source}: corrupt PEM: an END {label} line (line {line}) without its BEGIN line")
        if label != opened[0]:
            refuse(f"{source}: corrupt PEM: the {opened[0]} block that begins on line {opened[2]} "
                    f"ends with END {label} (line {line})")
        blocks.append(_block(opened[0], text[opened[1] : m.start()], opened[2]))
        pos, opened = m.end(), None
    if opened:
        refuse(f"{source}: truncated PEM: the {opened[0]} block that begins on line {opened[2]} has no END line")
    outside.append(text[pos:])
    rest = "".join(outside)
    if "-----BEGIN" in rest or "-----END" in rest:
        line = text.count("\n", 0, text.find("-----BEGIN" if "-----BEGIN" in rest else "-----END")) + 1
        refuse(f"{source}: corrupt PEM: a malformed BEGIN or END line (line {line})")
    dropped = bool(rest.strip())
    if dropped:
        what = ("Bag Attributes lines from a PFX conversion" if "Bag Attributes" in rest or "Key Attributes" in rest
                else f"{len([ln for ln in rest.splitlines() if ln.strip()])} line(s) of text")
        notes.append(f"{source}: dropped the text outside the BEGIN/END blocks ({what})")
    return PemText(source, blocks, dropped, notes)


def _block(label: str, body: str, line: int) -> Block:
    headers, data = [], []
    for raw in body.split("\n"):
        stripped = raw.strip()
        if not stripped:
            continue
        if ":" in stripped and not data:
            headers.append(stripped)
        else:
            data.append("".join(stripped.split()))
    return Block(label, "".join(data), tuple(headers), line)


def der_prefix(der: bytes) -> bytes:
    """The first DER element of ``der`` (OpenSSL's TRUSTED CERTIFICATE appends trust settings)."""
    if len(der) < 2:
        return der
    n = der[1]
    if n < 0x80:
        return der[: 2 + n]
    width = n & 0x7F
    if not 0 < width <= 4 or len(der) < 2 + width:
        return der
    return der[: 2 + width + int.from_bytes(der[2 : 2 + width], "big")]


# -- reading files ------------------------------------------------------------------------------
def read_file(path: str, role: str) -> str:
    """The text of a certificate or key file; every way a file can be wrong is one clear line."""
    shown = path
    path = os.path.expanduser(path)
    what = "certificate file" if role == "certificate" else "key file"
    if not os.path.lexists(path):
        refuse(f"{shown}: no such file (the {what})", "file_not_found")
    try:
        data = read_regular(path, MAX_FILE_BYTES)
    except NotRegular as err:
        refuse(f"{shown}: is {err.kind}, not a {what}", "not_a_file")
    except PermissionError:
        refuse(f"{shown}: permission denied: cannot read the {what}", "unreadable")
    except OSError as err:
        refuse(f"{shown}: cannot read the {what}: {err.strerror or type(err).__name__}", "unreadable")
    if len(data) > MAX_FILE_BYTES:
        refuse(f"{shown}: larger than 1 MiB: not a PEM {role}", "invalid_certificate")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 (Windows editors)
        try:
            data = data.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError:
            pass
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data.strip():
        refuse(f"{shown}: the file is empty (expected a PEM {role})", "empty_file")
    if b"-----BEGIN" not in data and b"-----END" not in data:
        _refuse_not_pem(shown, data, role)
    return data.decode("utf-8", errors="replace")


def converted_name(shown: str, suffix: str) -> str:
    """Where a conversion command should write: never over the input, nor over an existing file."""
    stem = re.sub(r"\.(der|cer|crt|pfx|p12|pem)$", "", shown, flags=re.I)
    target = stem + suffix
    if target == shown or os.path.lexists(os.path.expanduser(target)):
        target = stem + "-converted" + suffix
    return shlex.quote(target)


def _refuse_not_pem(shown: str, data: bytes, role: str) -> None:
    """No PEM block: say what the file most likely is (DER, PKCS#12) and how to convert it."""
    q = shlex.quote(shown)
    if data[:1] == b"\x30":
        if _PKCS12_HEAD in data[:8] and _OID_PKCS7_DATA in data[:40]:
            refuse(f"{shown}: a PKCS#12 (PFX) bundle, not PEM; convert it with: openssl pkcs12 -in {q} -nodes "
                    f"-out {converted_name(shown, '.pem')} and give that file as certificate_file "
                    "without key_file", "pkcs12_not_pem")
        try:
            x509.load_der_x509_certificate(data)
            is_cert = True
        except Exception:  # not a certificate (any parse failure)
            is_cert = False
        if is_cert:
            if role == "certificate":
                refuse(f"{shown}: the certificate is DER, not PEM; convert it with: "
                        f"openssl x509 -inform der -in {q} -out {converted_name(shown, '.pem')}", "der_not_pem")
            refuse(f"{shown}: a DER certificate, not a private key (are certificate_file and key_file swapped?)",
                    "invalid_key")
        try:
            serialization.load_der_private_key(data, password=None, unsafe_skip_rsa_key_validation=True)
            is_key = True
        except TypeError:  # an encrypted DER key
            is_key = True
        except Exception:
            is_key = False
        if is_key:
            if role == "certificate":
                refuse(f"{shown}: a DER private key, not a certificate (are certificate_file and key_file swapped?)",
                        "invalid_certificate")
            refuse(f"{shown}: the key is DER, not PEM; convert it with: "
                    f"openssl pkey -inform der -in {q} -out {converted_name(shown, '.pem')}", "der_not_pem")
        refuse(f"{shown}: binary (DER) data that is neither a certificate nor a key; expected a PEM {role}",
                "der_not_pem")
    if data.lstrip().startswith((b"ssh-", b"ecdsa-sha2-")):
        refuse(f"{shown}: an OpenSSH key, not a PEM {role}", "invalid_certificate")
    refuse(f"{shown}: no PEM block (-----BEGIN ...-----) found; expected a PEM {role}", "invalid_certificate")
