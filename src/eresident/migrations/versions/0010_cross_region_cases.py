"""cross-region cases: a case filed in one region and handled in another, and its shared history

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 12:00:00
"""
import sqlalchemy as sa
from alembic import op

import eresident.kit.db

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cross_region_cases',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('case_number', sa.String(length=32), nullable=False),
    sa.Column('service', sa.String(length=32), nullable=False),
    sa.Column('filed_region', sa.String(length=8), nullable=False),
    sa.Column('handling_region', sa.String(length=8), nullable=False),
    sa.Column('applicant_id', sa.Uuid(), nullable=False),
    sa.Column('e_resident_number', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.Column('subject_type', sa.String(length=32), nullable=True),
    sa.Column('subject_id', sa.Uuid(), nullable=True),
    sa.Column('filing', sa.JSON(), nullable=False),
    sa.Column('signatories', sa.JSON(), nullable=False),
    sa.Column('articles_sha256', sa.String(length=64), nullable=True),
    sa.Column('articles_document_id', sa.Uuid(), nullable=True),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('licence_document_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', eresident.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', eresident.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_at', eresident.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['applicant_id'], ['applicants.id'],
                            name=op.f('fk_cross_region_cases_applicant_id_applicants')),
    sa.ForeignKeyConstraint(['articles_document_id'], ['documents.id'],
                            name=op.f('fk_cross_region_cases_articles_document_id_documents')),
    sa.ForeignKeyConstraint(['licence_document_id'], ['documents.id'],
                            name=op.f('fk_cross_region_cases_licence_document_id_documents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cross_region_cases')),
    sa.UniqueConstraint('case_number', name=op.f('uq_cross_region_cases_case_number'))
    )
    with op.batch_alter_table('cross_region_cases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cross_region_cases_applicant_id'), ['applicant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cross_region_cases_handling_region'), ['handling_region'], unique=False)
        batch_op.create_index(batch_op.f('ix_cross_region_cases_subject_id'), ['subject_id'], unique=False)

    op.create_table('cross_region_case_events',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('case_id', sa.Uuid(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('at', eresident.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('region', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('what', sa.String(length=64), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cross_region_cases.id'],
                            name=op.f('fk_cross_region_case_events_case_id_cross_region_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cross_region_case_events')),
    sa.UniqueConstraint('case_id', 'seq', name=op.f('uq_cross_region_case_events_case_id_seq'))
    )
    with op.batch_alter_table('cross_region_case_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cross_region_case_events_case_id'), ['case_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('cross_region_case_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cross_region_case_events_case_id'))
    op.drop_table('cross_region_case_events')
    with op.batch_alter_table('cross_region_cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cross_region_cases_subject_id'))
        batch_op.drop_index(batch_op.f('ix_cross_region_cases_handling_region'))
        batch_op.drop_index(batch_op.f('ix_cross_region_cases_applicant_id'))
    op.drop_table('cross_region_cases')
