"""enterprise: a Chinese partner's signature on the articles of a joint venture (the signed PDF,
the certificate's subject and fingerprint); a Chinese citizen partner's ID number as a blind index

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-26 21:30:00
"""
import sqlalchemy as sa
from alembic import op

from eresident.kit.db import UTCDateTime

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'formation_partner_signatures',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('formation_id', sa.Uuid(), nullable=False),
        sa.Column('partner_key', sa.String(length=64), nullable=False),
        sa.Column('identifier', sa.String(length=18), nullable=False),
        sa.Column('name', sa.String(length=300), nullable=False),
        sa.Column('revision', sa.Integer(), nullable=False),
        sa.Column('document_sha256', sa.String(length=64), nullable=False),
        sa.Column('signed_document_id', sa.Uuid(), nullable=False),
        sa.Column('signed_sha256', sa.String(length=64), nullable=False),
        sa.Column('signer_subject', sa.Text(), nullable=False),
        sa.Column('signer_fingerprint', sa.String(length=64), nullable=False),
        sa.Column('issuer_subject', sa.Text(), nullable=False),
        sa.Column('signed_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(['formation_id'], ['formations.id'],
                                name=op.f('fk_formation_partner_signatures_formation_id_formations')),
        sa.ForeignKeyConstraint(['signed_document_id'], ['documents.id'],
                                name=op.f('fk_formation_partner_signatures_signed_document_id_documents')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_formation_partner_signatures')),
        sa.UniqueConstraint('formation_id', 'partner_key', 'document_sha256',
                            name=op.f('uq_formation_partner_signatures_formation_id_partner_key_document_sha256')),
    )
    with op.batch_alter_table('formation_parties', schema=None) as batch_op:
        batch_op.add_column(sa.Column('identifier_index', sa.String(length=64), nullable=True))
    with op.batch_alter_table('formation_partner_signatures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_formation_partner_signatures_formation_id'), ['formation_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('formation_parties', schema=None) as batch_op:
        batch_op.drop_column('identifier_index')
    with op.batch_alter_table('formation_partner_signatures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_formation_partner_signatures_formation_id'))
    op.drop_table('formation_partner_signatures')
