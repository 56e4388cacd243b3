"""What the benchmark scripts share: a fresh PostgreSQL database for a run, dropped afterwards."""

from __future__ import annotations

from collections.abc import Callable


def postgres_url(url: str):
    """`url` as a SQLAlchemy URL with psycopg 3 as the driver (a bare postgresql:// means psycopg2)."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u


def libpq_dsn(u) -> str:
    """The libpq connection string of a SQLAlchemy URL, for psycopg itself."""
    return u.set(drivername="postgresql").render_as_string(hide_password=False)


def unreachable(url: str) -> str | None:
    """Why PostgreSQL at `url` does not answer (the start of the driver's message), or None if it does."""
    import psycopg

    try:
        with psycopg.connect(libpq_dsn(postgres_url(url)), connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip()[:120]
    return None


def create_database(url: str, name: str) -> tuple[str, str, Callable[[], None]]:
    """Create the database `name` on the server of `url`: (SQLAlchemy URL, driver DSN, drop)."""
    import psycopg

    u = postgres_url(url)
    admin = libpq_dsn(u)
    with psycopg.connect(admin, connect_timeout=3, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin, connect_timeout=3, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    db = u.set(database=name)
    return db.render_as_string(hide_password=False), libpq_dsn(db), drop


def pg_database(url: str, run_id: str) -> tuple[str, str, Callable[[], None]] | None:
    """(SQLAlchemy URL, driver DSN, drop) of a fresh bench_<run_id> database, or None with a note."""
    why = unreachable(url)
    if why is not None:
        print(f"note: PostgreSQL at {postgres_url(url).render_as_string()} is not reachable ({why}); "
              "skipping it.", flush=True)
        return None
    return create_database(url, f"bench_{run_id}")
