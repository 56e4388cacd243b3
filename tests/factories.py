"""Builders for valid inputs (applications, passports, photos) and for journeys through the API."""

from __future__ import annotations

import itertools
import struct
import zlib
from dataclasses import dataclass, field
from datetime import date

from fastapi.testclient import TestClient

from eresident.identity.mrz import make_td3
from eresident.security.totp import current_code

_serial = itertools.count(1)


def png_bytes(width: int = 2, height: int = 2) -> bytes:
    """A real, tiny PNG image."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def pdf_bytes() -> bytes:
    return b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@dataclass
class Person:
    surname: str = "BENALI"
    given_names: str = "AMINA"
    native_name: str = "أمينة بن علي"
    birth_date: date = date(1990, 3, 14)
    sex: str = "F"
    nationality: str = "DZ"
    passport_number: str = field(default_factory=lambda: f"DZ{next(_serial):07d}")
    passport_expiry: date = date(2031, 5, 20)

    def mrz(self, **overrides) -> list[str]:
        values = dict(surname=self.surname, given_names=self.given_names,
                      document_number=self.passport_number, nationality="DZA" if self.nationality == "DZ" else self.nationality,
                      birth_date=self.birth_date, sex=self.sex, expiry_date=self.passport_expiry, issuing_state="DZA")
        values.update(overrides)
        return list(make_td3(**values))


def sanctioned_person():
    """A person who matches an entity of the shipped sample sanctions list (name and birth date).
    Returns (person, entity)."""
    from eresident.identity.screening import load_ftm_file
    from eresident.identity.screening_store import SAMPLE_LIST

    target = next(e for e in load_ftm_file(SAMPLE_LIST) if e.birth_dates and len(e.birth_dates[0]) == 10
                  and all(ch.isascii() for ch in e.names[0]))
    parts = target.names[0].upper().replace("-", " ").split()
    person = Person(surname=parts[-1], given_names=" ".join(parts[:-1]), native_name="",
                    birth_date=date.fromisoformat(target.birth_dates[0]))
    return person, target


def application_payload(person: Person, *, photo_id: str, site_code: str = "MK-ALG", **overrides) -> dict:
    body = {
        "surname": person.surname, "given_names": person.given_names, "native_name": person.native_name,
        "birth_date": person.birth_date.isoformat(), "sex": person.sex, "nationality": person.nationality,
        "residence_country": "DZ", "phone": "+213 21 23 45 67", "address": "5 Rue Larbi Ben M'hidi, Algiers",
        "passport_number": person.passport_number, "passport_expiry": person.passport_expiry.isoformat(),
        "mrz": person.mrz(), "purpose": "I trade dates and olive oil and want to open a company in the region.",
        "site_code": site_code, "photo_document_id": photo_id,
        "consents": {"processing": True, "sensitive_data": True, "cross_region_sharing": True},
    }
    body.update(overrides)
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Api:
    """Drives a node through its HTTP API as applicants and officials would."""

    def __init__(self, node):
        self.node = node
        self.client: TestClient = node.client()
        self._sessions: dict[str, str] = {}

    def session_of(self, username: str) -> str:
        """The official's session token, signing in once (each sign-in spends a TOTP step)."""
        if username not in self._sessions:
            self._sessions[username] = self.official(username)
        return self._sessions[username]

    def applicant(self, email: str | None = None, password: str = "a long passphrase 1") -> str:
        email = email or f"applicant{next(_serial)}@example.dz"
        r = self.client.post("/api/v1/applicants", json={"email": email, "password": password})
        assert r.status_code == 201, r.text
        mail = self.last_mail_to(email)
        token = mail.split("token=")[1].split()[0]
        r = self.client.post("/api/v1/applicants/confirm", params={"token": token})
        assert r.status_code == 200, r.text
        return self.login(email, password)

    def login(self, email: str, password: str) -> str:
        r = self.client.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        return r.json()["token"]

    def last_mail_to(self, email: str) -> str:
        from sqlalchemy import select

        from eresident.kit.models import MailMessage

        with self.node.ctx.database.session(write=False) as db:
            return db.scalars(select(MailMessage.body).where(MailMessage.to_address == email)
                              .order_by(MailMessage.created_at.desc())).first()

    def upload(self, token: str, *, kind: str = "photo", data: bytes | None = None,
               filename: str = "photo.png", content_type: str = "image/png"):
        return self.client.post("/api/v1/documents", headers=bearer(token), data={"kind": kind},
                                files={"file": (filename, data if data is not None else png_bytes(), content_type)})

    def submit(self, token: str, person: Person | None = None, **overrides):
        person = person or Person()
        photo = self.upload(token)
        assert photo.status_code == 201, photo.text
        return self.client.post("/api/v1/applications", headers=bearer(token),
                                json=application_payload(person, photo_id=photo.json()["id"], **overrides))

    def official(self, username: str) -> str:
        from eresident.officials import service
        from eresident.seed import DEMO_PASSWORD

        ctx = self.node.ctx
        with ctx.database.session(write=False) as db:
            secret = service.totp_secret(ctx, service.by_username(db, username))
            last = service.by_username(db, username).totp_last_step
        # each code works once: step the frozen clock past the last used step
        import pyotp
        while pyotp.TOTP(secret).timecode(ctx.clock.now()) <= last:
            from datetime import timedelta
            ctx.clock.advance(timedelta(seconds=30))
        r = self.client.post("/api/v1/officials/login", json={
            "username": username, "password": DEMO_PASSWORD, "totp": current_code(secret, ctx.clock.now())})
        assert r.status_code == 200, r.text
        return r.json()["token"]

    def book_first_slot(self, token: str, application_id: str, mode: str = "video"):
        slots = self.client.get("/api/v1/sites/MK-ALG/slots").json()
        return self.client.post(f"/api/v1/applications/{application_id}/appointment", headers=bearer(token),
                                json={"starts_at": slots[0]["starts_at"], "mode": mode})

    def to_review(self, person: Person | None = None) -> tuple[str, str]:
        """An applicant with a submitted, identity-checked application. Returns (token, application id)."""
        token = self.applicant()
        r = self.submit(token, person)
        assert r.status_code == 201, r.text
        app_id = r.json()["id"]
        assert self.book_first_slot(token, app_id).status_code == 201
        agent = self.official("lj-agent")
        r = self.client.post(f"/api/v1/cases/{app_id}/identity-check", headers=bearer(agent), json={
            "passport_seen": True, "passport_matches_mrz": True, "face_matches_photo": True})
        assert r.status_code == 201, r.text
        return token, app_id

    def e_resident(self, person: Person | None = None) -> tuple[str, str]:
        """An applicant approved through the journey (a reviewer and an approver): (token, e-resident number)."""
        token, app_id = self.to_review(person)
        reviewer, approver = self.session_of("lj-reviewer"), self.session_of("lj-approver")
        r = self.client.post(f"/api/v1/cases/{app_id}/claim", headers=bearer(reviewer))
        assert r.status_code == 200, r.text
        r = self.client.post(f"/api/v1/cases/{app_id}/recommend", headers=bearer(reviewer),
                             json={"recommendation": "approve", "note": "ok"})
        assert r.status_code == 200, r.text
        r = self.client.post(f"/api/v1/cases/{app_id}/decide", headers=bearer(approver), json={"decision": "approve"})
        assert r.status_code == 200, r.text
        return token, r.json()["e_resident_number"]
