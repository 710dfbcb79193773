"""Scripts as a new operator writes them (issue 15), through the console script: trailing comments,
continued lines, ``--check`` without a cluster, and reports that say what happened."""
from __future__ import annotations

import datetime as dt

import pytest

from rladmin_py.certificates import making as certgen

from conftest import rsa_key


def tls(sandbox, field="min_data_TLS_version"):
    return sandbox.get_cluster()[field]


def no_traceback(r):
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr


# -- comments and continued lines -----------------------------------------------------------------
def test_a_trailing_comment_is_a_comment(rladmin, sandbox, tmp_path):
    path = tmp_path / "run.rla"
    path.write_text("# raise the data plane now\n"
                    "cluster config min_data_TLS_version 1.3   # raise later\n"
                    "cluster config sentinel_tls_mode required\t# tab before it\n"
                    "   # an indented comment line\n")
    r = rladmin("-f", str(path))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Cluster configured successfully\n" * 2
    assert tls(sandbox) == "1.3" and tls(sandbox, "sentinel_tls_mode") == "required"


@pytest.mark.parametrize("value, shown", [('"required # not a comment"', "required # not a comment"),
                                          ("'required #x'", "required #x"),
                                          ("required#x", "required#x")])
def test_a_hash_inside_quotes_or_a_word_is_not_a_comment(rladmin, sandbox, tmp_path, value, shown):
    path = tmp_path / "run.rla"
    path.write_text(f"cluster config sentinel_tls_mode {value}  # the comment\n")
    r = rladmin("-f", str(path))
    assert r.returncode == 2
    first = r.stderr.splitlines()[0]
    assert first.startswith(f"{path}:1:34: error: invalid value '{shown}' for sentinel_tls_mode"), first
    assert tls(sandbox, "sentinel_tls_mode") == "allowed"


def test_a_backslash_continues_a_command_on_the_next_line(rladmin, sandbox, tmp_path, certfactory):
    files = certfactory.leaf(key=rsa_key())
    path = tmp_path / "run.rla"
    path.write_text("cluster certificate set proxy \\\n"
                    f"    certificate_file {files.cert} \\\n"
                    f"    key_file {files.key}\n"
                    "cluster config \\\n"
                    "    min_data_TLS_version 1.3 \\\n"
                    "    sentinel_tls_mode required   # both at once\n")
    r = rladmin("-y", "--no-verify", "-f", str(path))
    assert r.returncode == 0, r.stderr
    no_traceback(r)
    assert tls(sandbox) == "1.3" and tls(sandbox, "sentinel_tls_mode") == "required"
    assert sandbox.get_certificates()["proxy_cert"].startswith(files.issued.cert_pem)


def test_a_syntax_error_in_a_continued_command_names_its_own_line_and_column(rladmin, sandbox, tmp_path):
    path = tmp_path / "run.rla"
    path.write_text("info cluster\n"
                    "cluster config \\\n"
                    "    sentinel_tls_mode required \\\n"
                    "    min_data_TLS_version 1.4   # too high\n"
                    "cluster config sentinel_tls_mode sometimes   # wrong\n")
    r = rladmin("-f", str(path))
    assert r.returncode == 2
    lines = r.stderr.splitlines()
    assert lines[0] == (f"{path}:4:26: error: invalid value '1.4' for min_data_TLS_version: "
                        "expected 1.2 or 1.3")
    assert lines[1] == "      min_data_TLS_version 1.4   # too high"
    assert lines[2] == "  " + " " * 25 + "^"
    assert lines[3].startswith(f"{path}:5:34: error: invalid value 'sometimes'")
    assert lines[4] == "  cluster config sentinel_tls_mode sometimes   # wrong"
    assert lines[5] == "  " + " " * 33 + "^"
    assert "2 syntax errors; nothing was run" in r.stderr
    assert tls(sandbox, "sentinel_tls_mode") == "allowed"


def test_a_command_cut_short_points_after_its_last_word_not_at_the_comment(rladmin, tmp_path):
    path = tmp_path / "run.rla"
    path.write_text("cluster certificate set proxy \\\n"
                    "    certificate_file   # forgot the path\n")
    r = rladmin("-f", str(path))
    assert r.returncode == 2
    lines = r.stderr.splitlines()
    assert lines[0] == f"{path}:2:21: error: expected <path>, found end of line"
    assert lines[1] == "      certificate_file   # forgot the path"
    assert lines[2] == "  " + " " * 20 + "^"


def test_run_time_errors_after_continued_lines_keep_the_file_line_numbers(rladmin, sandbox, tmp_path):
    path = tmp_path / "run.rla"
    path.write_text("cluster config \\\n"
                    "    min_data_TLS_version 1.3\n"
                    "# the next one fails\n"
                    "cluster certificate set proxy \\\n"
                    "    certificate_file /nonexistent/c.pem \\\n"
                    "    key_file /nonexistent/k.pem\n"
                    "cluster config sentinel_tls_mode required\n")
    r = rladmin("-f", str(path))
    assert r.returncode == 1
    assert r.stderr.splitlines()[0].startswith(f"{path}:4: error: /nonexistent/c.pem"), r.stderr
    assert f"{path}: 1 of 3 commands applied (line 1); not applied: lines 4 and 7" in r.stderr
    assert tls(sandbox) == "1.3" and tls(sandbox, "sentinel_tls_mode") == "allowed"


def test_comments_and_continuations_from_standard_input(rladmin, sandbox):
    r = rladmin(input="cluster config \\\n  min_data_TLS_version 1.3  # later 1.3 everywhere\n")
    assert r.returncode == 0, r.stderr
    assert tls(sandbox) == "1.3"


# -- --check: everything a machine without the cluster can check ----------------------------------
@pytest.fixture
def bad_certs(certfactory):
    """name -> (certificate, key) of each way the local pre-flight refuses."""
    f = certfactory
    good = f.leaf(key=rsa_key(0))
    other = f.leaf(key=rsa_key(1))
    expired = f.leaf(key=rsa_key(0), not_before=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=400), days=30)
    wrong_order = f.write("wrong-order.pem", f.root.cert_pem + f.intermediate.cert_pem + good.issued.cert_pem)
    locked = f.write("locked.key", certgen.key_pem(rsa_key(0), password=b"pw"))
    return {
        "good": (good.cert, good.key),
        "missing": (f.dir / "nothing-here.pem", good.key),
        "directory": (f.dir, good.key),
        "expired": (expired.cert, expired.key),
        "mismatch": (good.cert, other.key),
        "order": (wrong_order, good.key),
        "encrypted": (good.cert, locked),
    }


EXPECTED = {
    "missing": "no such file",
    "directory": "is a directory",
    "expired": "expired on",
    "mismatch": "key_values_mismatch",
    "order": "chain out of order",
    "encrypted": "password-protected",
}


def test_check_runs_the_certificate_pre_flight_of_every_line(rladmin, sandbox, tmp_path, bad_certs):
    path = tmp_path / "rotate.rla"
    order = ["good", *EXPECTED]
    path.write_text("cluster config min_data_TLS_version 1.3  # first\n"
                    + "".join(f"cluster certificate set proxy certificate_file '{bad_certs[k][0]}' "
                              f"key_file '{bad_certs[k][1]}'\n" for k in order))
    before = sandbox.get_certificates()["proxy_cert"]
    r = rladmin("--check", "-f", str(path))
    no_traceback(r)
    assert r.returncode == 1, r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ": error: " in ln]
    assert len(errors) == len(EXPECTED), r.stderr
    for number, (kind, text) in enumerate(EXPECTED.items(), 3):
        line = next(ln for ln in errors if ln.startswith(f"{path}:{number}: error: "))
        assert text in line, (kind, line)
    assert f"{path}: 6 of 8 commands would fail (lines 3-8); nothing was run" in r.stderr
    assert r.stdout == ""
    assert tls(sandbox) == "1.2" and sandbox.get_certificates()["proxy_cert"] == before


def test_check_needs_no_cluster_and_skips_the_checks_that_need_one(rladmin, tmp_path, certfactory):
    """The cluster's name is unknown at check time: SANs for another name pass; a certificate
    without key_file is checked against the cluster's key only when it runs; nothing connects."""
    other_name = certfactory.leaf(key=rsa_key(0), sans=["db.other.example"])
    path = tmp_path / "rotate.rla"
    path.write_text(f"cluster certificate set proxy certificate_file {other_name.cert} key_file {other_name.key}\n"
                    f"cluster certificate set api certificate_file {other_name.cert}\n"
                    "cluster config min_control_TLS_version 1.3\n")
    r = rladmin("--cluster", "https://127.0.0.1:9", "--user", "nobody", "--check", "-f", str(path), sandbox=False)
    no_traceback(r)
    assert r.returncode == 0, r.stderr
    assert "SANs" not in r.stderr and "error" not in r.stderr
    assert f"{path}: syntax OK, 3 commands checked; what needs the cluster is checked when they run" in r.stderr
    assert "no key_file given" in r.stderr


def test_check_refuses_an_expired_certificate_given_without_key_file(rladmin, tmp_path, certfactory):
    expired = certfactory.leaf(key=rsa_key(0), not_before=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=400),
                               days=30)
    path = tmp_path / "rotate.rla"
    path.write_text(f"cluster certificate set api certificate_file {expired.cert}\n")
    r = rladmin("--check", "-f", str(path))
    assert r.returncode == 1
    assert r.stderr.startswith(f"{path}:1: error: {expired.cert}: the certificate expired on"), r.stderr


def test_check_of_the_internal_form_checks_all_four_files(rladmin, tmp_path, certfactory):
    good = certfactory.leaf(key=rsa_key(0))
    path = tmp_path / "internal.rla"
    path.write_text(f"cluster certificate set internal dpine_certificate_file {good.cert} dpine_key_file {good.key} "
                    f"cpine_certificate_file {good.cert} cpine_key_file {tmp_path}/gone.key\n")
    r = rladmin("--check", "-f", str(path))
    assert r.returncode == 1
    assert r.stderr.startswith(f"{path}:1: error: {tmp_path}/gone.key: no such file"), r.stderr


def test_check_with_strict_refuses_on_warnings(rladmin, tmp_path, certfactory):
    self_signed = certfactory.leaf(key=rsa_key(0), issuer=None, chain=False)
    path = tmp_path / "rotate.rla"
    path.write_text(f"cluster certificate set proxy certificate_file {self_signed.cert} key_file {self_signed.key}\n")
    r = rladmin("--check", "-f", str(path))
    assert r.returncode == 0 and f"{path}:1: warning: " in r.stderr and "self-signed" in r.stderr, r.stderr
    r = rladmin("--strict", "--check", "-f", str(path))
    assert r.returncode == 1
    assert f"{path}:1: error: " in r.stderr and "(refused: --strict)" in r.stderr


def test_check_refuses_cipher_lists_openssl_rejects(rladmin, tmp_path):
    path = tmp_path / "ciphers.rla"
    path.write_text("cluster config data_cipher_list 'NO-SUCH-CIPHER' min_data_TLS_version 1.2\n")
    r = rladmin("--check", "-f", str(path))
    assert r.returncode == 1
    assert r.stderr.startswith(f"{path}:1: error: ") and "NO-SUCH-CIPHER" in r.stderr, r.stderr


def test_check_still_refuses_values_out_of_range_with_exit_2(rladmin, tmp_path):
    path = tmp_path / "run.rla"
    path.write_text("cluster config min_data_TLS_version 1.4   # no such version\n")
    r = rladmin("--check", "-f", str(path))
    assert r.returncode == 2 and r.stderr.startswith(f"{path}:1:37: error: invalid value '1.4'")


def test_check_takes_one_shot_words(rladmin, sandbox, tmp_path, bad_certs):
    r = rladmin("--check", "cluster", "certificate", "set", "proxy", "certificate_file", "x.pem", "key_file", "k.pem")
    assert r.returncode == 1
    assert r.stderr.splitlines()[0] == "error: x.pem: no such file (the certificate file)", r.stderr
    cert, key = bad_certs["expired"]
    r = rladmin("--check", "cluster", "certificate", "set", "proxy", "certificate_file", str(cert), "key_file", str(key))
    assert r.returncode == 1 and r.stderr.startswith(f"error: {cert}: the certificate expired on"), r.stderr
    cert, key = bad_certs["good"]
    before = sandbox.get_certificates()["proxy_cert"]
    r = rladmin("--check", "cluster", "certificate", "set", "proxy", "certificate_file", str(cert), "key_file", str(key))
    assert r.returncode == 0, r.stderr
    assert "syntax OK, 1 command checked; what needs the cluster is checked when it runs" in r.stderr
    assert r.stdout == "" and sandbox.get_certificates()["proxy_cert"] == before
    r = rladmin("--check", "cluster", "config", "min_data_TLS_version", "1.4")
    assert r.returncode == 2 and r.stderr.startswith("error: column 37: invalid value '1.4'"), r.stderr
    assert tls(sandbox) == "1.2"


# -- reports that say what happened -----------------------------------------------------------------
FAILING = "cluster certificate set proxy certificate_file /nonexistent/c.pem\n"
OK_LINE = "cluster config min_data_TLS_version 1.3\n"


def test_a_dry_run_never_says_applied(rladmin, sandbox, tmp_path):
    path = tmp_path / "run.rla"
    path.write_text(OK_LINE + FAILING + "cluster config sentinel_tls_mode required\n")
    r = rladmin("--dry-run", "-f", str(path))
    assert r.returncode == 1
    assert "applied" not in r.stderr, r.stderr
    assert (f"{path}: dry run: 1 of 3 commands checked OK (line 1); failed: line 2; not checked: line 3; "
            "nothing was changed") in r.stderr, r.stderr
    assert tls(sandbox) == "1.2"


def test_a_dry_run_with_keep_going_lists_each_kind_of_line(rladmin, sandbox, tmp_path):
    path = tmp_path / "run.rla"
    path.write_text(OK_LINE + FAILING + OK_LINE + FAILING + FAILING + OK_LINE)
    r = rladmin("--dry-run", "--keep-going", "-f", str(path))
    assert r.returncode == 1 and "applied" not in r.stderr
    assert (f"{path}: dry run: 3 of 6 commands checked OK (lines 1, 3 and 6); failed: lines 2 and 4-5; "
            "nothing was changed") in r.stderr, r.stderr


@pytest.mark.parametrize("text, report", [
    (OK_LINE + FAILING + OK_LINE, "1 of 3 commands applied (line 1); not applied: lines 2-3"),
    (FAILING, "0 of 1 command applied; not applied: line 1"),
    (OK_LINE + FAILING + OK_LINE + FAILING + OK_LINE * 3,
     "5 of 7 commands applied (lines 1, 3 and 5-7); not applied: lines 2 and 4"),
], ids=["stop", "single", "keep-going"])
def test_reports_read_well(rladmin, tmp_path, text, report):
    path = tmp_path / "run.rla"
    path.write_text(text)
    r = rladmin(*(["--keep-going"] if "5 of 7" in report else []), "-f", str(path))
    assert r.returncode == 1
    assert f"{path}: {report}" in r.stderr, r.stderr
