"""witnessing: peer cosignatures of our checkpoints, checkpoints witnessed from peers, alarms

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 10:10:00
"""
import sqlalchemy as sa
from alembic import op

import eresident.kit.db

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_alarms',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('role', sa.String(length=8), nullable=False),
    sa.Column('peer_region', sa.String(length=8), nullable=False),
    sa.Column('origin', sa.String(length=255), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('tree_size', sa.BigInteger(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('witnessed_note', sa.Text(), nullable=True),
    sa.Column('proof', sa.JSON(), nullable=True),
    sa.Column('detected_at', eresident.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_alarms'))
    )
    with op.batch_alter_table('audit_alarms', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_alarms_peer_region'), ['peer_region'], unique=False)

    op.create_table('audit_witnessed_checkpoints',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('peer_region', sa.String(length=8), nullable=False),
    sa.Column('origin', sa.String(length=255), nullable=False),
    sa.Column('tree_size', sa.BigInteger(), nullable=False),
    sa.Column('root_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('cosignature', sa.Text(), nullable=False),
    sa.Column('witnessed_at', eresident.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_witnessed_checkpoints')),
    sa.UniqueConstraint('peer_region', 'tree_size', name=op.f('uq_audit_witnessed_checkpoints_peer_region_tree_size'))
    )
    op.create_table('audit_cosignatures',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('checkpoint_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('witness_region', sa.String(length=8), nullable=False),
    sa.Column('timestamp', sa.BigInteger(), nullable=False),
    sa.Column('line', sa.Text(), nullable=False),
    sa.Column('received_at', eresident.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['checkpoint_id'], ['audit_checkpoints.id'], name=op.f('fk_audit_cosignatures_checkpoint_id_audit_checkpoints'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_cosignatures')),
    sa.UniqueConstraint('checkpoint_id', 'witness_region', name=op.f('uq_audit_cosignatures_checkpoint_id_witness_region'))
    )
    with op.batch_alter_table('audit_cosignatures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_cosignatures_checkpoint_id'), ['checkpoint_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('audit_cosignatures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_cosignatures_checkpoint_id'))

    op.drop_table('audit_cosignatures')
    op.drop_table('audit_witnessed_checkpoints')
    with op.batch_alter_table('audit_alarms', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_alarms_peer_region'))

    op.drop_table('audit_alarms')
