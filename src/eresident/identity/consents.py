"""The consent texts applicants agree to (PIPL), versioned so a record says exactly what was shown."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class ConsentText:
    purpose: str
    version: str
    required: bool
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


CONSENTS: dict[str, ConsentText] = {c.purpose: c for c in (
    ConsentText("processing", "2026-11", True,
                "The region processes the personal information in this application to decide on "
                "your e-residency, keeps it for as long as you are an e-resident and five years "
                "after, and does not use it for anything else. You can see, correct or ask us to "
                "delete it under the Personal Information Protection Law."),
    ConsentText("sensitive_data", "2026-11", True,
                "Your passport number, your photograph and the identity check at the service "
                "site are sensitive personal information. We need them to confirm who you are. "
                "They are encrypted at rest and seen only by the officials handling your case."),
    ConsentText("cross_region_sharing", "2026-11", False,
                "Liangjiang New Area and Sichuan Tianfu New Area recognise each other's "
                "e-residents. If you agree, the other region may check that your passport is not "
                "already known to it (using a keyed hash, never the number itself) and may "
                "verify your e-residency when you use its services."),
)}
