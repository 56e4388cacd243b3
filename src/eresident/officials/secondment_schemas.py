"""Request and response shapes of the cadre exchange API."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class SecondmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    official: str = Field(min_length=1, max_length=64, description="username of one of this region's officials")
    host_region: str = Field(pattern=r"^[A-Z]{2,8}$")
    term_start: AwareDatetime
    term_end: AwareDatetime
    host_roles: list[str] = Field(min_length=1, max_length=8)
    department: str = Field(min_length=1, max_length=200)
    purpose: str = Field(min_length=1, max_length=2000)


class SecondmentAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=2000)


class SecondmentReason(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


class SecondeeLogin(BaseModel):
    model_config = ConfigDict(extra="forbid")
    credential: str = Field(min_length=1, max_length=8000, description="the home node's vouching credential")
