"""banking: the founder's withdrawal of the consent to share with a bank (bank keys are pinned in a
file, DATA_DIR/bank-trust.json, not in the database)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 12:00:00
"""
import sqlalchemy as sa
from alembic import op

import eresident.kit.db

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('bank_consents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('withdrawn_at', eresident.kit.db.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('bank_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('withdrawal', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('bank_requests', schema=None) as batch_op:
        batch_op.drop_column('withdrawal')
    with op.batch_alter_table('bank_consents', schema=None) as batch_op:
        batch_op.drop_column('withdrawn_at')
