"""dashboard: the figures of each region (this node's own, each peer's last published)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26 15:00:00
"""
import sqlalchemy as sa
from alembic import op

import eresident.kit.db

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dashboard_region_figures',
    sa.Column('region', sa.String(length=8), nullable=False),
    sa.Column('figures', sa.JSON(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('as_of', eresident.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('stored_at', eresident.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('published_digest', sa.String(length=64), nullable=True),
    sa.Column('published_at', eresident.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('region', name=op.f('pk_dashboard_region_figures'))
    )


def downgrade() -> None:
    op.drop_table('dashboard_region_figures')
