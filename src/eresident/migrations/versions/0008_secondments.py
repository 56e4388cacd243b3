"""cadre exchange: secondments out (home) and in (host), secondee identities, used vouching credentials

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 10:00:00
"""
import sqlalchemy as sa
from alembic import op

import eresident.kit.db

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('secondee_credentials_used',
    sa.Column('jti', sa.String(length=64), nullable=False),
    sa.Column('secondment_id', sa.Uuid(), nullable=False),
    sa.Column('used_at', eresident.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('jti', name=op.f('pk_secondee_credentials_used'))
    )
    with op.batch_alter_table('secondee_credentials_used', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_secondee_credentials_used_secondment_id'), ['secondment_id'], unique=False)

    op.create_table('secondees',
    sa.Column('official_id', sa.Uuid(), nullable=False),
    sa.Column('home_region', sa.String(length=8), nullable=False),
    sa.Column('home_official_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', eresident.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['official_id'], ['officials.id'], name=op.f('fk_secondees_official_id_officials'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('official_id', name=op.f('pk_secondees')),
    sa.UniqueConstraint('home_region', 'home_official_id', name=op.f('uq_secondees_home_region_home_official_id'))
    )
    op.create_table('secondments_in',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('home_region', sa.String(length=8), nullable=False),
    sa.Column('home_official_id', sa.String(length=64), nullable=False),
    sa.Column('home_username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('term_start', eresident.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('term_end', eresident.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('host_roles', sa.JSON(), nullable=False),
    sa.Column('department', sa.String(length=200), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('received_at', eresident.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('answered_by', sa.String(length=64), nullable=True),
    sa.Column('answered_at', eresident.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('answer_note', sa.Text(), nullable=True),
    sa.Column('withdrawn_at', eresident.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('withdraw_reason', sa.Text(), nullable=True),
    sa.Column('secondee_official_id', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['secondee_official_id'], ['officials.id'], name=op.f('fk_secondments_in_secondee_official_id_officials')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_secondments_in'))
    )
    with op.batch_alter_table('secondments_in', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_secondments_in_home_region'), ['home_region'], unique=False)

    op.create_table('secondments_out',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('official_id', sa.Uuid(), nullable=False),
    sa.Column('host_region', sa.String(length=8), nullable=False),
    sa.Column('term_start', eresident.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('term_end', eresident.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('host_roles', sa.JSON(), nullable=False),
    sa.Column('department', sa.String(length=200), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('proposed_by', sa.String(length=64), nullable=False),
    sa.Column('proposed_at', eresident.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('answered_at', eresident.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('answer_note', sa.Text(), nullable=True),
    sa.Column('withdrawn_at', eresident.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('withdraw_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['official_id'], ['officials.id'], name=op.f('fk_secondments_out_official_id_officials')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_secondments_out'))
    )
    with op.batch_alter_table('secondments_out', schema=None) as batch_op:
        batch_op.create_index('ix_secondments_out_official', ['official_id', 'host_region'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('secondments_out', schema=None) as batch_op:
        batch_op.drop_index('ix_secondments_out_official')

    op.drop_table('secondments_out')
    with op.batch_alter_table('secondments_in', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_secondments_in_home_region'))

    op.drop_table('secondments_in')
    op.drop_table('secondees')
    with op.batch_alter_table('secondee_credentials_used', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_secondee_credentials_used_secondment_id'))

    op.drop_table('secondee_credentials_used')
