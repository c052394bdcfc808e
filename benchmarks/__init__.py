"""Benchmark tooling: `seed.py` builds the million-lead data set that `manage.py seed_bench` loads (README.md).

Not a Django app (it has no models); this module stays import-light so that `make bench-seed` can create the
benchmark database before Django is configured."""

from urllib.parse import urlparse

__all__ = ["ensure_database"]


def ensure_database(url: str) -> bool:
    """Create the PostgreSQL database named by ``url`` (postgres://user@host:port/name) when it does not exist,
    connecting to the server's ``postgres`` maintenance database. Returns True when it was created."""
    import psycopg
    from psycopg import sql

    parsed = urlparse(url)
    if parsed.scheme not in ("postgres", "postgresql", "pgsql"):
        raise SystemExit(f"The benchmark runs on PostgreSQL; {parsed.scheme or url!r} is not a PostgreSQL URL.")
    name = parsed.path.lstrip("/")
    if not name:
        raise SystemExit(f"No database name in {url!r}.")
    maintenance = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(maintenance, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True

