"""Staff tools: key generation (passphrase-protected keys), the development key pair, and
decrypting stored submissions (`invoke decrypt`).

The submissions and protected keys here are also made and read by jwcrypto, an implementation
independent of ours; the browser tests check what the shipped script makes and what the inbox reads.
"""

from __future__ import annotations

import ast
import base64
import io
import json
import os
import quopri
import select
import signal
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from conftest import ROOT
from intake_form.keys import b64url, b64url_decode, ensure_dev_keypair, key_id
from jwcrypto import jwa, jwe, jwk

from staff.decrypt import decrypt_paths
from staff.keys import KeyFileError, keygen, load_private_key
from staff.readers import METADATA_FIELDS

PASSPHRASE = "correct horse battery staple"

# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory) -> Path:
    """A key pair made by `keygen`, in a folder outside any git repository."""
    folder = tmp_path_factory.mktemp("keys")
    keygen(folder, protect=False)
    return folder


@pytest.fixture(scope="module")
def private_path(key_dir) -> Path:
    return next(key_dir.glob("*-private.pem"))


@pytest.fixture(scope="module")
def public_jwk(key_dir) -> jwk.JWK:
    return jwk.JWK.from_pem(next(key_dir.glob("*-public.pem")).read_bytes())


def submission(name: str = "Zoë", **fields) -> dict:
    sid = str(uuid.uuid4())
    return {
        "v": 1,
        "form": "intake",
        "sid": sid,
        "submitted_at": "2026-11-29T10:00:00.000Z",
        "page": "/is-ketamine-right-for-me/",
        "lang": "en",
        "likely_spam": False,
        "fields": {"name": name, "contact": "email", "conditions": ["depression"], **fields},
        "consent": {"phone": False, "email": True, "sms": False, "wording_version": "2026-11-29"},
    }


def encrypt(data: dict, key: jwk.JWK) -> str:
    """Encrypt as the browser does, with jwcrypto."""
    header = {
        "alg": "RSA-OAEP-256",
        "enc": "A256GCM",
        "kid": key.thumbprint(),
        "cty": "application/json",
        "sid": data["sid"],
    }
    token = jwe.JWE(json.dumps(data).encode("utf-8"), protected=json.dumps(header))
    token.add_recipient(key)
    return token.serialize(compact=True)


def run_decrypt(private_path: Path, paths: list[Path], **kwargs) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = decrypt_paths(private_path, paths, out=out, err=err, **kwargs)
    return code, out.getvalue(), err.getvalue()


def printed(out: str) -> list[dict]:
    """The submissions `invoke decrypt` printed, in order."""
    return [json.loads(line)["submission"] for line in out.splitlines()]


def errors(err: str) -> list[str]:
    """Error lines, without the warning about the test key having no passphrase."""
    return [line for line in err.splitlines() if "has no passphrase" not in line]


# ---------------------------------------------------------------- keys


def test_keygen_protects_the_private_key_and_jwcrypto_reads_it(tmp_path, capsys, monkeypatch):
    site_key = tmp_path / "site" / "intake-public.pem"
    kid = keygen(tmp_path / "keys", public_path=site_key, passphrase=PASSPHRASE)
    private = next((tmp_path / "keys").glob("*-private.jwe"))
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert kid[:8] in private.name
    token = private.read_text().strip()
    assert "PRIVATE" not in token and "BEGIN" not in token

    # jwcrypto, an independent library, opens it (once its denial-of-service guard is raised).
    refused = jwe.JWE()
    with pytest.raises(Exception, match="p2c"):  # noqa: PT011 (jwcrypto's own error type)
        refused.deserialize(token, key=jwk.JWK.from_password(PASSPHRASE))
    monkeypatch.setattr(jwa, "default_max_pbkdf2_iterations", 10_000_000)
    theirs = jwe.JWE()
    theirs.deserialize(token, key=jwk.JWK.from_password(PASSPHRASE))
    header = theirs.jose_header
    assert (header["alg"], header["enc"], header["p2c"]) == (
        "PBES2-HS512+A256KW",
        "A256GCM",
        600_000,
    )
    assert len(b64url_decode(header["p2s"])) == 16
    private_jwk = jwk.JWK.from_json(theirs.payload)
    assert private_jwk.has_private and private_jwk.thumbprint() == kid == header["kid"]
    assert jwk.JWK.from_pem(site_key.read_bytes()).thumbprint() == kid
    assert next((tmp_path / "keys").glob("*-public.pem")).read_bytes() == site_key.read_bytes()
    assert f"key id:      {kid}" in capsys.readouterr().out

    key = load_private_key(private, PASSPHRASE)
    assert key.key_size == 3072 and key_id(key.public_key()) == kid
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        load_private_key(private, "the wrong passphrase")


def _jwcrypto_protected(passphrase: str, iterations: int) -> tuple[str, jwk.JWK]:
    """A private JWK wrapped by jwcrypto itself, as PBES2-HS512+A256KW with ITERATIONS."""
    key = jwk.JWK.generate(kty="RSA", size=3072)
    header = {"alg": "PBES2-HS512+A256KW", "enc": "A256GCM", "p2c": iterations, "cty": "jwk+json"}
    token = jwe.JWE(key.export_private().encode(), protected=json.dumps(header))
    token.add_recipient(jwk.JWK.from_password(passphrase))
    return token.serialize(compact=True), key


def test_a_key_jwcrypto_protected_opens_and_a_weakened_one_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(jwa, "default_max_pbkdf2_iterations", 10_000_000)
    token, key = _jwcrypto_protected(PASSPHRASE, 600_000)
    (tmp_path / "strong.jwe").write_text(token)
    opened = load_private_key(tmp_path / "strong.jwe", PASSPHRASE)
    assert key_id(opened.public_key()) == key.thumbprint()

    weak, _ = _jwcrypto_protected(PASSPHRASE, 100_000)
    (tmp_path / "weak.jwe").write_text(weak)
    with pytest.raises(KeyFileError, match=r"too few PBKDF2 iterations \(100000; at least"):
        load_private_key(tmp_path / "weak.jwe", PASSPHRASE)
    # Lowering p2c in the header of a good file is refused before any work, and could not work
    # anyway (the header is authenticated).
    parts = token.split(".")
    header = json.loads(b64url_decode(parts[0]))
    header["p2c"] = 1000
    lowered = ".".join([b64url(json.dumps(header).encode()), *parts[1:]])
    (tmp_path / "lowered.jwe").write_text(lowered)
    with pytest.raises(KeyFileError, match="too few PBKDF2 iterations"):
        load_private_key(tmp_path / "lowered.jwe", PASSPHRASE)
    with pytest.raises(KeyFileError, match="at least 600,000"):
        keygen(tmp_path / "k", passphrase=PASSPHRASE, iterations=1000)


def test_keygen_refuses_a_short_or_missing_passphrase(tmp_path):
    for passphrase in (None, "", "short"):
        with pytest.raises(KeyFileError, match="at least 12 characters"):
            keygen(tmp_path, passphrase=passphrase)
    assert list(tmp_path.iterdir()) == []


def test_an_older_unprotected_key_still_works_with_a_warning(tmp_path, private_path):
    err = io.StringIO()
    key = load_private_key(private_path, warn=err)
    assert key.key_size == 3072
    [line] = err.getvalue().splitlines()
    assert line.startswith("warning: ") and "has no passphrase" in line


def test_keygen_never_replaces_a_key(tmp_path):
    first = keygen(tmp_path, protect=False)
    second = keygen(tmp_path, protect=False)
    assert first != second
    assert len(list(tmp_path.glob("*-private.pem"))) == 2


def test_keygen_refuses_a_folder_git_would_commit(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("/var/\n")
    with pytest.raises(KeyFileError, match="inside the repository and not git-ignored"):
        keygen(tmp_path / "keys", protect=False)
    assert not list(tmp_path.rglob("*-private.*"))
    keygen(tmp_path / "var" / "keys", protect=False)  # ignored: fine


def test_ensure_dev_keypair_makes_once_and_keeps(tmp_path):
    folder = ensure_dev_keypair(tmp_path)
    assert folder == tmp_path / "var" / "intake-dev"
    private, public = folder / "private.pem", folder / "public.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    before = public.read_bytes()
    assert ensure_dev_keypair(tmp_path) == folder
    assert public.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["private.pem", "public.pem"]


def test_key_id_is_the_rfc7638_thumbprint(private_path, public_jwk):
    key = load_private_key(private_path)
    assert key_id(key.public_key()) == public_jwk.thumbprint()


# ---------------------------------------------------------------- finding and decrypting


def test_decrypts_however_the_endpoint_delivered_it(tmp_path, private_path, public_jwk):
    """Raw form body, JSON, CSV, quoted-printable email, base64 email part: all found, once each,
    with the service's receipt time where the file gives one."""
    subs = [submission(f"Person {n}", message="<b>é ' \"</b>") for n in range(6)]
    tokens = [encrypt(s, public_jwk) for s in subs]
    inbox = tmp_path / "inbox"
    (inbox / "raw").mkdir(parents=True)
    (inbox / "raw" / "post.txt").write_text(
        f"form=intake&submission_id={subs[0]['sid']}&jwe={tokens[0]}"
    )
    (inbox / "export.json").write_text(
        json.dumps(
            [
                {"received_at": f"2026-11-29T1{n}:00:00+01:00", "data": {"jwe": t}}
                for n, t in enumerate(tokens[1:3])
            ]
        )
    )
    (inbox / "export.csv").write_text(
        f'id,created_at,payload\n1,2026-11-29T08:30:00Z,"jwe={tokens[5]}"\n'
    )
    quoted_text = quopri.encodestring(f"New submission:\n\njwe={tokens[3]}\n".encode()).decode()
    assert "=\n" in quoted_text  # the token really is broken across lines
    (inbox / "mail1.eml").write_text(
        "From: forms@example.org\nDate: Sun, 29 Nov 2026 12:00:00 -0800\nMIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\n"
        f"Content-Transfer-Encoding: quoted-printable\n\n{quoted_text}"
    )
    encoded = base64.encodebytes(f"jwe: {tokens[4]}\n".encode()).decode()
    (inbox / "mail2.eml").write_text(
        "From: forms@example.org\nMIME-Version: 1.0\nContent-Type: text/plain\n"
        f"Content-Transfer-Encoding: base64\n\n{encoded}"
    )
    (inbox / "copy-of-post.txt").write_text(f"jwe={tokens[0]}")  # the same submission again

    code, out, err = run_decrypt(private_path, [inbox])
    assert (code, errors(err)) == (0, [])
    lines = [json.loads(line) for line in out.splitlines()]
    assert sorted(p["submission"]["sid"] for p in lines) == sorted(s["sid"] for s in subs)
    by_sid = {p["submission"]["sid"]: p for p in lines}
    assert by_sid[subs[2]["sid"]]["submission"] == subs[2]
    times = {
        n: (by_sid[s["sid"]]["time"], by_sid[s["sid"]]["time_source"]) for n, s in enumerate(subs)
    }
    assert times[1] == ("2026-11-29T09:00:00.000Z", "service")  # +01:00 made UTC
    assert times[2] == ("2026-11-29T10:00:00.000Z", "service")
    assert times[3] == ("2026-11-29T20:00:00.000Z", "service")  # the email's Date
    assert times[5] == ("2026-11-29T08:30:00.000Z", "service")
    assert times[0] == times[4] == ("2026-11-29T10:00:00.000Z", "sender's claim")
    # Newest first by that time.
    assert [p["time"] for p in lines] == sorted((p["time"] for p in lines), reverse=True)


def test_a_resent_copy_is_shown_once_but_two_versions_are_both_kept_and_warned(
    tmp_path, private_path, public_jwk
):
    """A retry re-encrypts the same answers (a new submitted_at): one entry. Different answers
    under one id (a forgery: the id is visible on the wire) are both shown, never one picked."""
    first = submission("Ann")
    resent = dict(first, submitted_at="2026-11-29T10:00:05.000Z")
    (tmp_path / "a.txt").write_text(encrypt(first, public_jwk))
    (tmp_path / "b.txt").write_text(encrypt(resent, public_jwk))
    code, out, err = run_decrypt(private_path, [tmp_path])
    assert (code, errors(err)) == (0, [])
    assert [p["fields"]["name"] for p in printed(out)] == ["Ann"]

    forged = json.loads(json.dumps(first))
    forged["submitted_at"] = "2026-11-29T11:00:00.000Z"  # claims to be later
    forged["fields"]["name"] = "Mallory"
    (tmp_path / "c.txt").write_text(encrypt(forged, public_jwk))
    for csv in (False, True):
        code, out, err = run_decrypt(private_path, [tmp_path], csv=csv)
        assert code == 0
        [warning] = errors(err)
        assert warning.startswith("warning: 2 different versions share submission id ")
        if csv:
            assert "Ann" in out and "Mallory" in out
            assert out.count("2 different versions share") == 2
    lines = [json.loads(line) for line in run_decrypt(private_path, [tmp_path])[1].splitlines()]
    assert sorted(p["submission"]["fields"]["name"] for p in lines) == ["Ann", "Mallory"]
    assert all(p["warning"] and p["time_source"] == "sender's claim" for p in lines)


def _tamper(token: str, part: int) -> str:
    parts = token.split(".")
    raw = bytearray(b64url_decode(parts[part]))
    raw[len(raw) // 2] ^= 1
    parts[part] = b64url(bytes(raw))
    return ".".join(parts)


def test_tampered_and_foreign_submissions_fail_one_line_each(tmp_path, private_path, public_jwk):
    good = submission("Kept")
    token = encrypt(good, public_jwk)
    foreign = jwk.JWK.generate(kty="RSA", size=3072)
    header = json.loads(b64url_decode(token.split(".")[0]))
    header["kid"] = "someone-else"
    reheadered = ".".join([b64url(json.dumps(header).encode()), *token.split(".")[1:]])
    cases = {
        "header.txt": _tamper(token, 0),
        "kid.txt": reheadered,
        "key.txt": _tamper(encrypt(submission(), public_jwk), 1),
        "ciphertext.txt": _tamper(encrypt(submission(), public_jwk), 3),
        "tag.txt": _tamper(encrypt(submission(), public_jwk), 4),
        "foreign.txt": encrypt(submission(), foreign),
        "good.txt": token,
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
    code, out, err = run_decrypt(private_path, [tmp_path])
    assert code == 1
    assert printed(out) == [good]
    lines = errors(err)
    assert len(lines) == 6, err
    assert "Traceback" not in err
    by_file = {Path(line.split(":")[0]).name: line for line in lines}
    assert "encrypted for another key" in by_file["foreign.txt"]
    assert "encrypted for another key" in by_file["kid.txt"]
    assert "does not open with this private key" in by_file["key.txt"]
    assert "authentication failed" in by_file["tag.txt"]
    assert "authentication failed" in by_file["ciphertext.txt"]
    assert "cannot decrypt" in by_file["header.txt"]


def test_csv_output_is_a_table_safe_for_spreadsheets(tmp_path, private_path, public_jwk):
    data = submission('=HYPERLINK("http://evil.example")', message="+1 call me")
    data["lang"] = "es"
    (tmp_path / "a.txt").write_text(encrypt(data, public_jwk))
    code, out, _ = run_decrypt(private_path, [tmp_path], csv=True)
    assert code == 0
    header, row = out.splitlines()
    assert header == (
        "time,time_source,submitted_at,sid,form,page,lang,likely_spam,warning,"
        "name,contact,conditions,message,consent_phone,consent_email,consent_sms,"
        "consent_wording_version"
    )
    assert "'=HYPERLINK" in row and "'+1 call me" in row
    assert ",es,no,," in row
    assert row.endswith(",no,yes,no,2026-11-29")


def test_csv_makes_every_control_and_bidi_character_visible(tmp_path, private_path, public_jwk):
    """The name from the security review clears a terminal and hides the rows after it."""
    attack = "\x1b]0;x\x07\x1b[2J\x1b[1;1HAll submissions decrypted OK\x1b[8m"
    data = submission(attack, message="a\rb\u202eevil\u2066\x9b2J\x00\x7f\nline two")
    (tmp_path / "a.txt").write_text(encrypt(data, public_jwk))
    code, out, _ = run_decrypt(private_path, [tmp_path], csv=True)
    assert code == 0
    for char in "\x1b\x07\r\u202e\u2066\x9b\x00\x7f":
        assert char not in out, repr(char)
    assert (
        "[U+001B]]0;x[U+0007][U+001B][2J[U+001B][1;1HAll submissions decrypted OK[U+001B][8m" in out
    )
    assert "a[U+000D]b[U+202E]evil[U+2066][U+009B]2J[U+0000][U+007F]\nline two" in out
    assert out.count("\n") == 3  # header, row, and the line feed inside the quoted message


def test_nothing_found_and_bad_key_are_errors(tmp_path, private_path):
    (tmp_path / "readme.txt").write_text("nothing here")
    code, out, err = run_decrypt(private_path, [tmp_path])
    assert (code, out) == (1, "")
    assert "no encrypted submission found" in err
    code, _, err = run_decrypt(tmp_path / "readme.txt", [tmp_path])
    assert code == 1 and "is not a private key" in err


def test_hostile_files_fail_on_their_own_line(tmp_path, private_path, public_jwk):
    """A multipart email nested thousands deep crashed Python's email parser (RecursionError) and
    with it the whole run; so could deep JSON or a huge file. Each is refused on its own line."""
    good = submission("Kept")
    (tmp_path / "good.txt").write_text(encrypt(good, public_jwk))
    hidden = encrypt(submission("Inside the nest"), public_jwk)
    nest = ["From: x@example.org\nMIME-Version: 1.0\n"]
    for level in range(3000):
        nest.append(f'Content-Type: multipart/mixed; boundary="b{level}"\n\n--b{level}\n')
    nest.append(f"Content-Type: text/plain\n\njwe={hidden}\n")
    (tmp_path / "nested.eml").write_text("".join(nest))
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (tmp_path / "huge.txt").write_bytes(b"x" * (5 * 1024 * 1024 + 1))
    # A file name can hold controls too.
    (tmp_path / "name\x1b[2J.json").write_text("[" * 100 + "]" * 100)
    code, out, err = run_decrypt(private_path, [tmp_path])
    assert code == 1
    assert printed(out) == [good]
    assert "Traceback" not in err and "\x1b" not in err
    by_file = {Path(line.split(":")[0]).name: line for line in errors(err)}
    assert set(by_file) == {"nested.eml", "deep.json", "huge.txt", "name[U+001B][2J.json"}
    assert "too deeply nested (more than 32 MIME boundaries)" in by_file["nested.eml"]
    assert "too deeply nested (JSON)" in by_file["deep.json"]
    assert "too large (5,242,881 bytes; at most 5 MB)" in by_file["huge.txt"]


def test_hostile_but_well_encrypted_content_is_refused_one_line_each(
    tmp_path, private_path, public_jwk
):
    """Anyone with the public key can encrypt: odd content and odd headers must not crash the
    tool, reach the terminal raw, or stop the other submissions."""
    good = submission("Kept")
    (tmp_path / "good.txt").write_text(encrypt(good, public_jwk))
    not_a_table = submission()
    not_a_table["fields"] = ["a", "list"]
    (tmp_path / "list.txt").write_text(encrypt(not_a_table, public_jwk))
    deep = jwe.JWE(
        b"[" * 100_000 + b"]" * 100_000,
        protected=json.dumps({"alg": "RSA-OAEP-256", "enc": "A256GCM"}),
    )
    deep.add_recipient(public_jwk)
    (tmp_path / "deep.txt").write_text(deep.serialize(compact=True))
    header = {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": "x\x1b[2J\nforged", "sid": "\x1b"}
    odd = encrypt(submission(), public_jwk).split(".")
    odd[0] = b64url(json.dumps(header).encode())
    (tmp_path / "escape.txt").write_text(".".join(odd))

    for csv in (False, True):
        code, out, err = run_decrypt(private_path, [tmp_path], csv=csv)
        assert code == 1
        assert "Kept" in out
        lines = errors(err)
        assert len(lines) == 3, err
        assert "\x1b" not in err
        by_file = {Path(line.split(":")[0]).name: line for line in lines}
        assert "not an intake submission" in by_file["list.txt"]
        assert "content is too deeply nested" in by_file["deep.txt"]
        assert "encrypted for another key (key id x?[2J?forged;" in by_file["escape.txt"]


def test_terminal_controls_typed_by_a_visitor_are_escaped(tmp_path, private_path, public_jwk):
    data = submission("Ann\x9b2J\x1b[2J\u202e")
    (tmp_path / "a.txt").write_text(encrypt(data, public_jwk))
    code, out, _ = run_decrypt(private_path, [tmp_path])
    assert code == 0
    assert "\x9b" not in out and "\x1b" not in out and "\u202e" not in out
    assert printed(out)[0]["fields"]["name"] == "Ann\x9b2J\x1b[2J\u202e"


def test_csv_column_names_are_safe_for_spreadsheets(tmp_path, private_path, public_jwk):
    data = submission(**{"=cmd|' /C calc'!A0": "x", "sid": "not the id"})
    (tmp_path / "a.txt").write_text(encrypt(data, public_jwk))
    code, out, _ = run_decrypt(private_path, [tmp_path], csv=True)
    assert code == 0
    header = out.splitlines()[0].split(",")
    assert "'=cmd|' /C calc'!A0" in header
    # A field named like a metadata column cannot take that column's place.
    assert header.count("sid") == 1 and "field_sid" in header


def test_spam_flag_and_language_reach_the_output(tmp_path, private_path, public_jwk):
    data = submission("Bot")
    data.update(likely_spam=True, lang="es")
    (tmp_path / "a.txt").write_text(encrypt(data, public_jwk))
    _, out, _ = run_decrypt(private_path, [tmp_path], csv=True)
    row = dict(zip(*[line.split(",") for line in out.splitlines()], strict=True))
    assert (row["likely_spam"], row["lang"]) == ("yes", "es")
    assert {"sid", "lang", "likely_spam", "time", "consent_email"} <= METADATA_FIELDS


def _invoke(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_invoke_keygen_and_decrypt_from_the_command_line(tmp_path):
    """The tasks staff run: keygen with a passphrase file prints the key id and writes the public
    key where asked; decrypt with the passphrase file prints the good submission and one line per
    bad one, exits non-zero, no traceback. Without a terminal or a file, no passphrase: an error."""
    site_key = tmp_path / "site" / "intake.pem"
    secret = tmp_path / "passphrase.txt"
    secret.write_text(PASSPHRASE + "\nignored second line\n")
    keys = str(tmp_path / "keys")
    made = _invoke(
        "keygen", "--out", keys, "--public", str(site_key), "--passphrase-file", str(secret)
    )
    assert made.returncode == 0, made.stderr
    public = jwk.JWK.from_pem(site_key.read_bytes())
    assert f"key id:      {public.thumbprint()}" in made.stdout
    [private] = (tmp_path / "keys").glob("*-private.jwe")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert key_id(load_private_key(private, PASSPHRASE).public_key()) == public.thumbprint()

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    good = submission("Zoë <b>")
    (inbox / "good.txt").write_text(encrypt(good, public))
    (inbox / "tag.txt").write_text(_tamper(encrypt(submission(), public), 4))
    result = _invoke("decrypt", "--key", str(private), "--passphrase-file", str(secret), str(inbox))
    assert result.returncode == 1
    assert printed(result.stdout) == [good]
    assert "Traceback" not in result.stderr
    [refused] = result.stderr.splitlines()
    assert refused.startswith(f"{inbox / 'tag.txt'}: submission ")
    assert refused.endswith("authentication failed: the header or content was changed")

    asked = _invoke("decrypt", "--key", str(private), str(inbox))
    assert asked.returncode == 1 and asked.stdout == ""
    assert "protected by a passphrase: give --passphrase-file" in asked.stderr
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not the passphrase at all")
    refused = _invoke("decrypt", "--key", str(private), "--passphrase-file", str(wrong), str(inbox))
    assert refused.returncode == 1 and "wrong passphrase" in refused.stderr

    assert "outside the repository" in _invoke("--help", "keygen").stdout  # the default folder
    no_prompt = _invoke("keygen", "--out", keys, "--public", "")
    assert no_prompt.returncode != 0 and "give --passphrase-file" in no_prompt.stderr
    testing = _invoke("keygen", "--out", keys, "--public", "", "--no-passphrase")
    assert testing.returncode == 0 and "for tests only" in testing.stdout
    assert len(list((tmp_path / "keys").glob("*-private.pem"))) == 1


def test_keygen_asks_for_the_passphrase_twice_on_a_terminal(tmp_path):
    """On a real terminal (a pseudo-terminal here): two prompts, echo off; different answers
    write nothing; the same answer twice writes a key that opens with it."""
    import pty  # noqa: PLC0415 (POSIX only)

    def run(*answers: str) -> tuple[int, str]:
        pid, fd = pty.fork()
        if pid == 0:  # the child: invoke keygen on the pseudo-terminal
            os.chdir(Path(__file__).resolve().parent.parent)
            out = str(tmp_path / "keys")
            os.execv(
                sys.executable,
                [sys.executable, "-m", "invoke", "keygen", "--out", out, "--public", ""],
            )
        transcript = b""
        pending = list(answers)
        deadline = time.monotonic() + 60
        while True:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:  # stuck: stop the child rather than hang the suite
                os.kill(pid, signal.SIGKILL)
                break
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # the child has exited
                break
            if not chunk:
                break
            transcript += chunk
            # Answer only once a prompt is shown: getpass discards what was typed before it.
            if pending and chunk.endswith(b": "):
                os.write(fd, pending.pop(0).encode() + b"\n")
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status), transcript.decode("utf-8", "replace")

    code, transcript = run(PASSPHRASE, "something else entirely")
    assert code != 0 and "the two passphrases differ: nothing was written" in transcript
    assert "The same passphrase again:" in transcript
    assert PASSPHRASE not in transcript  # not echoed
    assert not (tmp_path / "keys").exists() or not list((tmp_path / "keys").iterdir())
    code, transcript = run(PASSPHRASE, PASSPHRASE)
    assert code == 0, transcript
    [private] = (tmp_path / "keys").glob("*-private.jwe")
    assert load_private_key(private, PASSPHRASE).key_size == 3072


# ---------------------------------------------------------------- where the staff tools live


def absolute_imports(folder: Path) -> dict[str, set[str]]:
    """The top-level names each Python file under FOLDER imports (relative imports left out)."""
    found = {}
    for path in sorted(folder.rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


def test_neither_the_build_nor_the_receiver_imports_the_staff_tools():
    """The plugins are the Pelican build, and receiver/ ships alone in its container image: neither
    imports staff/, the build does not import the receiver, and the receiver imports no plugin."""
    plugins = {p.name for p in (ROOT / "plugins").iterdir() if (p / "__init__.py").is_file()}
    assert "intake_form" in plugins
    for path, names in absolute_imports(ROOT / "plugins").items():
        assert not names & {"staff", "receiver"}, path
    for path, names in absolute_imports(ROOT / "receiver").items():
        assert not names & ({"staff"} | plugins), path
