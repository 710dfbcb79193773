"""Choosing the backend from flags, environment and profiles (flags > env > profile).

With no cluster named anywhere, the local sandbox is used. A live cluster is named by
``--cluster URL``, ``REDIS_ENTERPRISE_URL`` or ``--profile NAME``; its settings come from

=================  ==========================  ==============================  ====================
setting            flag                        environment (redisctl's names)  profile key
=================  ==========================  ==============================  ====================
URL                ``--cluster``               ``REDIS_ENTERPRISE_URL``        ``url``
user               ``--user``                  ``REDIS_ENTERPRISE_USER``       ``user``
password           (none: shell history)       ``REDIS_ENTERPRISE_PASSWORD``   ``password_env``
CA certificate     ``--ca-cert``               ``REDIS_ENTERPRISE_CA_CERT``    ``ca_cert``
no verification    ``-k/--insecure``           ``REDIS_ENTERPRISE_INSECURE``   ``insecure``
timeout (seconds)  ``--timeout``                                               ``timeout``
=================  ==========================  ==============================  ====================

Profiles live in ``$XDG_CONFIG_HOME/rladmin-py/config.toml``::

    [profiles.prod]
    url = "https://cluster.example.com:9443"
    user = "admin@example.com"
    ca_cert = "~/certs/prod-ca.pem"       # relative paths are relative to the config file
    password_env = "PROD_RS_PASSWORD"     # the password is read from this variable

A ``password`` key is accepted only in a file no one else can read (like ssh keys). Without a
password anywhere, a terminal session prompts for it (no echo); otherwise it is an error.
Verification: the most specific level that says something about it wins (``-k`` or
``--ca-cert`` on the command line beats the environment, which beats the profile).
"""
from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from . import ConfigurationProblem
from ..terminal import escape_lines

DEFAULT_PORT = 9443
PROFILE_KEYS = {"url": str, "user": str, "ca_cert": str, "insecure": bool, "password_env": str, "password": str,
                "timeout": (int, float)}
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def wants_live_cluster(args) -> bool:
    return bool(getattr(args, "cluster", None) or os.environ.get("REDIS_ENTERPRISE_URL") or getattr(args, "profile", None))


def uses_sandbox(args) -> bool:
    """The sandbox unless a live cluster is named; ``--sandbox`` always means the sandbox."""
    return bool(getattr(args, "sandbox", None)) or not wants_live_cluster(args)


def _named(args, env, profile: dict) -> tuple[str | None, str | None]:
    """(url, user) as flags > environment > profile name them, not yet checked (the URL as given,
    user name and password included)."""
    url = getattr(args, "cluster", None) or env.get("REDIS_ENTERPRISE_URL") or profile.get("url")
    user = getattr(args, "user", None) or env.get("REDIS_ENTERPRISE_USER") or profile.get("user")
    return url, user


def named(args, env, profile: dict) -> tuple[str | None, str | None]:
    """(url, user) as flags > environment > profile name them, not yet checked, for showing (the
    shell's banner and toolbar): the URL without any user name or password in it."""
    url, user = _named(args, env, profile)
    return (redact_url(url) if url else url), user


def redact_url(text: str) -> str:
    """``text`` with the userinfo of its URL removed (``https://admin:Secret@host:9443`` ->
    ``https://host:9443``), for every message and banner that shows a URL. Works on anything,
    however malformed: everything between the scheme (or the start) and the last ``@`` goes, so
    a password holding ``/``, ``?``, ``#`` or ``@`` never shows either."""
    text = str(text)
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    if "@" not in rest:
        return text
    return f"{scheme}{sep}{rest.rpartition('@')[2]}"


def url_credentials(raw: str) -> tuple[str, str] | None:
    """(user, password) when the URL holds a password (``https://user:password@host``), else None."""
    text = raw.strip()
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.password is None:
        return None
    return unquote(parts.username or ""), unquote(parts.password)


URL_PASSWORD_REFUSED = ("the cluster URL must not hold credentials: its password would stay in your shell history "
                        "and show to every user in ps; give the URL without it and the password in "
                        "REDIS_ENTERPRISE_PASSWORD, or let rladmin-py prompt for it")


def _ask_on_terminal(question: str) -> bool | None:
    """A yes/no question on the terminal; None when there is no terminal to ask on."""
    if sys.stdin is None or not sys.stdin.isatty() or sys.stderr is None:
        return None
    try:
        sys.stderr.write(escape_lines(question))
        sys.stderr.flush()
        answer = sys.stdin.readline()
    except (OSError, ValueError):
        return None
    if not answer:  # Ctrl-D
        sys.stderr.write("\n")
    return answer.strip().lower() in ("y", "yes")


def open_backend(args, note=None):
    """The backend for this session; the sandbox unless a live cluster is named. ``note``: where
    its warnings go (the printer's, so that --json documents carry them; stderr by default)."""
    sandbox = getattr(args, "sandbox", None)
    if sandbox and (getattr(args, "cluster", None) or getattr(args, "profile", None)):
        raise ConfigurationProblem("give either --sandbox PATH or a live cluster (--cluster URL / --profile NAME), "
                                   "not both")
    if uses_sandbox(args):
        from .sandbox import SandboxBackend

        return SandboxBackend(sandbox)
    target = resolve(args)
    from .rest import RestBackend  # imports httpx: only for a live cluster

    return RestBackend(target.url, target.user, target.password, ca_cert=target.ca_cert, insecure=target.insecure,
                       timeout=target.timeout, debug=bool(getattr(args, "debug", False)),
                       **({"note": note} if note else {}))


@dataclass
class LiveTarget:
    url: str
    user: str
    password: str
    ca_cert: str | None
    insecure: bool
    timeout: float | None

    def __repr__(self) -> str:  # never show the password
        return (f"LiveTarget(url={self.url!r}, user={self.user!r}, ca_cert={self.ca_cert!r}, "
                f"insecure={self.insecure!r}, timeout={self.timeout!r})")


def resolve(args, *, environ=None, prompt=None, confirm=None) -> LiveTarget:
    """Flags > environment > profile, for every setting of a live-cluster session.

    A URL with a password in it is refused, unless ``confirm`` (by default: a question on the
    terminal, when there is one) says to use it anyway; the URL's user and password are then the
    session's. ``prompt`` asks for a password (by default: a no-echo prompt on a terminal)."""
    env = os.environ if environ is None else environ
    profile_name = getattr(args, "profile", None)
    profile = load_profile(profile_name) if profile_name else {}
    where = f"profile {profile_name}" if profile_name else ""

    raw_url, user = _named(args, env, profile)
    if not raw_url:
        raise ConfigurationProblem(f"{where or 'nothing'} names no cluster: add url = \"https://HOST:9443\" to it, "
                                   "or give --cluster URL")
    url_password = None
    credentials = url_credentials(raw_url)
    url = normalize_url(raw_url, credentials=credentials is not None)  # a malformed URL: refused before asking
    if credentials is not None:
        url_user, url_password = credentials
        ask = confirm or _ask_on_terminal
        answer = ask(f"The cluster URL {url} holds the password of {url_user or 'its user'}: a password in a URL "
                     "ends up in shell history and shows to every user in ps. Use it anyway? [y/N] ")
        if answer is None:  # nobody to ask: a script, a pipe, CI
            raise ConfigurationProblem(URL_PASSWORD_REFUSED)
        if not answer:
            raise ConfigurationProblem("not connecting: the password in the cluster URL was not used; give the URL "
                                       "without it, and the password in REDIS_ENTERPRISE_PASSWORD or at the prompt")
        given_user = getattr(args, "user", None)
        if url_user and given_user and given_user != url_user:
            raise ConfigurationProblem(f"the cluster URL names the user {url_user} but --user names {given_user}: "
                                       "give one of them")
        user = given_user or url_user or user

    if not user:
        raise ConfigurationProblem(f"no user for {url}: give --user USER or set REDIS_ENTERPRISE_USER"
                                   + (f" (or user in {where})" if where else ""))

    insecure, ca_cert = _verification(args, env, profile)
    timeout = getattr(args, "timeout", None) or profile.get("timeout")
    if timeout is not None and timeout <= 0:
        raise ConfigurationProblem(f"the timeout must be a positive number of seconds, not {timeout:g}")
    password = url_password or _password(user, url, env, profile, profile_name, prompt)
    return LiveTarget(url, user, password, ca_cert, insecure, float(timeout) if timeout else None)


def normalize_url(raw: str, *, credentials: bool = False) -> str:
    """``https://host[:port][/path]``, port 9443 by default; refuse http:// and, unless
    ``credentials``, a user name or password in the URL (the result never holds them). Every
    message shows the URL without them (:func:`redact_url`)."""
    text = raw.strip()
    shown = redact_url(text)
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ConfigurationProblem(f"{shown}: not a valid cluster URL (expected https://HOST:9443)") from None
    scheme = parts.scheme.lower()
    if scheme == "http":
        raise ConfigurationProblem(f"{shown}: plain http:// is refused: the user name and password would cross the "
                                   f"network in clear text; use https://{parts.netloc.rpartition('@')[2]} "
                                   f"(the RS REST API listens on HTTPS port {DEFAULT_PORT})")
    if scheme != "https":
        raise ConfigurationProblem(f"{shown}: unsupported URL scheme {parts.scheme!r} (expected https://HOST:9443)")
    if not credentials and (parts.username is not None or parts.password is not None):
        if parts.password is not None:
            raise ConfigurationProblem(URL_PASSWORD_REFUSED)
        raise ConfigurationProblem("the cluster URL must not hold credentials: give --user USER and the password "
                                   "in REDIS_ENTERPRISE_PASSWORD (or at the prompt)")
    host = parts.hostname
    if not host:
        raise ConfigurationProblem(f"{shown}: the URL names no host (expected https://HOST:9443)")
    if parts.query or parts.fragment:
        raise ConfigurationProblem(f"{shown}: the cluster URL takes no query or fragment (expected https://HOST:9443)")
    path = parts.path.rstrip("/")
    if path == "/v1":  # pasted from an API example
        path = ""
    shown_host = f"[{host}]" if ":" in host else host
    return f"https://{shown_host}:{port or DEFAULT_PORT}{path}"


def _verification(args, env, profile) -> tuple[bool, str | None]:
    """(insecure, ca_cert): the first level (flags, environment, profile) that sets either decides."""
    insecure_env = env.get("REDIS_ENTERPRISE_INSECURE")
    if insecure_env is not None and insecure_env.strip().lower() not in _TRUE + _FALSE:
        raise ConfigurationProblem(f"REDIS_ENTERPRISE_INSECURE={insecure_env!r}: expected true or false")
    levels = (
        (bool(getattr(args, "insecure", False)), getattr(args, "ca_cert", None)),
        (insecure_env is not None and insecure_env.strip().lower() in _TRUE, env.get("REDIS_ENTERPRISE_CA_CERT") or None),
        (bool(profile.get("insecure", False)), profile.get("ca_cert")),
    )
    for insecure, ca_cert in levels:
        if insecure:
            return True, None
        if ca_cert:
            return False, ca_cert
    return False, None


def _password(user, url, env, profile, profile_name, prompt) -> str:
    password = env.get("REDIS_ENTERPRISE_PASSWORD")
    if password:
        return password
    var = profile.get("password_env")
    if var:
        password = env.get(var)
        if password:
            return password
    if profile.get("password"):
        return profile["password"]
    if prompt is None and sys.stdin is not None and sys.stdin.isatty():
        import getpass

        prompt = getpass.getpass
    if prompt is None:
        hint = f" (or {var}, named by profile {profile_name})" if var else ""
        raise ConfigurationProblem(f"no password for {user} at {url}: set REDIS_ENTERPRISE_PASSWORD{hint}; "
                                   "a password prompt needs a terminal")
    try:
        password = prompt(f"Password for {user} at {url}: ")
    except EOFError:
        password = ""
    if not password:
        raise ConfigurationProblem(f"no password given for {user} at {url}")
    return password


# -- profiles ------------------------------------------------------------------------------------
def config_path() -> str:
    from ..paths import config_file

    return config_file()


def load_profile(name: str, path: str | None = None) -> dict:
    """The ``[profiles.<name>]`` table, checked; paths made absolute relative to the file."""
    import tomllib

    path = path or config_path()
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
            mode = os.fstat(fh.fileno()).st_mode
    except FileNotFoundError:
        raise ConfigurationProblem(f"no profile {name!r}: {path} does not exist (see rladmin-py --help)") from None
    except IsADirectoryError:
        raise ConfigurationProblem(f"{path}: is a directory, not a config file") from None
    except PermissionError:
        raise ConfigurationProblem(f"{path}: permission denied") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigurationProblem(f"{path}: not valid TOML: {err}") from None
    except UnicodeDecodeError:
        raise ConfigurationProblem(f"{path}: not UTF-8 text") from None
    profiles = data.get("profiles")
    if not isinstance(profiles, dict) or not isinstance(profiles.get(name), dict):
        known = ", ".join(sorted(k for k, v in (profiles or {}).items() if isinstance(v, dict))) if isinstance(
            profiles, dict) else ""
        raise ConfigurationProblem(f"no profile {name!r} in {path}" + (f" (profiles: {known})" if known else
                                                                         f" (add a [profiles.{name}] table)"))
    profile = dict(profiles[name])
    for key, value in profile.items():
        expected = PROFILE_KEYS.get(key)
        if expected is None:
            raise ConfigurationProblem(f"{path}: [profiles.{name}]: unknown key {key!r} "
                                       f"(known: {', '.join(PROFILE_KEYS)})")
        if not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
            kind = {str: "a string", bool: "true or false"}.get(expected, "a number")
            raise ConfigurationProblem(f"{path}: [profiles.{name}]: {key} must be {kind}")
    if "password" in profile and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigurationProblem(f"{path}: holds a password but others can read it; run chmod 600 {path}, "
                                   "or use password_env instead")
    if profile.get("ca_cert"):
        ca = os.path.expanduser(profile["ca_cert"])
        profile["ca_cert"] = ca if os.path.isabs(ca) else os.path.join(os.path.dirname(path), ca)
    return profile
