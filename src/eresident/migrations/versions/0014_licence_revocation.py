"""enterprise: licence revocation (when, why, the registrar's note) and the signed PDF of the
foreign-investment information report

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-26 15:00:00
"""
import sqlalchemy as sa
from alembic import op

import eresident.kit.db

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('licences', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revoked_at', eresident.kit.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('revocation_reason', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('revocation_note', sa.Text(), nullable=True))
    with op.batch_alter_table('formations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('report_pdf_document_id', sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_formations_report_pdf_document_id_documents'), 'documents',
                                    ['report_pdf_document_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('formations', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_formations_report_pdf_document_id_documents'), type_='foreignkey')
        batch_op.drop_column('report_pdf_document_id')
    with op.batch_alter_table('licences', schema=None) as batch_op:
        batch_op.drop_column('revocation_note')
        batch_op.drop_column('revocation_reason')
        batch_op.drop_column('revoked_at')
