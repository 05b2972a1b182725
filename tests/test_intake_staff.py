"""Staff tools: key generation, the development key pair, and decrypting stored submissions.

The submissions here are encrypted by jwcrypto, an implementation independent of ours; the browser
test (test_intake_browser.py) checks the other direction, what the shipped script makes.
"""

from __future__ import annotations

import base64
import io
import json
import quopri
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from intake_form import staff
from jwcrypto import jwe, jwk

# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory) -> Path:
    """A key pair made by `keygen`, in a folder outside any git repository."""
    folder = tmp_path_factory.mktemp("keys")
    staff.keygen(folder)
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
    code = staff.decrypt_paths(private_path, paths, out=out, err=err, **kwargs)
    return code, out.getvalue(), err.getvalue()


# ---------------------------------------------------------------- keys


def test_keygen_writes_a_3072_bit_pair_and_prints_the_key_id(tmp_path, capsys):
    site_key = tmp_path / "site" / "intake-public.pem"
    kid = staff.keygen(tmp_path / "keys", public_path=site_key)
    private = next((tmp_path / "keys").glob("*-private.pem"))
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert kid[:8] in private.name
    key = staff.load_private_key(private)
    assert key.key_size == 3072
    assert jwk.JWK.from_pem(site_key.read_bytes()).thumbprint() == kid
    assert next((tmp_path / "keys").glob("*-public.pem")).read_bytes() == site_key.read_bytes()
    assert f"key id:      {kid}" in capsys.readouterr().out


def test_keygen_never_replaces_a_key(tmp_path):
    first = staff.keygen(tmp_path)
    second = staff.keygen(tmp_path)
    assert first != second
    assert len(list(tmp_path.glob("*-private.pem"))) == 2


def test_keygen_refuses_a_folder_git_would_commit(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("/var/\n")
    with pytest.raises(staff.KeyFileError, match="inside the repository and not git-ignored"):
        staff.keygen(tmp_path / "keys")
    assert not list(tmp_path.rglob("*.pem"))
    staff.keygen(tmp_path / "var" / "keys")  # ignored: fine


def test_keygen_with_a_passphrase(tmp_path):
    staff.keygen(tmp_path, passphrase="correct horse")
    private = next(tmp_path.glob("*-private.pem"))
    assert b"ENCRYPTED" in private.read_bytes()
    assert staff.load_private_key(private, "correct horse").key_size == 3072
    with pytest.raises(staff.KeyFileError, match="wrong passphrase"):
        staff.load_private_key(private, "wrong")


def test_ensure_dev_keypair_makes_once_and_keeps(tmp_path):
    folder = staff.ensure_dev_keypair(tmp_path)
    assert folder == tmp_path / "var" / "intake-dev"
    private, public = folder / "private.pem", folder / "public.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    before = public.read_bytes()
    assert staff.ensure_dev_keypair(tmp_path) == folder
    assert public.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["private.pem", "public.pem"]


def test_key_id_is_the_rfc7638_thumbprint(private_path, public_jwk):
    key = staff.load_private_key(private_path)
    assert staff.key_id(key.public_key()) == public_jwk.thumbprint()


# ---------------------------------------------------------------- finding and decrypting


def test_decrypts_however_the_endpoint_delivered_it(tmp_path, private_path, public_jwk):
    """Raw form body, JSON, quoted-printable email, base64 email part: all found, once each."""
    subs = [submission(f"Person {n}", message="<b>é ' \"</b>") for n in range(5)]
    tokens = [encrypt(s, public_jwk) for s in subs]
    inbox = tmp_path / "inbox"
    (inbox / "raw").mkdir(parents=True)
    (inbox / "raw" / "post.txt").write_text(
        f"form=intake&submission_id={subs[0]['sid']}&jwe={tokens[0]}"
    )
    (inbox / "export.json").write_text(
        json.dumps(
            [
                {"data": {"jwe": t, "submission_id": s["sid"]}}
                for s, t in zip(subs[1:3], tokens[1:3], strict=True)
            ]
        )
    )
    quoted = quopri.encodestring(f"New submission:\n\njwe={tokens[3]}\n".encode()).decode()
    assert "=\n" in quoted  # the token really is broken across lines
    (inbox / "mail1.eml").write_text(
        "From: forms@example.org\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
        f"Content-Transfer-Encoding: quoted-printable\n\n{quoted}"
    )
    encoded = base64.encodebytes(f"jwe: {tokens[4]}\n".encode()).decode()
    (inbox / "mail2.eml").write_text(
        "From: forms@example.org\nMIME-Version: 1.0\nContent-Type: text/plain\n"
        f"Content-Transfer-Encoding: base64\n\n{encoded}"
    )
    (inbox / "copy-of-post.txt").write_text(f"jwe={tokens[0]}")  # the same submission again

    code, out, err = run_decrypt(private_path, [inbox])
    assert (code, err) == (0, "")
    printed = [json.loads(line) for line in out.splitlines()]
    assert sorted(p["sid"] for p in printed) == sorted(s["sid"] for s in subs)
    assert {p["sid"]: p for p in printed}[subs[2]["sid"]] == subs[2]


def test_a_retry_is_printed_once_as_its_latest_attempt(tmp_path, private_path, public_jwk):
    first = submission("Ann")
    retry = json.loads(json.dumps(first))
    retry["submitted_at"] = "2026-11-29T10:00:05.000Z"
    retry["fields"]["name"] = "Ann Lee"
    (tmp_path / "a.txt").write_text(encrypt(retry, public_jwk))
    (tmp_path / "b.txt").write_text(encrypt(first, public_jwk))
    code, out, _ = run_decrypt(private_path, [tmp_path])
    assert code == 0
    assert [json.loads(line)["fields"]["name"] for line in out.splitlines()] == ["Ann Lee"]


def _tamper(token: str, part: int) -> str:
    parts = token.split(".")
    raw = bytearray(staff.b64url_decode(parts[part]))
    raw[len(raw) // 2] ^= 1
    parts[part] = staff.b64url(bytes(raw))
    return ".".join(parts)


def test_tampered_and_foreign_submissions_fail_one_line_each(tmp_path, private_path, public_jwk):
    good = submission("Kept")
    token = encrypt(good, public_jwk)
    foreign = jwk.JWK.generate(kty="RSA", size=3072)
    header = json.loads(staff.b64url_decode(token.split(".")[0]))
    header["kid"] = "someone-else"
    reheadered = ".".join([staff.b64url(json.dumps(header).encode()), *token.split(".")[1:]])
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
    assert [json.loads(line) for line in out.splitlines()] == [good]
    lines = err.splitlines()
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
    (tmp_path / "a.txt").write_text(encrypt(data, public_jwk))
    code, out, _ = run_decrypt(private_path, [tmp_path], csv=True)
    assert code == 0
    header, row = out.splitlines()
    assert header.startswith(
        "submitted_at,sid,form,page,name,contact,conditions,message,consent_phone"
    )
    assert "'=HYPERLINK" in row and "'+1 call me" in row
    assert ",no,yes,no,2026-11-29" in row


def test_nothing_found_and_bad_key_are_errors(tmp_path, private_path):
    (tmp_path / "readme.txt").write_text("nothing here")
    code, out, err = run_decrypt(private_path, [tmp_path])
    assert (code, out) == (1, "")
    assert "no encrypted submission found" in err
    code, _, err = run_decrypt(tmp_path / "readme.txt", [tmp_path])
    assert code == 1 and "is not a private key" in err


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
    odd[0] = staff.b64url(json.dumps(header).encode())
    (tmp_path / "escape.txt").write_text(".".join(odd))

    for csv in (False, True):
        code, out, err = run_decrypt(private_path, [tmp_path], csv=csv)
        assert code == 1
        assert "Kept" in out
        lines = err.splitlines()
        assert len(lines) == 3, err
        assert "\x1b" not in err
        by_file = {Path(line.split(":")[0]).name: line for line in lines}
        assert "not an intake submission" in by_file["list.txt"]
        assert "is not JSON" in by_file["deep.txt"]
        assert "encrypted for another key (key id x?[2J?forged;" in by_file["escape.txt"]


def test_terminal_controls_typed_by_a_visitor_are_escaped(tmp_path, private_path, public_jwk):
    data = submission("Ann\x9b2J\x1b[2J")
    (tmp_path / "a.txt").write_text(encrypt(data, public_jwk))
    code, out, _ = run_decrypt(private_path, [tmp_path])
    assert code == 0
    assert "\x9b" not in out and "\x1b" not in out
    assert json.loads(out)["fields"]["name"] == "Ann\x9b2J\x1b[2J"


def test_csv_column_names_are_safe_for_spreadsheets(tmp_path, private_path, public_jwk):
    data = submission(**{"=cmd|' /C calc'!A0": "x"})
    (tmp_path / "a.txt").write_text(encrypt(data, public_jwk))
    code, out, _ = run_decrypt(private_path, [tmp_path], csv=True)
    assert code == 0
    assert ",'=cmd|" in out.splitlines()[0]


def _invoke(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_invoke_keygen_and_decrypt_from_the_command_line(tmp_path):
    """The tasks staff run: keygen prints the key id and writes the public key where asked;
    decrypt prints the good submission and one line per bad one, exits non-zero, no traceback."""
    site_key = tmp_path / "site" / "intake.pem"
    made = _invoke("keygen", "--out", str(tmp_path / "keys"), "--public", str(site_key))
    assert made.returncode == 0, made.stderr
    public = jwk.JWK.from_pem(site_key.read_bytes())
    assert f"key id:      {public.thumbprint()}" in made.stdout
    [private] = (tmp_path / "keys").glob("*-private.pem")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    good = submission("Zoë <b>")
    (inbox / "good.txt").write_text(encrypt(good, public))
    (inbox / "tag.txt").write_text(_tamper(encrypt(submission(), public), 4))
    result = _invoke("decrypt", "--key", str(private), str(inbox))
    assert result.returncode == 1
    assert [json.loads(line) for line in result.stdout.splitlines()] == [good]
    assert "Traceback" not in result.stderr
    [refused] = result.stderr.splitlines()
    assert refused.startswith(f"{inbox / 'tag.txt'}: submission ")
    assert refused.endswith("authentication failed: the header or content was changed")
