"""A test of one data migration runs on a database of its own.

The database starts empty and is migrated forward only as far as the
migration's starting point (the few apps that point depends on); the test
writes its rows there and takes it over the migration; then the database is
dropped. Taking the suite's own database back to before the migration and
forward again rendered every later migration of every app twice: about a
minute per test on a slow machine, against seconds this way.

Inside, ``django.db.connection`` (and every model manager) uses the scratch
database; the suite's own connection is set aside untouched (an in-memory
SQLite test database would not survive being closed) and put back after.
"""

import contextlib
from pathlib import Path

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.utils import load_backend


@contextlib.contextmanager
def scratch_database(folder: Path):
    original = connections[DEFAULT_DB_ALIAS]
    settings = {**original.settings_dict}
    postgres = original.vendor == "postgresql"
    if postgres:
        settings["NAME"] = f"{original.settings_dict['NAME']}_migration"
        _recreate(original, settings["NAME"], create=True)
    else:
        settings["NAME"] = str(folder / "migration.sqlite3")
    scratch = load_backend(settings["ENGINE"]).DatabaseWrapper(settings, DEFAULT_DB_ALIAS)
    connections[DEFAULT_DB_ALIAS] = scratch
    try:
        yield scratch
    finally:
        scratch.close()
        connections[DEFAULT_DB_ALIAS] = original
        if postgres:
            _recreate(original, settings["NAME"], create=False)


def _recreate(connection, name: str, *, create: bool) -> None:
    quoted = connection.ops.quote_name(name)
    with connection._nodb_cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
        if create:
            cursor.execute(f"CREATE DATABASE {quoted}")


def migrate(targets: list[tuple[str, str]]):
    """The scratch database taken to ``targets``; the models as they were there."""
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps
