"""Request and response shapes of the e-residency API."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from eresident.i18n import N_
from eresident.identity import countries
from eresident.kit.errors import Message

_PHONE = re.compile(r"^\+[1-9][0-9 ]{6,18}$")


class ApplicantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: EmailStr
    password: str = Field(min_length=1, max_length=256)
    locale: str = Field(default="en", pattern=r"^(en|zh|ar)$")


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=320)
    password: str = Field(max_length=256)


class OfficialLogin(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(max_length=64)
    password: str = Field(max_length=256)
    totp: str = Field(max_length=10)


class TokenResponse(BaseModel):
    token: str
    expires_at: datetime
    csrf_token: str


class Consents(BaseModel):
    model_config = ConfigDict(extra="forbid")
    processing: bool
    sensitive_data: bool
    cross_region_sharing: bool = False


class ApplicationCreate(BaseModel):
    """Everything an applicant gives. Names in Latin script exactly as in the passport."""

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
        code = countries.alpha2(value)
        if code is None:
            raise ValueError(Message.with_english("is not an ISO 3166-1 country code",
                                                  N_("Choose a country from the list.")))
        return code

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        if not _PHONE.match(value):
            raise ValueError(Message.with_english(
                "use international format, e.g. +213 21 23 45 67",
                N_("Enter the number in international format, starting with + and the country code, for "
                   "example +213 21 23 45 67.")))
        return value

    @field_validator("passport_number")
    @classmethod
    def _passport(cls, value: str) -> str:
        value = value.replace(" ", "").upper()
        if not re.fullmatch(r"[A-Z0-9]{1,20}", value):
            raise ValueError(Message.with_english(
                "use only the letters and digits printed in the passport",
                N_("Use only the letters and digits printed in your passport.")))
        return value

    @field_validator("mrz", mode="before")
    @classmethod
    def _mrz_lines(cls, value):
        if isinstance(value, str):
            value = [line for line in value.replace("\r", "").split("\n") if line.strip()]
        return value


class ResubmitRequest(ApplicationCreate):
    answer: str = Field(min_length=1, max_length=4000)


class CheckRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    check: str
    outcome: str
    summary: str
    details: dict
    created_at: datetime


class ApplicationRead(BaseModel):
    id: uuid.UUID
    case_number: str
    region: str
    status: str
    status_text: str
    surname: str
    given_names: str
    submitted_at: datetime | None
    decided_at: datetime | None
    decision: str | None
    decision_reasons: str | None
    site_code: str
    waiting_on: str
    info_request: str | None = None
    e_resident_number: str | None = None


class ApplicationDetail(ApplicationRead):
    """What an official sees: the checks and evidence side by side."""

    native_name: str
    birth_date: date
    sex: str
    nationality: str
    residence_country: str
    passport_number: str
    passport_expiry: date
    purpose: str
    checks: list[CheckRead]
    screening_hits: int
    reviewer_id: uuid.UUID | None
    recommendation: str | None
    recommendation_note: str | None
    identity_check: dict | None
    documents: list[dict]
    mrz_lines: list[str]
    history: list[dict]


class AppointmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    starts_at: datetime
    mode: str = Field(pattern=r"^(in_person|video)$")


class IdentityCheckCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    passport_seen: bool
    passport_matches_mrz: bool
    face_matches_photo: bool
    notes: str = Field(default="", max_length=4000)


class InfoRequestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Field(min_length=5, max_length=4000)


class Recommendation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    recommendation: str = Field(pattern=r"^(approve|refuse)$")
    note: str = Field(default="", max_length=4000)


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: str = Field(pattern=r"^(approve|refuse)$")
    reasons: str = Field(default="", max_length=4000)


class EResidentStatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str = Field(pattern=r"^(active|suspended|revoked)$")
    reason: str = Field(min_length=5, max_length=4000)
