"""Where submissions are kept: SQLAlchemy Core on SQLite (one machine) or PostgreSQL (production).

Each row holds only what arrived: the ciphertext (JWE), its SHA-256, the submission id, the form
name, the key id and the receipt time. The database itself enforces "one copy of each ciphertext"
with a unique constraint on (submission_id, sha256), so the same post sent twice is stored once
however many containers take it at the same moment, and a *different* ciphertext under an id
already stored is a row of its own: it is counted as another version in the export, never dropped.

The schema is created or migrated when the service starts (`migrate`): a table `receiver_schema`
records the versions applied; each version's DDL runs in one transaction, under an advisory lock
on PostgreSQL, so many containers may start at once. To change the schema, add MIGRATIONS[n + 1]
with its own DDL; never edit an applied migration.

Every call here is synchronous and meant to run in a worker thread with a deadline (app.py); the
driver's own timeouts (SQLite's busy timeout, PostgreSQL's connect and statement timeouts) make a
stuck call give up soon after.
"""

from __future__ import annotations

import datetime
import hashlib
import math
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    create_engine,
    delete,
    event,
    exists,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from .wire import Post

UTC = datetime.UTC
# Connections a process keeps open: one for each worker thread the service runs database work in
# (app.py), so that no post waits for a connection to be opened under load.
POOL_SIZE = 8
# Any fixed number: the key of the PostgreSQL advisory lock held while migrating.
MIGRATION_LOCK = 7_316_402_918
ROW_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite's rowid alias must be INTEGER

metadata = MetaData()
schema_versions = Table(
    "receiver_schema",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)
submissions = Table(
    "submissions",
    metadata,
    Column("id", ROW_ID, primary_key=True, autoincrement=True),
    Column("submission_id", String(64), nullable=False),
    Column("form", String(40), nullable=False),
    Column("kid", String(128), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("jwe", Text, nullable=False),
    UniqueConstraint("submission_id", "sha256", name="submissions_one_copy_each"),
)
Index("submissions_by_received_at", submissions.c.received_at)
exports = Table(
    "exports",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("exported_at", DateTime(timezone=True), nullable=False),
    Column("exported_by", String(64), nullable=False),
    Column("row_count", Integer, nullable=False),
)
# Which rows each export included: `purge` deletes only rows that appear here.
export_rows = Table(
    "export_rows",
    metadata,
    Column("export_id", String(36), ForeignKey("exports.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "submission_row",
        ROW_ID,
        ForeignKey("submissions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
)
Index("export_rows_by_submission", export_rows.c.submission_row)
staff_users = Table(
    "staff_users",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("password_hash", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


def _migration_1(connection: Connection) -> None:
    """The first schema: submissions, exports and the rows each included, staff users."""
    metadata.create_all(connection, tables=[submissions, exports, export_rows, staff_users])


MIGRATIONS = {1: _migration_1}
LATEST = max(MIGRATIONS)


def _insert_submission(dialect_insert):
    """INSERT … ON CONFLICT (submission_id, sha256) DO NOTHING RETURNING id, with bound values
    named like the columns. Built once: building statements per post cost more than running them."""
    columns = ("submission_id", "form", "kid", "received_at", "sha256", "jwe")
    return (
        dialect_insert(submissions)
        .values({name: bindparam(name) for name in columns})
        .on_conflict_do_nothing(index_elements=["submission_id", "sha256"])
        .returning(submissions.c.id)
    )


_SAME_ID = submissions.c.submission_id == bindparam("submission_id")
_VERSIONS = select(func.count()).select_from(submissions).where(_SAME_ID)
_EARLIER = select(submissions.c.received_at).where(
    _SAME_ID, submissions.c.sha256 == bindparam("sha256")
)
_INSERT_SQLITE = _insert_submission(sqlite.insert)
_INSERTED = _insert_submission(postgresql.insert).cte("inserted")
# PostgreSQL: the insert and the count of rows stored before under the id, in one statement.
_SAVE_POSTGRESQL = select(select(_INSERTED.c.id).scalar_subquery(), _VERSIONS.scalar_subquery())


class StoreUnavailable(RuntimeError):
    """The database did not answer, or refused, in time: nothing was committed by this call."""


class SchemaError(RuntimeError):
    """The database holds a newer schema than this receiver knows: deploy the newer receiver."""


@dataclass(frozen=True)
class Stored:
    """What `save` did: "stored", "stored as another version" (a different ciphertext under an id
    already stored) or "already stored" (this very ciphertext, stored before, at received_at)."""

    outcome: str
    received_at: datetime.datetime


@dataclass(frozen=True)
class PurgeReport:
    cutoff: datetime.datetime
    deleted: int
    kept_not_exported: int
    kept_recent: int


def now() -> datetime.datetime:
    """The current UTC time to the millisecond (what the receipt shows is what is stored)."""
    moment = datetime.datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def iso(moment: datetime.datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SS.mmmZ`: the form of `received_at` the staff tools read."""
    utc = as_utc(moment)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def as_utc(moment: datetime.datetime) -> datetime.datetime:
    # SQLite keeps times without a zone; every time stored here is UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def make_engine(url: str, timeout: float) -> Engine:
    """An engine for sqlite:///PATH or postgresql://…, with every wait bounded by `timeout`."""
    parsed = make_url(url)
    milliseconds = int(timeout * 1000)
    if parsed.get_backend_name() == "sqlite":
        _prepare_sqlite_file(parsed.database)
        engine = create_engine(
            parsed.set(drivername="sqlite+pysqlite"),
            connect_args={"timeout": timeout, "check_same_thread": False},
            pool_size=POOL_SIZE,
            max_overflow=0,
            pool_timeout=timeout,
        )
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    options = (
        f"-c statement_timeout={milliseconds} -c lock_timeout={milliseconds} "
        f"-c idle_in_transaction_session_timeout={10 * milliseconds} -c TimeZone=UTC"
    )
    return create_engine(
        parsed.set(drivername="postgresql+psycopg"),
        connect_args={
            "connect_timeout": max(2, math.ceil(timeout)),  # libpq's smallest
            "options": options,
            "application_name": "intake-receiver",
        },
        pool_size=POOL_SIZE,
        max_overflow=0,
        pool_timeout=timeout,
        # No pre-ping (a round trip before every post): a connection the server dropped (a
        # restart) fails once and the work is tried again on a new one (Store._run).
    )


def _prepare_sqlite_file(database: str | None) -> None:
    if not database or database == ":memory:":
        raise ValueError("the receiver needs a SQLite file, not an in-memory database")
    path = Path(database)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Created by us, so only this user reads it (SQLite gives its -wal and -shm files the same mode).
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))


def _sqlite_on_connect(dbapi_connection, _record) -> None:
    # pysqlite's own transaction handling does not wrap DDL: turn it off and BEGIN ourselves.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers work beside the writer; FULL syncs each commit, so a 201 survives a crash
    # of the machine, not only of the process.
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_on_begin(connection: Connection) -> None:
    # Take the write lock at once: two writers then queue on the busy timeout instead of one
    # failing half way with "database is locked".
    connection.exec_driver_sql("BEGIN IMMEDIATE")


class Store:
    """The receiver's database: submissions, exports and staff users."""

    def __init__(self, url: str, timeout: float = 2.0):
        self.url = url
        self.engine = make_engine(url, timeout)
        self.dialect = self.engine.dialect.name
        self.autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert

    def describe(self) -> str:
        """The database URL without its password, for log lines."""
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------ schema

    def migrate(self) -> int:
        """Create or bring the schema up to LATEST; returns the version now in place."""

        def upgrade(connection: Connection) -> None:
            if self.dialect == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
                )
            schema_versions.create(connection, checkfirst=True)
            current = connection.execute(select(func.max(schema_versions.c.version))).scalar()
            current = current or 0
            if current > LATEST:
                raise SchemaError(
                    f"the database's schema is version {current}, newer than this receiver's "
                    f"{LATEST}: deploy the newer receiver"
                )
            for version in range(current + 1, LATEST + 1):
                MIGRATIONS[version](connection)
                connection.execute(
                    insert(schema_versions).values(version=version, applied_at=now())
                )

        self._run(upgrade)
        return LATEST

    def ping(self) -> None:
        def select_one(connection: Connection) -> None:
            connection.execute(text("SELECT 1"))

        self._run(select_one, autocommit=True)

    # ------------------------------------------------------------ submissions

    def save(self, post: Post, received_at: datetime.datetime) -> Stored:
        """Store one post; returns once the row is committed (StoreUnavailable otherwise)."""
        values = {
            "submission_id": post.submission_id,
            "form": post.form,
            "kid": post.kid,
            "received_at": received_at,
            "sha256": hashlib.sha256(post.jwe.encode("ascii")).hexdigest(),
            "jwe": post.jwe,
        }
        if self.dialect == "postgresql":
            # One statement, committed on its own (autocommit): the insert and, in the same
            # snapshot, the rows already stored under this id. The commit is done, and synced,
            # before PostgreSQL answers: one round trip a post.
            def store(connection: Connection) -> tuple[bool, int, datetime.datetime | None]:
                new_id, before = connection.execute(_SAVE_POSTGRESQL, values).one()
                if new_id is None:
                    return False, before, connection.execute(_EARLIER, values).scalar_one()
                return True, before + 1, None

            stored, versions, first = self._run(store, autocommit=True)
        else:

            def store(connection: Connection) -> tuple[bool, int, datetime.datetime | None]:
                stored = connection.execute(_INSERT_SQLITE, values).first() is not None
                first = None if stored else connection.execute(_EARLIER, values).scalar_one()
                return stored, connection.execute(_VERSIONS, values).scalar_one(), first

            stored, versions, first = self._run(store)
        if not stored:
            return Stored("already stored", as_utc(first))
        return Stored("stored" if versions == 1 else "stored as another version", received_at)

    def _run(self, work, *, autocommit: bool = False):
        """`work(connection)` in one transaction (or, with `autocommit`, each statement committed
        on its own), tried once more on a new connection when the database had dropped the first
        (a restart of the server). Everything here is safe to repeat: a post's insert is idempotent
        by its unique constraint, and at worst (a commit whose answer was lost) an export is
        recorded twice. Any database error: StoreUnavailable, and the caller answers 503, never
        2xx."""
        engine = self.autocommit if autocommit else self.engine
        for attempt in (1, 2):
            try:
                with engine.connect() as connection:
                    result = work(connection)
                    if not autocommit:
                        connection.commit()
                    return result
            except DBAPIError as error:
                if attempt == 2 or not error.connection_invalidated:
                    raise StoreUnavailable(type(error).__name__) from error
            except SQLAlchemyError as error:
                raise StoreUnavailable(type(error).__name__) from error
        raise AssertionError("unreachable")

    def count(self) -> int:
        return self._run(
            lambda connection: connection.execute(
                select(func.count()).select_from(submissions)
            ).scalar_one()
        )

    def export(
        self, user: str, exported_at: datetime.datetime, since: datetime.datetime | None = None
    ) -> dict:
        """Every stored row (received at `since` or later), recorded as included in a new export.

        The document is what the staff inbox and `invoke decrypt` open: each record's
        `received_at` is the service's receipt time; `versions` counts the different ciphertexts
        stored under its submission_id (more than one: the staff tools show each and warn).
        """
        versions = (
            select(submissions.c.submission_id, func.count().label("versions"))
            .group_by(submissions.c.submission_id)
            .subquery()
        )
        query = (
            select(submissions, versions.c.versions)
            .join(versions, versions.c.submission_id == submissions.c.submission_id)
            .order_by(submissions.c.id)
        )
        if since is not None:
            query = query.where(submissions.c.received_at >= since)
        export_id = str(uuid.uuid4())

        def record(connection: Connection) -> list:
            rows = connection.execute(query).all()
            connection.execute(
                insert(exports).values(
                    id=export_id,
                    exported_at=exported_at,
                    exported_by=user,
                    row_count=len(rows),
                )
            )
            if rows:
                connection.execute(
                    insert(export_rows),
                    [{"export_id": export_id, "submission_row": row.id} for row in rows],
                )
            return rows

        rows = self._run(record)
        return {
            "export": {
                "id": export_id,
                "exported_at": iso(exported_at),
                "exported_by": user,
                "count": len(rows),
            },
            "submissions": [
                {
                    "received_at": iso(row.received_at),
                    "submission_id": row.submission_id,
                    "form": row.form,
                    "kid": row.kid,
                    "sha256": row.sha256,
                    "versions": row.versions,
                    "jwe": row.jwe,
                }
                for row in rows
            ],
        }

    def exported_rows(self, export_id: str) -> list[str]:
        """The sha256 of each row an export included (for the tests and for audits)."""
        query = (
            select(submissions.c.sha256)
            .join(export_rows, export_rows.c.submission_row == submissions.c.id)
            .where(export_rows.c.export_id == export_id)
            .order_by(submissions.c.id)
        )
        return self._run(lambda connection: list(connection.execute(query).scalars()))

    def purge(self, older_than_days: int, at: datetime.datetime) -> PurgeReport:
        """Delete the rows received more than `older_than_days` before `at` that some export
        included. A row no export included is kept, however old: no one has read it yet."""
        if older_than_days < 1:
            raise ValueError("older_than_days must be at least 1")
        cutoff = at - datetime.timedelta(days=older_than_days)
        old = submissions.c.received_at < cutoff
        exported = exists().where(export_rows.c.submission_row == submissions.c.id)

        def delete_exported(connection: Connection) -> PurgeReport:
            # Their export_rows go with them (ON DELETE CASCADE).
            deleted = connection.execute(delete(submissions).where(old, exported)).rowcount
            kept_not_exported = connection.execute(
                select(func.count()).select_from(submissions).where(old)
            ).scalar_one()
            kept_recent = connection.execute(
                select(func.count()).select_from(submissions).where(~old)
            ).scalar_one()
            return PurgeReport(cutoff, deleted, kept_not_exported, kept_recent)

        return self._run(delete_exported)

    # ------------------------------------------------------------ staff users

    def set_password_hash(self, name: str, password_hash: str) -> None:
        values = {"name": name, "password_hash": password_hash, "updated_at": now()}
        statement = (
            self._insert(staff_users)
            .values(**values)
            .on_conflict_do_update(
                index_elements=["name"],
                set_={"password_hash": password_hash, "updated_at": values["updated_at"]},
            )
        )
        self._run(lambda connection: connection.execute(statement))

    def password_hash(self, name: str) -> str | None:
        query = select(staff_users.c.password_hash).where(staff_users.c.name == name)
        return self._run(lambda connection: connection.execute(query).scalar())

    def delete_user(self, name: str) -> bool:
        statement = delete(staff_users).where(staff_users.c.name == name)
        return self._run(lambda connection: connection.execute(statement).rowcount > 0)
