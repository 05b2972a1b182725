"""`python -m receiver COMMAND`: run the service and look after its data.

    serve    run the HTTP service (uvicorn); migrates the schema on start
    migrate  create or migrate the schema, then exit
    user     set a staff user's password for /export (or --delete it)
    purge    delete exported rows older than a number of days; print what was kept and why

Settings come from RECEIVER_* environment variables (receiver/config.py, docs/receiver.md);
options given here take precedence.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
from pathlib import Path

from . import passwords
from .config import Settings, SettingsError, from_environment
from .store import SchemaError, Store, StoreUnavailable, iso, now

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _settings(options: argparse.Namespace, *, serving: bool) -> Settings:
    overrides = {"database_url": options.db}
    if serving:
        overrides.update(
            allowed_origins=tuple(options.origin) if options.origin else None,
            key_ids=tuple(options.key_id) if options.key_id else None,
        )
        if options.no_rate_limits:
            # For the benchmark only: it posts from one address far faster than any visitor.
            overrides.update(client_rate=1e9, global_rate=1e9)
    return from_environment(**overrides).checked(serving=serving)


def serve(options: argparse.Namespace) -> int:
    import uvicorn

    from .app import create_app

    settings = _settings(options, serving=True)
    uvicorn.run(
        create_app(settings),
        host=options.host,
        port=options.port,
        ssl_certfile=options.certfile,
        ssl_keyfile=options.keyfile,
        # Our own access log (app.AccessLog) leaves out client addresses; uvicorn's would not.
        access_log=False,
        log_config=None,
        server_header=False,
        # Client addresses come from RECEIVER_PROXY_HOPS, counted from the right.
        proxy_headers=False,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=10,
    )
    return 0


def migrate(options: argparse.Namespace) -> int:
    store = Store(_settings(options, serving=False).database_url)
    try:
        version = store.migrate()
    finally:
        store.close()
    print(f"schema version {version}: {store.describe()}")
    return 0


def _password(options: argparse.Namespace) -> str:
    if options.password_file:
        lines = Path(options.password_file).read_text(encoding="utf-8").splitlines()
        return lines[0] if lines else ""
    if not sys.stdin.isatty():
        raise SettingsError("no terminal to ask for the password: give --password-file PATH")
    first = getpass.getpass(f"New password for {options.name}: ")
    if getpass.getpass("The same password again: ") != first:
        raise SettingsError("the two passwords differ: nothing was changed")
    return first


def user(options: argparse.Namespace) -> int:
    name = passwords.check_name(options.name)
    store = Store(_settings(options, serving=False).database_url)
    try:
        store.migrate()
        if options.delete:
            if not store.delete_user(name):
                print(f"there is no staff user {name!r}", file=sys.stderr)
                return 1
            print(f"deleted staff user {name!r}")
            return 0
        store.set_password_hash(name, passwords.hash_password(_password(options)))
    finally:
        store.close()
    print(f"staff user {name!r} can now download /export (the password is stored as a hash only)")
    return 0


def purge(options: argparse.Namespace) -> int:
    settings = _settings(options, serving=False)
    days = options.older_than if options.older_than is not None else settings.retention_days
    if days is None:
        raise SettingsError("give --older-than DAYS, or set RECEIVER_RETENTION_DAYS")
    if days < 1:
        raise SettingsError("--older-than must be at least 1 day")
    store = Store(settings.database_url)
    try:
        store.migrate()
        report = store.purge(days, now())
    finally:
        store.close()
    cutoff = iso(report.cutoff)
    print(f"deleted {report.deleted} rows received before {cutoff} and included in an export")
    print(
        f"kept {report.kept_not_exported} rows received before {cutoff}: no export has "
        "included them yet (download an export first)"
    )
    print(f"kept {report.kept_recent} rows received since {cutoff}: younger than {days} days")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m receiver", description=__doc__.split("\n\n")[0])
    commands = top.add_subparsers(dest="command", required=True)

    def command(name: str, run, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--db", help="database URL (else RECEIVER_DATABASE_URL)")
        sub.set_defaults(run=run)
        return sub

    serving = command("serve", serve, "run the HTTP service")
    serving.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serving.add_argument(
        "--port", type=int, default=int(os.environ.get("PORT", "8788")), help="(else $PORT, 8788)"
    )
    serving.add_argument(
        "--origin", action="append", help="an allowed site origin (repeat; else the environment)"
    )
    serving.add_argument(
        "--key-id", action="append", help="an accepted key id (repeat; else the environment)"
    )
    serving.add_argument("--certfile", help="serve HTTPS with this certificate (PEM)")
    serving.add_argument("--keyfile", help="its private key, unless the certificate file has it")
    serving.add_argument(
        "--no-rate-limits", action="store_true", help="for benchmarks only: no rate limits"
    )
    command("migrate", migrate, "create or migrate the schema, then exit")
    staff = command("user", user, "set a staff user's password for /export")
    staff.add_argument("name")
    staff.add_argument("--password-file", help="read the password from this file's first line")
    staff.add_argument("--delete", action="store_true", help="delete the user instead")
    cleaning = command("purge", purge, "delete exported rows older than DAYS")
    cleaning.add_argument(
        "--older-than", type=int, metavar="DAYS", help="(else RECEIVER_RETENTION_DAYS)"
    )
    return top


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)
    options = parser().parse_args(argv)
    try:
        return options.run(options)
    except (SettingsError, passwords.CredentialError, SchemaError, OSError) as error:
        print(f"receiver: {error}", file=sys.stderr)
        return 2
    except StoreUnavailable as error:
        print(f"receiver: the database does not answer ({error})", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
