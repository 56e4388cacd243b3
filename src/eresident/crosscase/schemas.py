"""Request and response shapes of cross-region cases."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from eresident.enterprise.schemas import FormationIn, NameRequest


class FormationContent(FormationIn):
    """A formation's content as filed for another region: the name is reserved there, at intake."""

    # pydantic lets a subclass narrow a field; mypy sees an incompatible override of FormationIn's UUID
    name_reservation_id: None = Field(  # type: ignore[assignment]
        default=None, description="Not used: the handling region reserves the name")


class CrossCaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    service: Literal["company-formation"] = "company-formation"
    handling_region: str = Field(pattern=r"^[A-Z]{2,8}$", description="The region whose authority handles it, "
                                                                        "e.g. TF")
    name: NameRequest
    formation: FormationContent
    consent_to_transfer: bool = Field(description="The founder agrees that the filing, and the names and "
                                                  "nationalities of the people in it, go to the handling region")


class CrossSignIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    document_sha256: str = Field(pattern=r"^[0-9a-f]{64}$",
                                 description="The SHA-256 (hex) of the exact articles PDF you read and sign")


class EventRead(BaseModel):
    seq: int
    at: datetime
    region: str
    status: str
    what: str
    detail: str


class SignatoryRead(BaseModel):
    e_resident_number: str
    signed: bool


class CrossCaseRead(BaseModel):
    case_number: str
    service: str
    title: str
    filed_region: str
    filed_region_name: str
    handling_region: str
    handling_region_name: str
    handled_here: bool
    status: str
    status_text: str
    signatories: list[SignatoryRead]
    articles_sha256: str | None
    articles_url: str | None
    licence_url: str | None
    result: dict | None
    events: list[EventRead]
    created_at: datetime
    updated_at: datetime
    decided_at: datetime | None
