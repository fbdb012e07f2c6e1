"""`validate --database`'s confinement: the job folder's SQL runs as a throw-away account that
can touch only its throw-away database, not as the (often root) account of DB_USERNAME.

The account gets `ALL PRIVILEGES ON <database>.*`: database-level privileges only, so no FILE
(`LOAD_FILE`, `INTO OUTFILE`), no other database, no users, no server settings
(https://dev.mysql.com/doc/refman/8.4/en/privileges-provided.html,
https://mariadb.com/kb/en/grant/#database-privileges). It is created for exactly the host the
server sees this connection come from (USER()), so no wider account such as ''@'localhost'
can shadow it, and dropped at the end. The syntax is common to MySQL 8.4 and MariaDB 10.11.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class SandboxError(Exception):
    """The account cannot create the throw-away user (it needs CREATE USER and GRANT OPTION)."""


def grant_name(database: str) -> str:
    # In a GRANT's database name `_` and `%` are wildcards: escape them.
    return "`" + database.replace("_", "\\_").replace("%", "\\%") + "`"


@contextmanager
def confined_user(admin: Any, database: str) -> Iterator[tuple[str, str]]:
    """(user, password) of a new account limited to `database`, dropped on exit."""
    user, password = database[:32], secrets.token_urlsafe(24)  # MySQL user names: 32 chars
    with admin.cursor() as cursor:
        cursor.execute("SELECT SUBSTRING_INDEX(USER(), '@', -1)")
        (host,) = cursor.fetchone()
        try:
            cursor.execute("CREATE USER %s@%s IDENTIFIED BY %s", (user, host, password))
        except Exception as exc:
            raise SandboxError(str(exc.args[-1] if exc.args else exc)) from exc
        try:
            cursor.execute(f"GRANT ALL PRIVILEGES ON {grant_name(database)}.* TO %s@%s",
                           (user, host))  # fmt: skip
            yield user, password
        finally:
            cursor.execute("DROP USER IF EXISTS %s@%s", (user, host))
