"""The leadership dashboard's figures of each region: this node's own (computed by the worker and,
when they change, published to the peers) and each peer's last published ones.

Aggregates only: counts by status and processing-time summaries. No person, no case number, no id.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from eresident.kit.db import Base, UTCDateTime


class RegionFigures(Base):
    """One region's figures as that region computed them. This node's own row is the page's cache of
    the costly processing times (the worker refreshes it) and remembers what was last sent to the
    peers; a peer's row is the newest `figures.published` message received from it."""

    __tablename__ = "dashboard_region_figures"
    region: Mapped[str] = mapped_column(String(8), primary_key=True)
    figures: Mapped[dict] = mapped_column(JSON)
    digest: Mapped[str] = mapped_column(String(64))  # SHA-256 of the figures' canonical JSON
    as_of: Mapped[datetime] = mapped_column(UTCDateTime)  # when the region computed them
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when this node stored them
    # This node's own row only: the figures last sent to the peers, and when.
    published_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
