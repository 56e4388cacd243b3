"""Helpers the enterprise tests (and the tax, banking and reliability tests) share: the trade name,
founders made through the e-residency journey, a formation's body, and the API steps before approval."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from sqlalchemy import func, select

from tests.factories import Api, Person, bearer

NAME_ZH, NAME_EN = "重庆星海科技有限公司", "Chongqing Xinghai Technology Co., Ltd."


class Founders:
    """E-residents made through the e-residency journey (review and decision by two officials)."""

    def __init__(self, api: Api):
        self.api = api

    def official(self, username: str) -> str:
        return self.api.session_of(username)

    def new(self, surname: str = "BENALI") -> tuple[str, str]:
        return self.api.e_resident(Person(surname=surname))


def formation_body(reservation_id: str, founder: str, supervisor: str, **overrides) -> dict:
    body = {
        "name_reservation_id": reservation_id, "registered_capital": "1000000", "currency": "USD",
        "business_scope": ["BS001", "BS002", "BS007"], "address": {"kind": "service_site"},
        "investors": [{"kind": "natural", "e_resident_number": founder, "share_percent": "100"}],
        "legal_representative": {"e_resident_number": founder},
        "directors": [{"e_resident_number": founder}],
        "supervisor": {"e_resident_number": supervisor},
        "beneficial_owners": [{"name": "Amina BENALI", "country": "DZ", "e_resident_number": founder,
                               "share_percent": "100"}],
    }
    body.update(overrides)
    return body


def count(node, model) -> int:
    with node.ctx.database.session(write=False) as db:
        return db.scalar(select(func.count()).select_from(model))


def reserve(api, token, name_zh=NAME_ZH, name_en=NAME_EN):
    return api.client.post("/api/v1/names/reservations", headers=bearer(token),
                           json={"name_zh": name_zh, "name_en": name_en})


def submit_and_sign(api, formation_id: str, signers: list[str]) -> dict:
    r = api.client.post(f"/api/v1/formations/{formation_id}/submit", headers=bearer(signers[0]))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "awaiting_signatures"
    for token in signers:
        pdf = api.client.get(f"/api/v1/formations/{formation_id}/articles", headers=bearer(token))
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        r = api.client.post(f"/api/v1/formations/{formation_id}/signatures", headers=bearer(token),
                            json={"document_sha256": hashlib.sha256(pdf.content).hexdigest()})
        assert r.status_code == 201, r.text
    return api.client.get(f"/api/v1/formations/{formation_id}", headers=bearer(signers[0])).json()


def nss_database(directory: Path, root_pem: bytes) -> Path:
    directory.mkdir(parents=True)
    (directory / "root.pem").write_bytes(root_pem)
    subprocess.run(["certutil", "-N", "-d", f"sql:{directory}", "--empty-password"], check=True,
                   capture_output=True)
    subprocess.run(["certutil", "-A", "-d", f"sql:{directory}", "-n", "region root", "-t", ",C,", "-i",
                    str(directory / "root.pem")], check=True, capture_output=True)
    return directory
