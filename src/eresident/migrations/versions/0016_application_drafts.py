"""identity: the application being filled in section by section (one draft per applicant, the answers
encrypted at rest)

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-26 18:30:00
"""
import sqlalchemy as sa
from alembic import op

import eresident.kit.db

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('application_drafts',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('applicant_id', sa.Uuid(), nullable=False),
    sa.Column('answers_enc', sa.LargeBinary(), nullable=False),
    sa.Column('photo_document_id', sa.Uuid(), nullable=True),
    sa.Column('supporting_document_ids', sa.JSON(), nullable=False),
    sa.Column('updated_at', eresident.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['applicant_id'], ['applicants.id'],
                            name=op.f('fk_application_drafts_applicant_id_applicants')),
    sa.ForeignKeyConstraint(['photo_document_id'], ['documents.id'],
                            name=op.f('fk_application_drafts_photo_document_id_documents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_application_drafts')),
    sa.UniqueConstraint('applicant_id', name=op.f('uq_application_drafts_applicant_id'))
    )


def downgrade() -> None:
    op.drop_table('application_drafts')
