"""mutual recognition: recognitions of other regions' e-residents, the peers that recognised ours,
the keyed passport hashes per peer; e-residents of another region have no application here

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 09:30:00
"""
from alembic import op
import sqlalchemy as sa
import eresident.kit.db


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('peer_passport_digests',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('peer_region', sa.String(length=8), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('application_id', sa.Uuid(), nullable=False),
    sa.Column('source_index', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_peer_passport_digests_application_id_applications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_peer_passport_digests')),
    sa.UniqueConstraint('peer_region', 'application_id', name=op.f('uq_peer_passport_digests_peer_region_application_id'))
    )
    with op.batch_alter_table('peer_passport_digests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_peer_passport_digests_digest'), ['digest'], unique=False)

    op.create_table('recognition_peers',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('resident_id', sa.Uuid(), nullable=False),
    sa.Column('peer_region', sa.String(length=8), nullable=False),
    sa.Column('credential_id', sa.String(length=64), nullable=False),
    sa.Column('recorded_at', eresident.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_status_sent', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['resident_id'], ['e_residents.id'], name=op.f('fk_recognition_peers_resident_id_e_residents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recognition_peers')),
    sa.UniqueConstraint('resident_id', 'peer_region', name=op.f('uq_recognition_peers_resident_id_peer_region'))
    )
    with op.batch_alter_table('recognition_peers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recognition_peers_resident_id'), ['resident_id'], unique=False)

    op.create_table('recognitions',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('applicant_id', sa.Uuid(), nullable=False),
    sa.Column('resident_id', sa.Uuid(), nullable=False),
    sa.Column('home_region', sa.String(length=8), nullable=False),
    sa.Column('home_number', sa.String(length=32), nullable=False),
    sa.Column('credential_id', sa.String(length=64), nullable=False),
    sa.Column('holder_thumbprint', sa.String(length=64), nullable=False),
    sa.Column('status_list_uri', sa.String(length=500), nullable=False),
    sa.Column('status_index', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('family_name', sa.String(length=100), nullable=False),
    sa.Column('given_name', sa.String(length=200), nullable=False),
    sa.Column('nationality', sa.String(length=3), nullable=False),
    sa.Column('recognised_at', eresident.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_checked_at', eresident.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status_changed_at', eresident.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['applicant_id'], ['applicants.id'], name=op.f('fk_recognitions_applicant_id_applicants')),
    sa.ForeignKeyConstraint(['resident_id'], ['e_residents.id'], name=op.f('fk_recognitions_resident_id_e_residents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recognitions')),
    sa.UniqueConstraint('home_number', name=op.f('uq_recognitions_home_number')),
    sa.UniqueConstraint('resident_id', name=op.f('uq_recognitions_resident_id'))
    )
    with op.batch_alter_table('recognitions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recognitions_applicant_id'), ['applicant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_recognitions_last_checked_at'), ['last_checked_at'], unique=False)

    # A recognised e-resident of another region is an e_residents row without an application here.
    with op.batch_alter_table('e_residents', schema=None) as batch_op:
        batch_op.alter_column('application_id', existing_type=sa.Uuid(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM recognitions")
    op.execute("DELETE FROM e_residents WHERE application_id IS NULL")
    with op.batch_alter_table('e_residents', schema=None) as batch_op:
        batch_op.alter_column('application_id', existing_type=sa.Uuid(), nullable=False)

    with op.batch_alter_table('recognitions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recognitions_last_checked_at'))
        batch_op.drop_index(batch_op.f('ix_recognitions_applicant_id'))
    op.drop_table('recognitions')
    with op.batch_alter_table('recognition_peers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recognition_peers_resident_id'))
    op.drop_table('recognition_peers')
    with op.batch_alter_table('peer_passport_digests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_peer_passport_digests_digest'))
    op.drop_table('peer_passport_digests')
