"""Applicant accounts: sign up, confirm the email address, sign in."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from eresident.audit.service import Actor, record
from eresident.i18n import N_
from eresident.identity.models import Applicant
from eresident.kit.context import NodeContext
from eresident.kit.errors import Problem, conflict, invalid
from eresident.kit.mail import queue_mail
from eresident.security import service as security
from eresident.security.passwords import password_problem
from eresident.security.tokens import new_token, token_hash

CONFIRM_HOURS = 48
# The reasons security.passwords.password_problem gives, marked so the sign-up page translates them
# (tests/identity/test_messages_i18n.py keeps the two the same).
PASSWORD_REASONS = (N_("Use at least 12 characters."), N_("Use at most 256 characters."),
                    N_("Use a password that is not one character repeated."))


def sign_up(*, ctx: NodeContext, db: Session, email: str, password: str, locale: str) -> tuple[Applicant, str]:
    """Create an account and queue the confirmation mail. Returns the account and its confirm link."""
    email = email.strip().lower()
    if (why := password_problem(password)) is not None:
        raise invalid("password", why)
    now = ctx.clock.now()
    if db.scalar(select(Applicant.id).where(Applicant.email == email)) is not None:
        raise conflict(N_("An account with this email address exists. Sign in instead."),
                       code="account-exists")
    token = new_token()
    applicant = Applicant(email=email, password_hash=ctx.passwords.hash(password), locale=locale,
                          confirm_token_hash=token_hash(token),
                          confirm_expires_at=now + timedelta(hours=CONFIRM_HOURS), created_at=now)
    db.add(applicant)
    try:
        db.flush()
    except IntegrityError:
        raise conflict(N_("An account with this email address exists. Sign in instead."),
                       code="account-exists") from None
    link = f"{ctx.settings.base_url}/confirm?token={token}"
    queue_mail(db=db, to=email, subject="Confirm your email address for e-residency",
               body=f"Open this link within {CONFIRM_HOURS} hours to confirm your address:\n{link}\n",
               now=now)
    record(db=db, actor=Actor("applicant", str(applicant.id)), region=ctx.region,
           action="applicant.signed_up", entity_type="applicant", entity_id=applicant.id, at=now)
    return applicant, link


def confirm_email(*, ctx: NodeContext, db: Session, token: str) -> Applicant:
    now = ctx.clock.now()
    applicant = db.scalar(select(Applicant).where(Applicant.confirm_token_hash == token_hash(token)))
    if applicant is None or applicant.confirm_expires_at is None or applicant.confirm_expires_at < now:
        raise Problem(400, N_("This confirmation link is not valid"), code="bad-confirmation",
                      detail=N_("It may have expired or been used already. Sign in to get a new one."))
    applicant.email_confirmed_at = now
    applicant.confirm_token_hash = None
    record(db=db, actor=Actor("applicant", str(applicant.id)), region=ctx.region,
           action="applicant.email_confirmed", entity_type="applicant", entity_id=applicant.id, at=now)
    return applicant


def authenticate(*, ctx: NodeContext, db: Session, email: str, password: str, client_ip: str) -> Applicant | None:
    """The applicant, or None after recording a failure. Raises 429 while throttled."""
    email = email.strip().lower()
    now = ctx.clock.now()
    security.check_login_allowed(db=db, username=f"applicant:{email}", client_ip=client_ip, now=now,
                                 max_failures=ctx.settings.login_max_failures,
                                 window_minutes=ctx.settings.login_window_minutes)
    applicant = db.scalar(select(Applicant).where(Applicant.email == email))
    if not ctx.passwords.verify(applicant.password_hash if applicant else None, password):
        security.record_login_failure(db=db, username=f"applicant:{email}", client_ip=client_ip, now=now)
        return None
    security.clear_login_failures(db=db, username=f"applicant:{email}")
    return applicant
