"""The local form receiver over HTTPS on loopback (a trustme certificate): CORS, de-duplication of
identical posts, every different ciphertext kept (never one dropped silently), ciphertext-only
storage, and refusal of anything that is not the form's post."""

from __future__ import annotations

import http.client
import json
import ssl
import stat
import uuid
from urllib.parse import urlencode, urlsplit

import pytest
import trustme
from intake_form import staff
from intake_form.receiver import make_receiver, start_receiver


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def receiver(tmp_path, ca):
    """An HTTPS receiver on a free loopback port, stopped after the test."""
    cert = tmp_path / "cert.pem"
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(cert))
    server = start_receiver("127.0.0.1", 0, tmp_path / "store", certfile=cert, record=True)
    yield server
    server.shutdown()
    server.server_close()


def request(server, ca, method: str, body: bytes | None = None, headers: dict | None = None):
    context = ssl.create_default_context()
    ca.configure_trust(context)
    url = urlsplit(server.url)
    connection = http.client.HTTPSConnection(url.hostname, url.port, context=context, timeout=10)
    try:
        connection.request(method, url.path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def fake_jwe(sid: str, alg: str = "RSA-OAEP-256", content: str = "c") -> str:
    header = staff.b64url(
        json.dumps({"alg": alg, "enc": "A256GCM", "kid": "k", "sid": sid}).encode()
    )
    return ".".join([header, "a" * 512, "b" * 16, content * 40, "d" * 22])


def post(server, ca, fields: dict, content_type="application/x-www-form-urlencoded"):
    headers = {"Content-Type": content_type, "Origin": "http://127.0.0.1:8000"}
    return request(server, ca, "POST", urlencode(fields).encode(), headers)


def form_fields(sid: str | None = None) -> dict:
    sid = sid or str(uuid.uuid4())
    return {"form": "intake", "submission_id": sid, "jwe": fake_jwe(sid)}


def test_preflight_and_post_carry_cors_without_credentials(receiver, ca):
    status, headers, _ = request(
        receiver,
        ca,
        "OPTIONS",
        headers={
            "Origin": "http://127.0.0.1:8000",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Private-Network": "true",
        },
    )
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert headers["Access-Control-Allow-Private-Network"] == "true"
    status, headers, _ = post(receiver, ca, form_fields())
    assert status == 201
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in headers


def test_stores_only_the_ciphertext_once_per_submission_id(receiver, ca):
    fields = form_fields()
    assert post(receiver, ca, fields)[0] == 201
    assert post(receiver, ca, fields)[0] == 409
    stored = receiver.stored()
    assert len(stored) == 1
    assert set(stored[0]) == {"submission_id", "form", "received_at", "jwe"}
    assert stored[0]["jwe"] == fields["jwe"]
    files = list(receiver.store_dir.iterdir())
    assert [f.name for f in files] == [f"{fields['submission_id']}.json"]
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600


def test_a_different_ciphertext_under_a_stored_id_is_kept_too(receiver, ca):
    """A retry whose first post arrived re-encrypts (a new key and IV), and a forger can reuse an
    id seen on the wire: the receiver cannot tell them apart, so it keeps both; the staff tools
    show copies of the same content once and warn about different contents."""
    fields = form_fields()
    assert post(receiver, ca, fields)[0] == 201
    other = dict(fields, jwe=fake_jwe(fields["submission_id"], content="e"))
    status, _, body = post(receiver, ca, other)
    assert (status, json.loads(body)) == (201, {"status": "stored as another version"})
    assert post(receiver, ca, other)[0] == 409  # that very ciphertext again
    assert sorted(r["jwe"] for r in receiver.stored()) == sorted([fields["jwe"], other["jwe"]])
    names = sorted(p.name for p in receiver.store_dir.iterdir())
    assert names == [f"{fields['submission_id']}.2.json", f"{fields['submission_id']}.json"]
    for number in range(3, 11):
        version = dict(fields, jwe=fake_jwe(fields["submission_id"], content=f"{number % 10}"))
        assert post(receiver, ca, version)[0] == 201
    status, _, body = post(
        receiver, ca, dict(fields, jwe=fake_jwe(fields["submission_id"], "RSA-OAEP-256", "z"))
    )
    assert status == 429 and len(receiver.stored()) == 10


def test_fail_next_answers_503_then_stores(receiver, ca):
    receiver.fail_next = 1
    fields = form_fields()
    status, headers, _ = post(receiver, ca, fields)
    assert status == 503 and headers["Access-Control-Allow-Origin"] == "*"
    assert receiver.stored() == []
    assert post(receiver, ca, fields)[0] == 201


@pytest.mark.parametrize(
    ("change", "status"),
    [
        (lambda f: f.update(jwe="not a jwe"), 400),
        (lambda f: f.update(jwe=fake_jwe(f["submission_id"], alg="RSA1_5")), 400),
        (lambda f: f.update(jwe=fake_jwe(str(uuid.uuid4()))), 400),  # the JWE is for another id
        (lambda f: f.update(submission_id="../../etc/passwd"), 400),
        (lambda f: f.update(name="Zoë"), 400),  # only the three fields, never plaintext
        (lambda f: f.pop("form"), 400),
    ],
    ids=["not-jwe", "other-alg", "other-sid", "path-id", "extra-field", "no-form"],
)
def test_refuses_anything_but_the_forms_post(receiver, ca, change, status):
    fields = form_fields()
    change(fields)
    assert post(receiver, ca, fields)[0] == status
    assert receiver.stored() == []


def test_refuses_other_content_types_and_paths(receiver, ca):
    fields = form_fields()
    assert post(receiver, ca, fields, content_type="application/json")[0] == 415
    garbled = request(
        receiver, ca, "POST", b"x", {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert garbled[0] == 400
    assert request(receiver, ca, "GET")[0] == 404
    assert receiver.stored() == []


def test_listens_on_loopback_only(tmp_path):
    with pytest.raises(ValueError, match="loopback only"):
        make_receiver("0.0.0.0", 0, tmp_path)


def test_with_named_origins_other_sites_cannot_post(tmp_path, ca):
    """A simple cross-origin post is processed before CORS hides the answer, so the receiver itself
    refuses origins it was not given (any site open in the browser could fill the store)."""
    cert = tmp_path / "cert.pem"
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(cert))
    site = "http://127.0.0.1:8000"
    server = start_receiver(
        "127.0.0.1", 0, tmp_path / "store", certfile=cert, allowed_origins=(site,)
    )
    try:
        fields = urlencode(form_fields()).encode()
        form_type = {"Content-Type": "application/x-www-form-urlencoded"}
        status, headers, _ = request(server, ca, "POST", fields, {**form_type, "Origin": site})
        assert status == 201 and headers["Access-Control-Allow-Origin"] == site
        for other in ({"Origin": "https://elsewhere.example"}, {}):
            status, headers, _ = request(server, ca, "POST", fields, {**form_type, **other})
            assert status == 403 and "Access-Control-Allow-Origin" not in headers
        preflight = {
            "Origin": "https://elsewhere.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Private-Network": "true",
        }
        status, headers, _ = request(server, ca, "OPTIONS", headers=preflight)
        assert "Access-Control-Allow-Origin" not in headers
        assert "Access-Control-Allow-Private-Network" not in headers
        assert len(server.stored()) == 1
    finally:
        server.shutdown()
        server.server_close()
