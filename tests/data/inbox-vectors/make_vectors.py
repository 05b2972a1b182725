"""Make the shared test vectors for the two submission readers: `invoke decrypt` (Python,
staff/readers.py) and the staff inbox (JavaScript, staff/inbox/).

Run from the repository root: `python tests/data/inbox-vectors/make_vectors.py`. It rewrites this
folder: a test key pair (key.jwe, protected by the passphrase in passphrase.txt; TEST ONLY, it is
public), submissions/ (encrypted by jwcrypto, delivered in every format the readers take, with
duplicates, a forged second version, spam, control characters and hostile files), and
expected.json: what both readers must show, written here from what was made, not by a reader.
Encryption is random, so the files change on each run; expected.json does not.
"""

from __future__ import annotations

import base64
import json
import quopri
import shutil
from pathlib import Path

from jwcrypto import jwa, jwe, jwk

HERE = Path(__file__).resolve().parent
PASSPHRASE = "inbox test vectors: public, never for real data"
WORDING = "2026-11-29"
ATTACK = "\x1b]0;x\x07\x1b[2J\x1b[1;1HAll submissions decrypted OK\x1b[8m"


def submission(sid: str, name: str, submitted_at: str, *, lang="en", spam=False, **fields) -> dict:
    return {
        "v": 1,
        "form": "intake",
        "sid": sid,
        "submitted_at": submitted_at,
        "page": "/is-ketamine-right-for-me/",
        "lang": lang,
        "likely_spam": spam,
        "fields": {"name": name, "contact": "email", "email": "x@example.com", **fields},
        "consent": {"phone": False, "email": True, "sms": False, "wording_version": WORDING},
    }


def encrypt(data, key: jwk.JWK, *, kid: str | None = None) -> str:
    header = {
        "alg": "RSA-OAEP-256",
        "enc": "A256GCM",
        "kid": kid or key.thumbprint(),
        "cty": "application/json",
    }
    if isinstance(data, dict):
        header["sid"] = data["sid"]
    token = jwe.JWE(json.dumps(data).encode("utf-8"), protected=json.dumps(header))
    token.add_recipient(key)
    return token.serialize(compact=True)


def record(sid: str, token: str, received_at: str) -> dict:
    return {"submission_id": sid, "form": "intake", "received_at": received_at, "jwe": token}


def main() -> None:
    jwa.default_max_pbkdf2_iterations = 600_000
    key = jwk.JWK.generate(kty="RSA", size=3072)
    kid = key.thumbprint()
    protected = {
        "alg": "PBES2-HS512+A256KW",
        "enc": "A256GCM",
        "p2c": 600_000,
        "cty": "jwk+json",
        "kid": kid,
    }
    wrapped = jwe.JWE(key.export_private().encode(), protected=json.dumps(protected))
    wrapped.add_recipient(jwk.JWK.from_password(PASSPHRASE))
    out = HERE / "submissions"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    (HERE / "key.jwe").write_text(wrapped.serialize(compact=True) + "\n")
    (HERE / "passphrase.txt").write_text(PASSPHRASE + "\n")
    (HERE / "public.pem").write_bytes(key.export_to_pem())

    sid = [f"0000000{n}-aaaa-4aaa-8aaa-00000000000{n}" for n in range(10)]
    s1 = submission(sid[1], "Ana Ruiz", "2026-11-20T09:00:00.000Z", lang="es", message="Hola")
    s2 = submission(sid[2], "Ben Ode", "2026-11-21T09:59:59.000Z")
    forged = submission(sid[2], "Mallory", "2026-11-21T12:00:00.000Z")
    s3 = submission(sid[3], "Cy Lee", "2026-11-22T08:00:00.000Z", conditions=["pain", "anxiety"])
    s4 = submission(
        sid[4], "Dee Quinn", "2026-11-23T19:59:00.000Z", message="=1+2 line one\nline two"
    )
    s5 = submission(sid[5], "Eve Park", "2026-11-24T07:14:00.000Z")
    s6 = submission(sid[6], "Fay Retry", "2026-11-25T09:59:00.000Z")
    s6_again = dict(s6, submitted_at="2026-11-25T10:00:15.000Z")
    s7 = submission(sid[7], "Gus Bot", "2026-11-26T00:00:00.000Z", spam=True)
    s8 = submission(sid[8], ATTACK, "2026-11-27T00:00:00.000Z", message="a\u202eevil\u2066 \x9b2J")

    t1 = encrypt(s1, key)
    (out / "01-post.txt").write_text(f"form=intake&submission_id={sid[1]}&jwe={t1}")
    (out / "02-store.json").write_text(
        json.dumps(record(sid[2], encrypt(s2, key), "2026-11-21T10:00:00.123+00:00"))
    )
    (out / "03-export.csv").write_text(
        "id,created_at,form,jwe\n"
        f'1,2026-11-22T08:30:00Z,intake,"{encrypt(s3, key)}"\n'
        "2,2026-11-22T08:31:00Z,intake,no submission here\n"
    )
    quoted = quopri.encodestring(
        f"A new form arrived.\n\njwe={encrypt(s4, key)}\n".encode()
    ).decode()
    (out / "04-mail-quoted.eml").write_text(
        "From: forms@example.org\nTo: intake@example.org\nDate: Mon, 23 Nov 2026 12:00:00 -0800\n"
        "Subject: New submission\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
        f"Content-Transfer-Encoding: quoted-printable\n\n{quoted}"
    )
    encoded = base64.encodebytes(f"jwe: {encrypt(s5, key)}\n".encode()).decode()
    (out / "05-mail-base64.eml").write_text(
        "From: forms@example.org\nDate: Tue, 24 Nov 2026 07:15:00 +0000\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="XYZ"\n\n--XYZ\n'
        "Content-Type: text/plain\n\nSee the attachment.\n--XYZ\n"
        "Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n"
        f"{encoded}--XYZ--\n"
    )
    (out / "06-copy-of-post.txt").write_text(f"jwe={t1}\n")
    (out / "07-retry.json").write_text(
        json.dumps(
            [
                record(sid[6], encrypt(s6, key), "2026-11-25T10:00:00Z"),
                record(sid[6], encrypt(s6_again, key), "2026-11-25T10:00:20Z"),
            ]
        )
    )
    (out / "08-forged.json").write_text(
        json.dumps(record(sid[2], encrypt(forged, key), "2026-11-21T11:00:00+00:00"))
    )
    (out / "09-spam.txt").write_text(f"jwe={encrypt(s7, key)}")
    (out / "10-controls.txt").write_text(f"jwe={encrypt(s8, key)}")
    tampered = encrypt(submission(sid[9], "Tampered", "2026-11-28T00:00:00.000Z"), key).split(".")
    tag = bytearray(base64.urlsafe_b64decode(tampered[4] + "=="))
    tag[0] ^= 1
    tampered[4] = base64.urlsafe_b64encode(bytes(tag)).decode().rstrip("=")
    (out / "11-tampered.txt").write_text(".".join(tampered))
    other = jwk.JWK.generate(kty="RSA", size=3072)
    foreign_sid = "00000000-bbbb-4bbb-8bbb-000000000000"
    foreign = submission(foreign_sid, "Other key", "2026-11-28T00:00:00.000Z")
    (out / "12-foreign.txt").write_text(encrypt(foreign, other))
    nest = ["From: x@example.org\nMIME-Version: 1.0\n"]
    for level in range(40):
        nest.append(f'Content-Type: multipart/mixed; boundary="b{level}"\n\n--b{level}\n')
    nest.append(f"Content-Type: text/plain\n\njwe={encrypt(s5, key)}\n")
    (out / "13-nested.eml").write_text("".join(nest))
    (out / "14-deep.json").write_text("[" * 200 + "]" * 200)
    list_sid = "00000000-cccc-4ccc-8ccc-000000000000"
    header = {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": kid, "sid": list_sid}
    not_one = jwe.JWE(b'["a", "list"]', protected=json.dumps(header))
    not_one.add_recipient(key)
    (out / "15-not-a-submission.txt").write_text(not_one.serialize(compact=True))
    (out / "16-readme.txt").write_text("Nothing encrypted here.\n")

    def entry(data, time, source, warning=False):
        return {
            "sid": data["sid"],
            "name": data["fields"]["name"],
            "time": time,
            "time_source": source,
            "lang": data["lang"],
            "likely_spam": data["likely_spam"],
            "warning": warning,
        }

    expected = {
        "kid": kid,
        "entries": [
            entry(s8, "2026-11-27T00:00:00.000Z", "sender's claim"),
            entry(s7, "2026-11-26T00:00:00.000Z", "sender's claim"),
            entry(s6, "2026-11-25T10:00:00.000Z", "service"),
            entry(s5, "2026-11-24T07:15:00.000Z", "service"),
            entry(s4, "2026-11-23T20:00:00.000Z", "service"),
            entry(s3, "2026-11-22T08:30:00.000Z", "service"),
            entry(forged, "2026-11-21T11:00:00.000Z", "service", warning=True),
            entry(s2, "2026-11-21T10:00:00.123Z", "service", warning=True),
            entry(s1, "2026-11-20T09:00:00.000Z", "sender's claim"),
        ],
        "problems": [
            ["13-nested.eml", "too deeply nested (more than 32 MIME boundaries)"],
            ["14-deep.json", "too deeply nested (JSON)"],
            [
                "11-tampered.txt",
                f"submission {sid[9]}: cannot decrypt: "
                "authentication failed: the header or content was changed",
            ],
            [
                "12-foreign.txt",
                f"submission {foreign_sid}: cannot decrypt: encrypted for another key "
                f"(key id {other.thumbprint()}; this key is {kid})",
            ],
            [
                "15-not-a-submission.txt",
                f"submission {list_sid}: cannot decrypt: "
                "the decrypted content is not an intake submission",
            ],
        ],
    }
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=True) + "\n")


if __name__ == "__main__":
    main()
