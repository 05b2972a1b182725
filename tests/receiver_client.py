"""Talking to a running receiver as the form and the staff do: posts over HTTPS (trusting the
test CA), real JWEs made with jwcrypto for the clinic's public key, and the export."""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from jwcrypto import jwe, jwk

FORM_TYPE = "application/x-www-form-urlencoded"


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage  # case-insensitive, as HTTP header names are
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def fake_jwe(sid: str, kid: str, *, alg: str = "RSA-OAEP-256", content: str = "c") -> str:
    """A compact JWE's shape with the form's header: the receiver cannot tell it from a real one
    (it never decrypts). `content` varies the ciphertext."""
    header = b64url(json.dumps({"alg": alg, "enc": "A256GCM", "kid": kid, "sid": sid}).encode())
    return ".".join([header, "a" * 512, "b" * 16, content * 40, "d" * 22])


def submission(name: str = "Zoë", sid: str | None = None) -> dict:
    """A submission as intake.js builds it."""
    return {
        "v": 1,
        "form": "intake",
        "sid": sid or str(uuid.uuid4()),
        "submitted_at": "2026-12-01T10:00:00.000Z",
        "page": "/is-ketamine-right-for-me/",
        "lang": "en",
        "likely_spam": False,
        "fields": {"name": name, "contact": "email", "email": "zoe@example.com"},
        "consent": {"phone": False, "email": True, "sms": False, "wording_version": "2026-11-30"},
    }


def real_jwe(data: dict, public_pem: Path, kid: str) -> str:
    """`data` encrypted as intake.js does (RSA-OAEP-256, A256GCM, its header), by jwcrypto."""
    header = {
        "alg": "RSA-OAEP-256",
        "enc": "A256GCM",
        "kid": kid,
        "cty": "application/json",
        "sid": data["sid"],
    }
    token = jwe.JWE(json.dumps(data).encode("utf-8"), protected=json.dumps(header))
    token.add_recipient(jwk.JWK.from_pem(public_pem.read_bytes()))
    return token.serialize(compact=True)


def form_fields(sid: str, token: str, form: str = "intake") -> dict[str, str]:
    return {"form": form, "submission_id": sid, "jwe": token}


class Client:
    """HTTPS requests to one receiver, trusting the test CA."""

    def __init__(self, base_url: str, authority, origin: str):
        self.base = urlsplit(base_url)
        self.origin = origin
        self.context = ssl.create_default_context()
        authority.configure_trust(self.context)

    def connection(self, timeout: float = 20) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(
            self.base.hostname, self.base.port, context=self.context, timeout=timeout
        )

    def request(self, method: str, path: str, body=None, headers=None, timeout=20) -> Answer:
        connection = self.connection(timeout)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return Answer(response.status, response.msg, response.read())
        finally:
            connection.close()

    def post(
        self,
        fields: dict[str, str],
        *,
        origin: str | None = "",
        content_type: str = FORM_TYPE,
        client: str | None = None,
        timeout: float = 20,
    ) -> Answer:
        """POST /submit as the form does. `origin=None` sends no Origin; `client` is the address
        a proxy in front would report (X-Forwarded-For)."""
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        if origin is not None:
            headers["Origin"] = origin or self.origin
        if client:
            headers["X-Forwarded-For"] = client
        return self.request("POST", "/submit", urlencode(fields).encode(), headers, timeout)

    def export(self, user: str, password: str, query: str = "", client: str = "") -> Answer:
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        headers = {"Authorization": f"Basic {token}"}
        if client:
            headers["X-Forwarded-For"] = client
        return self.request("GET", "/export" + query, headers=headers)
