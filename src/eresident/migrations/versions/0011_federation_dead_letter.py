"""federation outbox: dead letters (given up after too many refusals or too long, kept for an operator)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 12:00:00
"""
import sqlalchemy as sa
from alembic import op

import eresident.kit.db

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('federation_outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dead_at', eresident.kit.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('requeued_at', eresident.kit.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('attempts_at_requeue', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('federation_outbox', schema=None) as batch_op:
        batch_op.drop_column('attempts_at_requeue')
        batch_op.drop_column('requeued_at')
        batch_op.drop_column('dead_at')
