"""enterprise: signatures on the articles made with the signer's own holder key (the method, the
public key, the single-use nonce of the signing input)

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-26 18:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('formation_signatures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('method', sa.String(length=16), server_default='node', nullable=False))
        batch_op.add_column(sa.Column('holder_jwk', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('nonce', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_formation_signatures_nonce'), ['nonce'])


def downgrade() -> None:
    with op.batch_alter_table('formation_signatures', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_formation_signatures_nonce'), type_='unique')
        batch_op.drop_column('nonce')
        batch_op.drop_column('holder_jwk')
        batch_op.drop_column('method')
