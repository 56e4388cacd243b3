"""Request and response shapes of the enterprise API: names, formations, signatures, licences."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ResidentNumber = Field(min_length=6, max_length=32, pattern=r"^[A-Z]{2,8}-ER-\d{4}-\d{6}$",
                       description="An e-resident number of this region, e.g. LJ-ER-2026-000001")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class NameRequest(_In):
    name_zh: str = Field(min_length=1, max_length=100, description="The full Chinese name, e.g. 重庆星海贸易有限公司")
    name_en: str = Field(min_length=1, max_length=300, description="The English name, e.g. Chongqing Xinghai "
                                                                   "Trading Co., Ltd.")


class Investor(_In):
    """natural: an e-resident, who signs. legal: a foreign company, for which an e-resident signs.
    domestic_company: a Chinese partner company of a joint venture (its Chinese name and USCC in
    registration_number), which signs the articles itself with its organisation certificate.
    domestic_person: a Chinese citizen partner (name as on the resident identity card, id_number),
    who signs with a personal certificate; the number is kept only masked and as a blind index."""

    kind: Literal["natural", "legal", "domestic_company", "domestic_person"] = "natural"
    e_resident_number: str | None = Field(default=None, min_length=6, max_length=32,
                                          pattern=r"^[A-Z]{2,8}-ER-\d{4}-\d{6}$",
                                          description="A natural person: their e-resident number (they sign)")
    name: str | None = Field(default=None, min_length=1, max_length=300,
                             description="A company investor: its registered name (a Chinese partner: in Chinese, "
                                         "as on its business licence)")
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$", description="A company investor: ISO 3166-1")
    registration_number: str | None = Field(default=None, min_length=1, max_length=64,
                                            description="A company investor: its registration number (a Chinese "
                                                        "partner: its 18-character USCC)")
    id_number: str | None = Field(default=None, min_length=1, max_length=32,
                                  description="A Chinese citizen partner: the resident identity card number "
                                              "(GB 11643, 18 characters)")
    signatory_e_resident_number: str | None = Field(default=None, min_length=6, max_length=32,
                                                    pattern=r"^[A-Z]{2,8}-ER-\d{4}-\d{6}$",
                                                    description="A company investor: who signs for it")
    share_percent: Decimal = Field(gt=0, le=100, max_digits=7, decimal_places=4)


class Signatory(_In):
    e_resident_number: str = ResidentNumber


class BeneficialOwner(_In):
    name: str = Field(min_length=1, max_length=300)
    country: str = Field(pattern=r"^[A-Z]{2}$")
    e_resident_number: str | None = Field(default=None, min_length=6, max_length=32,
                                          pattern=r"^[A-Z]{2,8}-ER-\d{4}-\d{6}$")
    share_percent: Decimal = Field(gt=0, le=100, max_digits=7, decimal_places=4,
                                   description="Ownership or control, directly or indirectly")


class Address(_In):
    kind: Literal["service_site", "own"]
    zh: str | None = Field(default=None, min_length=5, max_length=300)
    en: str | None = Field(default=None, min_length=5, max_length=400)


class FormationIn(_In):
    name_reservation_id: uuid.UUID
    company_type: Literal["wfoe", "jv"] = Field(
        default="wfoe", description="wfoe: wholly foreign-owned; jv: a joint venture with at least one Chinese partner "
                                    "company (investor kind domestic_company)")
    registered_capital: Decimal = Field(gt=0, max_digits=18, decimal_places=2)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    business_scope: list[str] = Field(min_length=1, max_length=20, description="Codes from /api/v1/business-scope")
    address: Address
    term_years: int | None = Field(default=None, ge=1, le=70, description="None: long-term")
    investors: list[Investor] = Field(min_length=1, max_length=10)
    legal_representative: Signatory
    directors: list[Signatory] = Field(min_length=1, max_length=9)
    supervisor: Signatory
    beneficial_owners: list[BeneficialOwner] = Field(min_length=1, max_length=20)


class SignRequest(_In):
    """Either `document_sha256` (the node records and signs it for you) or `jws` (you signed the
    signing input with the holder key of your e-residency credential)."""

    document_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$",
                                        description="The SHA-256 (hex) of the exact articles PDF you read and sign")
    jws: str | None = Field(default=None, min_length=20, max_length=8000,
                            description="A compact JWS over the payload of GET …/signing-input, made with the "
                                        "holder key of your e-residency credential (header typ "
                                        "eresident-articles-signature+jwt, alg EdDSA or ES256, your public jwk)")

    @model_validator(mode="after")
    def _one_way(self) -> SignRequest:
        if (self.document_sha256 is None) == (self.jws is None):
            raise ValueError("Send document_sha256 (sign through the node) or jws (sign with your own key), "
                             "not both or neither.")
        return self


class RecommendationIn(_In):
    recommendation: Literal["approve", "refuse"]
    note: str = Field(default="", max_length=4000)


class DecisionIn(_In):
    decision: Literal["approve", "refuse"]
    reasons: str = Field(default="", max_length=4000)


class CredentialRequest(_In):
    holder_jwk: dict | None = None


class RevocationIn(_In):
    reason: str = Field(min_length=1, max_length=32, description="A reason code: deregistered, obtained_by_fraud, "
                                                                 "court_order, administrative_penalty or "
                                                                 "issued_in_error")
    note: str = Field(min_length=5, max_length=4000, description="What happened, in a sentence or more: shown to "
                                                                 "the founder and officials, never published")


class PartyRead(BaseModel):
    role: str
    kind: str
    name: str
    country: str
    e_resident_number: str | None
    registration_number: str | None
    share_percent: Decimal | None
    contribution: Decimal | None


class RestrictedItem(BaseModel):
    code: str
    measure: str
    conditions_zh: str
    conditions_en: str


class SignatureRead(BaseModel):
    id: uuid.UUID
    e_resident_number: str
    document_sha256: str
    revision: int
    signed_at: datetime
    status: str
    jws: str
    method: str = "node"  # node (the node's JWS for a signed-in signatory) | holder (the signer's own JWS)
    credential_id: str | None = None
    holder_jwk: dict | None = None  # the public key that made a holder signature


class PartnerRead(BaseModel):
    """A Chinese partner of a joint venture and its signature on the current articles."""

    id: uuid.UUID  # the party: …/partner-signatures/{id} is its signed copy
    kind: str  # domestic_company | domestic_person
    name: str
    identifier: str  # the USCC, or a citizen's ID number masked
    signed: bool
    signing_url: str | None = None  # the owner's invitation link for the partner (None for others)
    signer_subject: str | None = None  # the certificate that signed, once signed
    signed_copy_url: str | None = None  # the signed PDF, once signed


class FormationRead(BaseModel):
    id: uuid.UUID
    case_number: str | None
    status: str
    status_text: str
    revision: int
    name_zh: str
    name_en: str
    company_type: str
    registered_capital: Decimal
    currency: str
    business_scope: list[str]
    restricted_scope: list[RestrictedItem]
    address_kind: str
    address_zh: str
    address_en: str
    term_years: int | None
    parties: list[PartyRead]
    signatories: list[str]
    signed_by: list[str]
    partners: list[PartnerRead] = []
    articles_sha256: str | None
    uscc: str | None
    licence_url: str | None
    licence_status: str | None = None  # valid | revoked, once issued
    report_url: str | None  # the foreign-investment information report as JSON
    report_pdf_url: str | None = None  # the same report as a signed PDF
    decision_reasons: str | None
    created_at: datetime
    submitted_at: datetime | None
    decided_at: datetime | None


class LicenceStatus(BaseModel):
    uscc: str
    genuine: bool
    current: bool
    status: str
    name_zh: str
    name_en: str
    legal_representative: str
    established_on: date
    term_until: date | None
    issued_at: datetime
    region: str
    revoked_at: datetime | None = None
    revoked_on: date | None = Field(default=None, description="The date of revocation in China")
    revocation_reason: str | None = None
    revocation_reason_zh: str | None = None
    revocation_reason_en: str | None = None
    message: str


class RevocationRead(LicenceStatus):
    revocation_note: str
