"""The form receiver (receiver/), run as it is deployed (`python -m receiver serve`, its own
process), over HTTPS on loopback, on SQLite and on a real PostgreSQL server.

Every test runs on both databases. The faults are real: the PostgreSQL server is stopped, the SQLite
file is locked by another process, the receiver is killed with SIGKILL.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime
import hashlib
import io
import json
import os
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
import uuid

import pytest
from conftest import RECEIVER_BACKENDS, RECEIVER_SITE, ROOT, fresh_database, operator_engine
from receiver_client import Client, fake_jwe, form_fields, real_jwe, submission
from receiver_process import ReceiverProcess
from sqlalchemy import insert, select

from receiver.store import LATEST, SchemaError, Store, iso, now, schema_versions, submissions
from receiver.wire import read_post

PASSWORD = "a staff password for tests only"
# The receiver under test sits behind one (pretend) proxy, so that each test can post from its own
# client address, and the log check can look for an address that only the header carried.
BEHIND_ONE_PROXY = {"RECEIVER_PROXY_HOPS": "1"}
NO_LIMITS = {"RECEIVER_CLIENT_RATE": "100000", "RECEIVER_GLOBAL_RATE": "100000"}


class Service:
    """One running receiver, its database (read directly, as an operator would) and a client."""

    def __init__(self, process: ReceiverProcess, url: str, client: Client, kind: str):
        self.process, self.database_url, self.client, self.kind = process, url, client, kind
        self.store = Store(url)
        self.engine = operator_engine(url)

    def rows(self, sid: str) -> list:
        with self.engine.connect() as connection:
            return connection.execute(
                select(submissions).where(submissions.c.submission_id == sid)
            ).all()

    def add_user(self, name: str = "frontdesk", password: str = PASSWORD) -> None:
        secret = self.process.log.parent / f"{uuid.uuid4()}.txt"
        secret.write_text(password + "\n")
        command = [sys.executable, "-m", "receiver", "user", name, "--db", self.database_url]
        result = subprocess.run(
            [*command, "--password-file", str(secret)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        secret.unlink()
        assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module", params=RECEIVER_BACKENDS)
def kind(request) -> str:
    return request.param


def start_service(kind, request, tmp_path_factory, certificate_authority, kid, environment):
    authority, certificate = certificate_authority
    folder = tmp_path_factory.mktemp(f"receiver-{kind}")
    url = fresh_database(kind, request, folder)
    process = ReceiverProcess(
        url,
        origins=[RECEIVER_SITE],
        key_ids=[kid],
        certfile=certificate,
        environment=environment,
        log=folder / "receiver.log",
    ).start()
    return Service(process, url, Client(process.url, authority, RECEIVER_SITE), kind)


@pytest.fixture(scope="module")
def service(kind, request, tmp_path_factory, certificate_authority, dev_key_id):
    running = start_service(
        kind,
        request,
        tmp_path_factory,
        certificate_authority,
        dev_key_id,
        {**BEHIND_ONE_PROXY, **NO_LIMITS},
    )
    yield running
    running.process.stop()
    running.store.close()
    running.engine.dispose()


@pytest.fixture
def own_service(kind, request, tmp_path_factory, certificate_authority, dev_key_id):
    """A receiver and database of the test's own (for tests that stop or kill things)."""
    running = start_service(
        kind, request, tmp_path_factory, certificate_authority, dev_key_id, NO_LIMITS
    )
    yield running
    running.process.stop()
    running.store.close()
    running.engine.dispose()


def new_post(kid: str, content: str = "c") -> dict[str, str]:
    sid = str(uuid.uuid4())
    return form_fields(sid, fake_jwe(sid, kid, content=content))


# ---------------------------------------------------------------- storing


def test_a_post_is_stored_as_ciphertext_only_and_answered_after_the_commit(service, dev_key_id):
    fields = new_post(dev_key_id)
    answer = service.client.post(fields, client="198.51.100.1")
    assert answer.status == 201, answer.body
    assert answer.json()["status"] == "stored"
    [row] = service.rows(fields["submission_id"])
    assert set(row._mapping) == {
        "id",
        "submission_id",
        "form",
        "kid",
        "received_at",
        "sha256",
        "jwe",
    }
    assert (row.form, row.kid, row.jwe) == ("intake", dev_key_id, fields["jwe"])
    assert row.sha256 == hashlib.sha256(fields["jwe"].encode()).hexdigest()
    assert iso(row.received_at) == answer.json()["received_at"]
    assert answer.headers["Access-Control-Allow-Origin"] == RECEIVER_SITE
    assert answer.headers["Cache-Control"] == "no-store"


def test_the_same_ciphertext_again_is_one_row_answered_2xx(service, dev_key_id):
    fields = new_post(dev_key_id)
    first = service.client.post(fields, client="198.51.100.2")
    again = service.client.post(fields, client="198.51.100.2")
    assert (first.status, again.status) == (201, 200)
    assert again.json() == {"status": "already stored", "received_at": first.json()["received_at"]}
    assert len(service.rows(fields["submission_id"])) == 1


def test_a_different_ciphertext_under_a_stored_id_is_kept_and_counted(service, dev_key_id):
    """A retry re-encrypts (new key and IV), and anyone can reuse an id seen on the wire: both
    ciphertexts are kept, and the export says the id has two versions."""
    fields = new_post(dev_key_id)
    other = dict(fields, jwe=fake_jwe(fields["submission_id"], dev_key_id, content="e"))
    assert service.client.post(fields, client="198.51.100.3").status == 201
    answer = service.client.post(other, client="198.51.100.3")
    assert (answer.status, answer.json()["status"]) == (201, "stored as another version")
    assert sorted(r.jwe for r in service.rows(fields["submission_id"])) == sorted(
        [fields["jwe"], other["jwe"]]
    )
    service.add_user("versions")
    exported = service.client.export("versions", PASSWORD, client="198.51.100.3").json()
    exported = exported["submissions"]
    mine = [r for r in exported if r["submission_id"] == fields["submission_id"]]
    assert [r["versions"] for r in mine] == [2, 2]


def test_fifty_parallel_posts_of_one_submission_make_one_row(service, dev_key_id):
    fields = new_post(dev_key_id)
    barrier = threading.Barrier(50)

    def post(number: int):
        barrier.wait()
        return service.client.post(fields, client=f"198.51.100.{100 + number}").status

    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        statuses = list(pool.map(post, range(50)))
    assert sorted(statuses) == [200] * 49 + [201]
    assert len(service.rows(fields["submission_id"])) == 1


# ---------------------------------------------------------------- refusals


def raw_exchange(service: Service, head: bytes, body: bytes) -> tuple[int, bytes]:
    """Send a request's head and at most `body` over TLS, then read the status line: a receiver
    that waited for a whole 10 MB body would never answer."""
    context = service.client.context
    with (
        socket.create_connection(("127.0.0.1", service.process.port), timeout=20) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(head)
        # The receiver may answer and close before all of it is sent.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, ssl.SSLError):
            tls.sendall(body)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = tls.recv(4096)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1]), answer


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_10_mb_body_is_refused_413_without_being_read(service, dev_key_id, framing):
    before = service.store.count()
    sid = str(uuid.uuid4())
    length = 10 * 1024 * 1024
    head = (
        "POST /submit HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Origin: {RECEIVER_SITE}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        "X-Forwarded-For: 198.51.100.4\r\n"
    )
    prefix = f"form=intake&submission_id={sid}&jwe=".encode()
    first = prefix + b"a" * (256 * 1024)
    if framing == "content-length":
        head += f"Content-Length: {length}\r\n\r\n"
        body = first
    else:
        head += "Transfer-Encoding: chunked\r\n\r\n"
        body = b"".join(
            b"%x\r\n%s\r\n" % (len(part), part) for part in (first[:65536], first[65536:])
        )
    status, _ = raw_exchange(service, head.encode(), body)
    assert status == 413
    assert service.store.count() == before


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("not a JWE", 400),
        ("JWE with an unreadable header", 400),
        ("another key id", 422),
        ("another algorithm", 422),
        ("a JWE for another submission", 422),
        ("a form this service does not take", 422),
        ("a malformed submission id", 400),
        ("an extra field (plaintext)", 400),
        ("a field twice", 400),
        ("a missing field", 400),
        ("not ASCII", 400),
    ],
)
def test_a_post_that_is_not_the_forms_is_refused_and_nothing_is_stored(
    service, dev_key_id, case, status
):
    sid = str(uuid.uuid4())
    fields = form_fields(sid, fake_jwe(sid, dev_key_id))
    body = None
    if case == "not a JWE":
        fields["jwe"] = "not-a-jwe"
    elif case == "JWE with an unreadable header":
        fields["jwe"] = "eyJub3Q." + fields["jwe"].split(".", 1)[1]
    elif case == "another key id":
        fields["jwe"] = fake_jwe(sid, "k" * 43)
    elif case == "another algorithm":
        fields["jwe"] = fake_jwe(sid, dev_key_id, alg="RSA1_5")
    elif case == "a JWE for another submission":
        fields["jwe"] = fake_jwe(str(uuid.uuid4()), dev_key_id)
    elif case == "a form this service does not take":
        fields["form"] = "newsletter"
    elif case == "a malformed submission id":
        fields["submission_id"] = "../../etc/passwd"
    elif case == "an extra field (plaintext)":
        fields["name"] = "Zoë"
    elif case == "a field twice":
        body = f"form=intake&form=intake&submission_id={sid}&jwe={fields['jwe']}"
    elif case == "a missing field":
        del fields["form"]
    elif case == "not ASCII":
        body = f"form=intake&submission_id={sid}&jwe={fields['jwe']}&x=é"
    before = service.store.count()
    if body is None:
        answer = service.client.post(fields, client="198.51.100.5")
    else:
        answer = service.client.request(
            "POST",
            "/submit",
            body.encode("utf-8"),
            {
                "Origin": RECEIVER_SITE,
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Forwarded-For": "198.51.100.5",
            },
        )
    assert answer.status == status, answer.body
    assert answer.json()["error"]
    assert answer.headers["Access-Control-Allow-Origin"] == RECEIVER_SITE  # the form can read it
    assert service.store.count() == before


def test_other_origins_and_content_types_are_refused(service, dev_key_id):
    before = service.store.count()
    fields = new_post(dev_key_id)
    for origin in ("https://elsewhere.example", None, "null"):
        answer = service.client.post(fields, origin=origin, client="198.51.100.6")
        assert answer.status == 403, origin
        assert "Access-Control-Allow-Origin" not in answer.headers
    for content_type in ("application/json", "text/plain", "multipart/form-data; boundary=x"):
        answer = service.client.post(fields, content_type=content_type, client="198.51.100.6")
        assert answer.status == 415, content_type
    assert service.client.request("GET", "/submit").status == 405
    assert service.client.request("GET", "/nothing-here").status == 404
    assert service.store.count() == before


def test_a_preflight_answers_only_the_sites_origin(service):
    asked = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Private-Network": "true",
    }
    allowed = service.client.request(
        "OPTIONS", "/submit", headers={"Origin": RECEIVER_SITE, **asked}
    )
    assert allowed.status == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == RECEIVER_SITE
    assert allowed.headers["Access-Control-Allow-Methods"] == "POST"
    assert allowed.headers["Access-Control-Allow-Private-Network"] == "true"
    assert "Access-Control-Allow-Credentials" not in allowed.headers
    other = service.client.request(
        "OPTIONS", "/submit", headers={"Origin": "https://elsewhere.example", **asked}
    )
    assert "Access-Control-Allow-Origin" not in other.headers
    assert "Access-Control-Allow-Private-Network" not in other.headers


# ---------------------------------------------------------------- rate limits


def test_rate_limits_answer_429_with_retry_after(
    kind, request, tmp_path_factory, certificate_authority, dev_key_id
):
    """3 posts a minute per address; 2 a second in all (burst 4): over either, 429 with the
    seconds to wait, and nothing stored; another address still gets through."""
    limited = start_service(
        kind,
        request,
        tmp_path_factory,
        certificate_authority,
        dev_key_id,
        {**BEHIND_ONE_PROXY, "RECEIVER_CLIENT_RATE": "3", "RECEIVER_GLOBAL_RATE": "2"},
    )
    try:
        post = limited.client.post
        assert [post(new_post(dev_key_id), client="203.0.113.1").status for _ in range(3)] == [
            201
        ] * 3
        refused = post(new_post(dev_key_id), client="203.0.113.1")
        assert refused.status == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 20
        assert refused.headers["Access-Control-Expose-Headers"] == "Retry-After"
        assert refused.headers["Access-Control-Allow-Origin"] == RECEIVER_SITE
        # The global bucket (burst 4) has one post left after the three above.
        assert post(new_post(dev_key_id), client="203.0.113.2").status == 201
        over = post(new_post(dev_key_id), client="203.0.113.3")
        assert over.status == 429 and int(over.headers["Retry-After"]) >= 1
        assert limited.store.count() == 4
    finally:
        limited.process.stop()
        limited.store.close()
        limited.engine.dispose()


# ---------------------------------------------------------------- faults


class Outage:
    """The database stops answering: PostgreSQL is stopped; the SQLite file is locked by another
    process's write transaction (SQLite has no server to stop)."""

    def __init__(self, service: Service, postgres):
        self.service, self.postgres = service, postgres
        self.holder: subprocess.Popen | None = None

    def begin(self) -> None:
        if self.service.kind == "postgresql":
            self.postgres.stop("fast")
            return
        path = self.service.database_url.removeprefix("sqlite:///")
        script = (
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
            "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); sys.stdin.read()"
        )
        self.holder = subprocess.Popen(
            [sys.executable, "-c", script, path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.holder.stdout.readline().strip() == "locked"

    def end(self) -> None:
        if self.service.kind == "postgresql":
            self.postgres.start()
            return
        self.holder.stdin.close()
        self.holder.wait(timeout=10)
        self.holder.stdout.close()


def test_a_database_outage_answers_503_quickly_and_a_retry_stores_once(
    own_service, request, dev_key_id
):
    postgres = request.getfixturevalue("postgres") if own_service.kind == "postgresql" else None
    client = own_service.client
    kid = dev_key_id
    before = new_post(kid)
    assert client.post(before).status == 201
    outage = Outage(own_service, postgres)
    outage.begin()
    try:
        during = new_post(kid)
        started = time.monotonic()
        answer = client.post(during)
        waited = time.monotonic() - started
        assert answer.status == 503, answer.body
        assert waited < 4.0, f"503 after {waited:.1f} s (the database timeout is 2 s)"
        assert int(answer.headers["Retry-After"]) > 0
        assert answer.headers["Access-Control-Allow-Origin"] == RECEIVER_SITE
        for path in ("/healthz", "/health"):
            health = client.request("GET", path)
            assert (health.status, health.json()) == (503, {"database": "unreachable"})
    finally:
        outage.end()
    assert client.request("GET", "/healthz").status == 200
    assert client.request("GET", "/health").json()["database"] == "reachable"
    assert client.post(during).status == 201
    assert client.post(during).status == 200
    assert len(own_service.rows(during["submission_id"])) == 1
    assert len(own_service.rows(before["submission_id"])) == 1


def test_the_receiver_starts_while_postgresql_is_down_and_catches_up(
    postgres, certificate_authority, dev_key_id
):
    """The schema is made on the first request that reaches the database, not only at start.
    (PostgreSQL only: a SQLite file has no server to be down.)"""
    url = postgres.create_database(f"receiver_late_{uuid.uuid4().hex[:8]}")
    authority, certificate = certificate_authority
    postgres.stop("fast")
    try:
        process = ReceiverProcess(
            url, origins=[RECEIVER_SITE], key_ids=[dev_key_id], certfile=certificate
        ).start()
    finally:
        postgres.start()
    try:
        client = Client(process.url, authority, RECEIVER_SITE)
        answer = client.post(new_post(dev_key_id))
        assert answer.status == 201, answer.body
        assert "does not answer yet" in process.log_text()
    finally:
        process.stop()


def test_a_killed_receiver_has_kept_every_post_it_answered_201(own_service, dev_key_id):
    """Posts stream in from eight clients; the receiver is killed (SIGKILL) mid-stream and
    started again. Every post answered 2xx is in the database; every post is then sent again
    until it is answered, and each ends as exactly one row."""
    client = own_service.client
    kid = dev_key_id
    answered: dict[str, dict] = {}
    unanswered: dict[str, dict] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def keep_posting():
        while not stop.is_set():
            fields = new_post(kid)
            try:
                status = client.post(fields, timeout=5).status
            except OSError:
                status = 0
            with lock:
                (answered if 200 <= status < 300 else unanswered)[fields["submission_id"]] = fields

    threads = [threading.Thread(target=keep_posting) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    own_service.process.kill()
    stop.set()  # the posts in flight at the kill end unanswered; no new ones start
    for thread in threads:
        thread.join()
    assert len(answered) >= 20, f"only {len(answered)} posts before the kill"
    assert unanswered, "no post was in flight at the kill"
    own_service.process.start()
    missing = [sid for sid in answered if len(own_service.rows(sid)) != 1]
    assert missing == [], f"{len(missing)} posts answered 2xx are not stored once"
    for fields in unanswered.values():
        assert client.post(fields).status in (200, 201)
    for sid in unanswered:
        assert len(own_service.rows(sid)) == 1
    assert own_service.store.count() == len(answered) + len(unanswered)


# ---------------------------------------------------------------- export, users, purge


EXPORTER = "198.51.100.9"


def test_the_export_needs_a_staff_user_and_records_what_it_included(service, dev_key_id):
    fields = new_post(dev_key_id)
    assert service.client.post(fields, client="198.51.100.7").status == 201
    service.add_user("records")
    anonymous = service.client.request("GET", "/export", headers={"X-Forwarded-For": EXPORTER})
    assert anonymous.status == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert service.client.export("records", "not the password", client=EXPORTER).status == 401
    assert service.client.export("nobody", PASSWORD, client=EXPORTER).status == 401
    answer = service.client.export("records", PASSWORD, client=EXPORTER)
    assert answer.status == 200
    assert answer.headers["Content-Disposition"].startswith('attachment; filename="intake-export-')
    document = answer.json()
    assert document["export"]["exported_by"] == "records"
    assert document["export"]["count"] == len(document["submissions"])
    record = next(
        r for r in document["submissions"] if r["submission_id"] == fields["submission_id"]
    )
    assert record["jwe"] == fields["jwe"] and record["received_at"].endswith("Z")
    included = service.store.exported_rows(document["export"]["id"])
    assert included == [r["sha256"] for r in document["submissions"]]
    later = service.client.export(
        "records", PASSWORD, f"?since={record['received_at']}", client=EXPORTER
    ).json()
    assert fields["submission_id"] in [r["submission_id"] for r in later["submissions"]]
    assert (
        service.client.export("records", PASSWORD, "?since=yesterday", client=EXPORTER).status
        == 400
    )


def test_invoke_decrypt_reads_the_export_as_it_is(service, dev_keypair, dev_key_id, tmp_path):
    """Real ciphertext (jwcrypto, the form's header) through the receiver, out in the export,
    decrypted by the staff tool with the service's receipt time."""
    from staff.decrypt import decrypt_paths

    sent = submission('Zoë "Q" O\'Brien')
    token = real_jwe(sent, dev_keypair / "public.pem", dev_key_id)
    stored = service.client.post(form_fields(sent["sid"], token), client="198.51.100.8")
    assert stored.status == 201
    service.add_user("decrypt")
    export = tmp_path / "export.json"
    export.write_bytes(service.client.export("decrypt", PASSWORD, client="198.51.100.8").body)
    out, err = io.StringIO(), io.StringIO()
    status = decrypt_paths(dev_keypair / "private.pem", [export], out=out, err=err)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    mine = [line for line in lines if line["submission"]["sid"] == sent["sid"]]
    assert len(mine) == 1, err.getvalue()
    assert mine[0]["submission"] == sent
    assert (mine[0]["time"], mine[0]["time_source"]) == (stored.json()["received_at"], "service")
    # The other rows of this module's database are shapes, not ciphertext: each is reported on
    # its own line, and only they.
    assert status != 0 or len(lines) == len(json.loads(export.read_text())["submissions"])


def test_a_staff_user_is_stored_as_an_argon2_hash_only(kind, request, tmp_path):
    url = fresh_database(kind, request, tmp_path)
    secret = tmp_path / "password.txt"
    secret.write_text(PASSWORD + "\n")
    command = [sys.executable, "-m", "receiver", "user", "frontdesk", "--db", url]

    def run(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*command, *extra], cwd=ROOT, capture_output=True, text=True, timeout=60
        )

    assert run("--password-file", str(secret)).returncode == 0
    if kind == "sqlite":
        # Read before this process opens the database: closing another descriptor of a file
        # SQLite has open drops SQLite's POSIX locks on it.
        raw = b"".join(p.read_bytes() for p in tmp_path.glob("*.sqlite3*"))
        assert PASSWORD.encode() not in raw
    store = Store(url)
    try:
        stored = store.password_hash("frontdesk")
        assert stored.startswith("$argon2id$") and PASSWORD not in stored
        short = tmp_path / "short.txt"
        short.write_text("short\n")
        refused = run("--password-file", str(short))
        assert refused.returncode == 2 and "too short" in refused.stderr
        assert run("--delete").returncode == 0
        assert store.password_hash("frontdesk") is None
        assert run("--delete").returncode == 1
    finally:
        store.close()


def test_purge_deletes_only_exported_rows_older_than_the_limit(kind, request, tmp_path, dev_key_id):
    """Rows 40 days old, some exported, some not, and rows from today: `purge --older-than 30`
    deletes only the old exported ones and says what it kept and why."""
    url = fresh_database(kind, request, tmp_path)
    store = Store(url)
    try:
        store.migrate()
        old = now() - datetime.timedelta(days=40)

        def save(at):
            fields = new_post(dev_key_id)
            body = "&".join(f"{k}={v}" for k, v in fields.items()).encode()
            store.save(read_post(body, forms=("intake",), key_ids=(dev_key_id,)), at)

        for _ in range(3):
            save(old)
        store.export("frontdesk", now())  # includes the three old rows
        for _ in range(2):
            save(old)  # old, never exported
        save(now())  # recent, never exported
        store.export("frontdesk", now(), since=now() - datetime.timedelta(hours=1))
        purge = [sys.executable, "-m", "receiver", "purge", "--db", url]
        result = subprocess.run(
            [*purge, "--older-than", "30"], cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        assert "deleted 3 rows" in result.stdout
        assert "kept 2 rows" in result.stdout and "no export has included them" in result.stdout
        assert "kept 1 rows received since" in result.stdout
        assert store.count() == 3
        unset = subprocess.run(purge, cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert unset.returncode == 2 and "RECEIVER_RETENTION_DAYS" in unset.stderr
        with_setting = subprocess.run(
            purge,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "RECEIVER_RETENTION_DAYS": "30"},
        )
        assert with_setting.returncode == 0 and "deleted 0 rows" in with_setting.stdout
    finally:
        store.close()


# ---------------------------------------------------------------- schema and logs


def test_the_schema_is_made_once_and_a_newer_one_is_refused(kind, request, tmp_path):
    url = fresh_database(kind, request, tmp_path)
    store = Store(url)
    try:
        assert store.migrate() == LATEST
        assert store.migrate() == LATEST  # again: nothing to do
        with store.engine.begin() as connection:
            connection.execute(insert(schema_versions).values(version=LATEST + 1, applied_at=now()))
        with pytest.raises(SchemaError, match="deploy the newer receiver"):
            store.migrate()
    finally:
        store.close()
    started = subprocess.run(
        [sys.executable, "-m", "receiver", "migrate", "--db", url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 2 and "newer than this receiver" in started.stderr


def test_the_log_has_method_path_status_latency_and_nothing_of_a_post(service, dev_key_id):
    fields = new_post(dev_key_id)
    assert service.client.post(fields, client="192.0.2.77").status == 201
    assert service.client.post(new_post("k" * 43), client="192.0.2.77").status == 422
    time.sleep(0.2)
    log = service.process.log_text()
    assert "POST /submit 201 " in log and "POST /submit 422 " in log
    for secret in (fields["submission_id"], fields["jwe"][:40], "192.0.2.77", "a" * 64):
        assert secret not in log, secret


def test_settings_that_cannot_work_stop_the_start_with_one_line(tmp_path):
    command = [sys.executable, "-m", "receiver", "serve", "--db", f"sqlite:///{tmp_path}/x.db"]

    def run(*extra: str, environ=None) -> subprocess.CompletedProcess:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("RECEIVER_")}
        return subprocess.run(
            [*command, *extra],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env={**clean, **(environ or {})},
        )

    no_origin = run("--key-id", "k" * 43)
    assert no_origin.returncode == 2 and "RECEIVER_ALLOWED_ORIGINS is empty" in no_origin.stderr
    plain_http = run("--key-id", "k" * 43, "--origin", "http://www.example.org")
    assert plain_http.returncode == 2 and "not an https:// origin" in plain_http.stderr
    no_key = run("--origin", "https://www.example.org")
    assert no_key.returncode == 2 and "RECEIVER_KEY_IDS is empty" in no_key.stderr
    bad_rate = run(
        "--origin",
        "https://www.example.org",
        "--key-id",
        "k" * 43,
        environ={"RECEIVER_CLIENT_RATE": "lots"},
    )
    assert bad_rate.returncode == 2 and "RECEIVER_CLIENT_RATE" in bad_rate.stderr


def test_the_sqlite_file_is_readable_by_its_owner_only(tmp_path):
    store = Store(f"sqlite:///{tmp_path}/private/receiver.sqlite3")
    try:
        store.migrate()
    finally:
        store.close()
    assert (tmp_path / "private").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "private" / "receiver.sqlite3").stat().st_mode & 0o777 == 0o600
    assert sqlite3.connect(tmp_path / "private" / "receiver.sqlite3").execute(
        "PRAGMA journal_mode"
    ).fetchone() == ("wal",)
