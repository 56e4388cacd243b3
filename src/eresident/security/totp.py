"""TOTP second factor (RFC 6238) with replay protection: a code works once."""

from __future__ import annotations

from datetime import datetime

import pyotp


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, *, username: str, issuer: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer)


def current_code(secret: str, at: datetime) -> str:
    return pyotp.TOTP(secret).at(at)


def verify(secret: str, code: str, *, at: datetime, last_step: int) -> int | None:
    """Return the time step the code belongs to, or None. Accepts one step of clock drift,
    never a step at or before `last_step` (a code already used)."""
    code = "".join(code.split())
    if not code.isdigit() or len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    now_step = totp.timecode(at)
    for step in (now_step, now_step - 1, now_step + 1):
        if step <= last_step:
            continue
        if pyotp.utils.strings_equal(totp.generate_otp(step), code):
            return step
    return None
