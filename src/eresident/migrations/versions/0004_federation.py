"""federation

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 08:40:00
"""
from alembic import op
import sqlalchemy as sa
import eresident.kit.db


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('federation_outbox',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('peer_region', sa.String(length=8), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('created_at', eresident.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', eresident.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_attempt_at', eresident.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('delivered_at', eresident.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_federation_outbox'))
    )
    with op.batch_alter_table('federation_outbox', schema=None) as batch_op:
        batch_op.create_index('ix_federation_outbox_due', ['next_attempt_at'], unique=False)
        batch_op.create_index('ix_federation_outbox_peer_region', ['peer_region', 'delivered_at'], unique=False)

    op.create_table('federation_inbox',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('peer_region', sa.String(length=8), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('content_digest', sa.String(length=64), nullable=False),
    sa.Column('received_at', eresident.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('signature_created', sa.BigInteger(), nullable=False),
    sa.Column('repeats', sa.Integer(), nullable=False),
    sa.Column('response', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_federation_inbox'))
    )
    with op.batch_alter_table('federation_inbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_federation_inbox_peer_region'), ['peer_region'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('federation_inbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_federation_inbox_peer_region'))
    op.drop_table('federation_inbox')
    with op.batch_alter_table('federation_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_federation_outbox_peer_region')
        batch_op.drop_index('ix_federation_outbox_due')
    op.drop_table('federation_outbox')
