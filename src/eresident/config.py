"""The node's settings: one pydantic-settings class, the only reader of the environment."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Region code -> (display name, GB/T 2260 administrative division code used in USCCs).
REGIONS: dict[str, tuple[str, str, str]] = {
    "LJ": ("Liangjiang New Area", "两江新区", "500000"),
    "TF": ("Sichuan Tianfu New Area", "四川天府新区", "510100"),
}


class Settings(BaseSettings):
    """Everything a node needs to know about itself. Read from ERESIDENT_* variables."""

    model_config = SettingsConfigDict(env_prefix="ERESIDENT_", env_file=None, extra="ignore")

    region: str = Field(default="LJ", pattern=r"^[A-Z]{2,8}$")
    database_url: str = "sqlite:///var/LJ/eresident.db"
    data_dir: Path = Path("var/LJ")
    base_url: str = "http://127.0.0.1:8001"
    # Secrets. When empty they are generated once and kept in data_dir/secrets.json,
    # so a fresh `make run` needs no configuration and a restart keeps sessions valid.
    secret_key: str = ""
    data_key: str = ""  # 32 bytes, base64url: AES-256-GCM for personal data at rest
    blind_index_key: str = ""
    secure_cookies: bool = False  # True behind TLS
    demo: bool = False  # show confirmation links on the page (no mail server exists here)
    log_json: bool = True
    log_level: str = "INFO"
    max_upload_bytes: int = 10 * 1024 * 1024
    max_photo_bytes: int = 5 * 1024 * 1024
    max_body_bytes: int = 12 * 1024 * 1024
    session_hours: int = 8
    applicant_session_hours: int = 24
    login_max_failures: int = 5
    login_window_minutes: int = 15
    passport_min_validity_days: int = 183  # "at least six months ahead"
    screening_threshold: float = 85.0
    sqlite_synchronous: str = Field(default="NORMAL", pattern=r"^(NORMAL|FULL)$")
    # Federation (between region nodes): see docs/federation.md.
    federation_trust_file: Path | None = None  # default: data_dir/trust.json
    federation_key_validity_days: int = Field(default=365, ge=1)
    federation_clock_skew_seconds: int = Field(default=60, ge=0)  # a peer's clock may be this far ahead
    federation_message_ttl_seconds: int = Field(default=300, ge=10)  # a signature's lifetime (expires)
    federation_retry_base_seconds: float = Field(default=2.0, gt=0)  # first retry after about this
    federation_retry_max_seconds: float = Field(default=600.0, ge=1)  # retries back off up to this
    federation_timeout_seconds: float = Field(default=10.0, gt=0)  # one delivery attempt
    federation_batch_size: int = Field(default=200, ge=1)  # messages claimed per delivery run
    # Dead letters: a message the peer keeps *refusing* (a 4xx answer other than 408/429) is given up
    # (kept, no longer sent) once it has waited this long since it was queued or requeued, or after
    # this many attempts. Seven days outlasts a long weekend or a holiday week during which the peer's
    # operator cannot refresh a trust list or upgrade a node that does not know the kind yet; a message
    # still refused after that will not go through by itself, and as a dead letter it shows in
    # `federation status` instead of hiding among the retries. No count limit by default: with the
    # capped backoff a count is only a less legible clock (7 days is about 1,350 attempts). A peer that is
    # down, slow, or answers 5xx/429 never makes a message dead: those are retried until it recovers.
    # 0 turns either limit off.
    federation_dead_after_seconds: int = Field(default=7 * 24 * 3600, ge=0)
    federation_dead_after_attempts: int = Field(default=0, ge=0)
    # Recognition (docs/federation.md, "Recognition"): the fallback status re-check, the wait for a
    # peer's duplicate answer before it counts as "not answered", and a status-list fetch.
    recognition_recheck_seconds: int = Field(default=60, ge=1)
    recognition_answer_timeout_seconds: int = Field(default=600, ge=1)
    recognition_status_timeout_seconds: float = Field(default=5.0, gt=0)
    # Leadership dashboard (docs/dashboard.md): the worker sends this node's figures to the peers
    # (`figures.published`) when they have changed, at most once in this many minutes.
    dashboard_publish_minutes: int = Field(default=15, ge=1, le=24 * 60)
    # Enterprise: how long a reserved name is held for its e-resident.
    name_reservation_days: int = Field(default=30, ge=1, le=365)
    # Banking (docs/tax-and-banking.md): the partner bank a node talks to, and its delivery retries.
    bank_url: str = "http://127.0.0.1:8009"
    bank_timeout_seconds: float = Field(default=10.0, gt=0)
    bank_retry_base_seconds: float = Field(default=2.0, gt=0)
    bank_retry_max_seconds: float = Field(default=600.0, ge=1)
    bank_stuck_minutes: int = Field(default=60, ge=1)  # an officer sees requests without progress this long
    # The banks' pinned callback keys (banking/trust.py; `eresident bank trust add`): default data_dir/bank-trust.json.
    bank_trust_file: Path | None = None
    # The sandbox bank process (`eresident sandbox-bank`), when this environment runs one.
    sandbox_bank_data_dir: Path = Path("var/bank")
    sandbox_bank_base_url: str = "http://127.0.0.1:8009"
    sandbox_bank_clients: str = "http://127.0.0.1:8001,http://127.0.0.1:8002"  # node base URLs it serves
    sandbox_bank_admin_token: str = "sandbox-admin"
    sandbox_bank_mode: str = Field(default="normal", pattern=r"^(normal|slow|error|unavailable)$")
    sandbox_bank_delay_seconds: float = Field(default=0.0, ge=0)  # how long `slow` answers take

    @cached_property
    def region_name(self) -> str:
        return REGIONS.get(self.region, (self.region, self.region, "000000"))[0]

    @cached_property
    def region_name_zh(self) -> str:
        return REGIONS.get(self.region, (self.region, self.region, "000000"))[1]

    @cached_property
    def division_code(self) -> str:
        return REGIONS.get(self.region, (self.region, self.region, "000000"))[2]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
