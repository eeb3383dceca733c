"""Data migrations tested on a real schema: the test database taken back to an earlier state,
filled with the models of that state, then migrated forward to the latest one."""

import contextlib

from django.db import connection
from django.db.migrations.executor import MigrationExecutor


@contextlib.contextmanager
def back_at(*targets: tuple[str, str]):
    """The database migrated back to `targets` ((app, migration) pairs); yields a function that
    runs the migrations forward to the latest state and returns the state's models. Whatever
    happens, the database is left at the latest state for the tests that follow."""
    executor = MigrationExecutor(connection)
    executor.migrate(list(targets))
    executor.loader.build_graph()
    old_apps = executor.loader.project_state(list(targets)).apps

    def migrate_forward():
        forward = MigrationExecutor(connection)
        forward.migrate(forward.loader.graph.leaf_nodes())

    try:
        yield old_apps, migrate_forward
    finally:
        migrate_forward()
