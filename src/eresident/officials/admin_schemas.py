"""Request and response shapes of the officials administration API (`/api/v1/officials`)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from eresident.officials.models import ROLES

Role = Literal["reviewer", "approver", "site_agent", "registrar", "tax_officer", "admin", "auditor"]
assert set(Role.__args__) == set(ROLES)  # type: ignore[attr-defined]  # one list of roles
USERNAME_PATTERN = r"^[a-z][a-z0-9._-]{1,63}$"


def _username(value: str) -> str:
    if re.fullmatch(USERNAME_PATTERN, value) is None:
        raise ValueError("Use 2 to 64 characters: lowercase letters, digits, '.', '_' or '-', starting with a "
                         "letter.")
    return value


def _display_name(value: str) -> str:
    if not value.strip():
        raise ValueError("Enter the name others see, for example Reviewer Chen Jie.")
    return value.strip()


# The pattern is documented for clients; the validator says what is wrong in words.
Username = Annotated[str, Field(max_length=64, json_schema_extra={"pattern": USERNAME_PATTERN},
                                description="lowercase letters, digits, '.', '_' or '-', starting with a letter"),
                     AfterValidator(_username)]
DisplayName = Annotated[str, Field(max_length=200), AfterValidator(_display_name)]


class OfficialCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: Username
    display_name: DisplayName
    roles: list[Role] = Field(default_factory=list, max_length=len(ROLES),
                              description="roles in this region; the password and TOTP secret are generated")


class RoleGrantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role


class RoleGrantRead(BaseModel):
    role: str
    region: str
    granted_at: datetime


class OfficialRead(BaseModel):
    id: uuid.UUID
    username: str
    display_name: str
    home_region: str
    active: bool
    seconded_from: str | None = Field(description="the home region of an official seconded in; null for our own")
    created_at: datetime
    roles: list[RoleGrantRead]


class OfficialCreated(BaseModel):
    """Shown once: neither the password nor the TOTP secret can be read again."""

    official: OfficialRead
    password: str = Field(description="a one-time password, generated here and not stored in clear")
    totp_secret: str = Field(description="base32; enrol it in an authenticator app")
    totp_uri: str = Field(description="the same secret as an otpauth:// URI")
