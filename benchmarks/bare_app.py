"""The bare stack the residency benchmark compares the node against.

A minimal FastAPI app, served like the node (uvicorn, one worker, uvloop + httptools when
installed, no access log): one POST endpoint validates a pydantic body with the same fields
and constraints as the application body and inserts one row with the driver directly — no
ORM, no app logic. SQLite: one sqlite3 connection, WAL, synchronous=NORMAL (the node's
default), one row per commit, run inline on the event loop. PostgreSQL: eight psycopg
AsyncConnections in autocommit (one row per commit), handed out by an asyncio queue.

Also: GET /ping (the framework alone) and, with --raw, a plain asyncio protocol that answers
every request with a fixed 200 — used only to measure the load generator's own ceiling.

    python bare_app.py --port 9000 --db sqlite:////tmp/x/bare.db
    python bare_app.py --port 9000 --db postgresql://postgres@127.0.0.1:5432/bench_x
    python bare_app.py --port 9000 --raw
"""

from __future__ import annotations

import argparse
import asyncio
import re
import uuid
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

_PHONE = re.compile(r"^\+[1-9][0-9 ]{6,18}$")
_COUNTRIES = frozenset("DZ AE CN FR DE GB US EG MA TN SA QA".split())  # enough for the benchmark
PG_POOL = 8

COLUMNS = ("id", "surname", "given_names", "native_name", "birth_date", "sex", "nationality",
           "residence_country", "phone", "address", "passport_number", "passport_expiry", "mrz",
           "purpose", "site_code", "photo_document_id", "consents", "created_at")
DDL = ("CREATE TABLE IF NOT EXISTS bare_applications (id varchar(36) PRIMARY KEY, surname varchar(100), "
       "given_names varchar(200), native_name varchar(200), birth_date date, sex varchar(1), "
       "nationality varchar(3), residence_country varchar(2), phone varchar(32), address varchar(500), "
       "passport_number varchar(20) UNIQUE, passport_expiry date, mrz text, purpose text, "
       "site_code varchar(32), photo_document_id varchar(36), consents text, created_at varchar(40))")


class Consents(BaseModel):
    model_config = ConfigDict(extra="forbid")
    processing: bool
    sensitive_data: bool
    cross_region_sharing: bool = False


class Body(BaseModel):
    """Same fields and constraints as eresident's ApplicationCreate (without the MRZ logic)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    surname: str = Field(min_length=1, max_length=100)
    given_names: str = Field(default="", max_length=200)
    native_name: str = Field(default="", max_length=200)
    birth_date: date
    sex: str = Field(pattern=r"^[MFX]$")
    nationality: str = Field(min_length=2, max_length=3)
    residence_country: str = Field(min_length=2, max_length=2)
    phone: str = Field(max_length=24)
    address: str = Field(min_length=5, max_length=500)
    passport_number: str = Field(min_length=1, max_length=20)
    passport_expiry: date
    mrz: list[str] = Field(min_length=2, max_length=3)
    purpose: str = Field(min_length=20, max_length=4000)
    site_code: str = Field(min_length=1, max_length=32)
    photo_document_id: uuid.UUID
    supporting_document_ids: list[uuid.UUID] = Field(default_factory=list, max_length=10)
    consents: Consents

    @field_validator("nationality", "residence_country")
    @classmethod
    def _country(cls, value: str) -> str:
        if value.upper() not in _COUNTRIES:
            raise ValueError("is not an ISO 3166-1 country code")
        return value.upper()

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        if not _PHONE.match(value):
            raise ValueError("use international format")
        return value

    @field_validator("passport_number")
    @classmethod
    def _passport(cls, value: str) -> str:
        value = value.replace(" ", "").upper()
        if not re.fullmatch(r"[A-Z0-9]{1,20}", value):
            raise ValueError("letters and digits only")
        return value


def _row(body: Body) -> tuple:
    return (str(uuid.uuid4()), body.surname, body.given_names, body.native_name, body.birth_date.isoformat(),
            body.sex, body.nationality, body.residence_country, body.phone, body.address,
            body.passport_number, body.passport_expiry.isoformat(), "\n".join(body.mrz), body.purpose,
            body.site_code, str(body.photo_document_id), body.consents.model_dump_json(),
            datetime.now(UTC).isoformat())


def _reply(row: tuple, body: Body) -> dict:
    # About the size and shape of the node's ApplicationRead.
    return {"id": row[0], "case_number": "LJ-2026-000000", "region": "LJ", "status": "received",
            "status_text": "Received", "surname": body.surname, "given_names": body.given_names,
            "submitted_at": row[-1], "decided_at": None, "decision": None, "decision_reasons": None,
            "site_code": body.site_code, "waiting_on": "region", "info_request": None,
            "e_resident_number": None}


def create_app(db_url: str):
    from fastapi import FastAPI

    if db_url.startswith("sqlite"):
        import sqlite3

        path = db_url.split("///", 1)[1]
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(DDL)
        sql = f"INSERT INTO bare_applications ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"

        app = FastAPI()

        @app.post("/submit", status_code=201)
        async def submit(body: Body) -> dict:
            row = _row(body)
            conn.execute(sql, row)  # autocommit: one row per commit
            return _reply(row, body)
    else:
        import psycopg

        url = db_url.replace("postgresql+psycopg://", "postgresql://")
        sql = (f"INSERT INTO bare_applications ({', '.join(COLUMNS)}) "
               f"VALUES ({', '.join(['%s'] * len(COLUMNS))})")
        pool: asyncio.Queue = asyncio.Queue()

        @asynccontextmanager
        async def lifespan(_app):
            with psycopg.connect(url, autocommit=True) as setup:
                setup.execute(DDL)
            conns = [await psycopg.AsyncConnection.connect(url, autocommit=True) for _ in range(PG_POOL)]
            for c in conns:
                pool.put_nowait(c)
            yield
            for c in conns:
                await c.close()

        app = FastAPI(lifespan=lifespan)

        @app.post("/submit", status_code=201)
        async def submit(body: Body) -> dict:
            row = _row(body)
            conn = await pool.get()
            try:
                await conn.execute(sql, row)
            finally:
                pool.put_nowait(conn)
            return _reply(row, body)

    @app.get("/ping")
    async def ping() -> dict:
        return {"status": "ok"}

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    return app


class _Raw(asyncio.Protocol):
    RESPONSE = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 15\r\n\r\n"
                b'{"status":"ok"}')

    def connection_made(self, transport):
        self.transport = transport
        self.buf = b""

    def data_received(self, data):
        self.buf += data
        n = self.buf.count(b"\r\n\r\n")  # GET requests only: no bodies
        if n:
            self.buf = self.buf[self.buf.rfind(b"\r\n\r\n") + 4:]
            self.transport.write(self.RESPONSE * n)


def serve_raw(port: int) -> None:
    async def main():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Raw, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    try:
        import uvloop
        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", default="")
    parser.add_argument("--raw", action="store_true")
    args = parser.parse_args()
    if args.raw:
        serve_raw(args.port)
        return
    import uvicorn

    uvicorn.run(create_app(args.db), host="127.0.0.1", port=args.port, workers=1, log_level="warning",
                access_log=False)


if __name__ == "__main__":
    main()
