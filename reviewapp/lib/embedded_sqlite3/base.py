"""The embedded default's database: Django's SQLite backend that makes its folder first.

Importing settings writes nothing, so on a fresh machine VAR_DIR may not exist yet when the
first command (often `migrate`) connects; SQLite creates the file but not its folder.
"""

from pathlib import Path

from django.db.backends.sqlite3 import base


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        name = str(conn_params.get("database") or "")
        if name and not self.is_in_memory_db() and not name.startswith("file:"):
            Path(name).parent.mkdir(parents=True, exist_ok=True)
        return super().get_new_connection(conn_params)
