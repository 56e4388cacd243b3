"""workflow: a worklist row's id derived from its case, step instance and region (uuid5), so a
command rewrites only the rows that changed (workflow.service.item_id)

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-27 00:40:00
"""
import uuid

import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

_items = sa.table('work_items', sa.column('id', sa.Uuid()), sa.column('case_id', sa.Uuid()),
                  sa.column('instance', sa.String()), sa.column('region', sa.String()))


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(_items.c.id, _items.c.case_id, _items.c.instance, _items.c.region)).all()
    for old, case_id, instance, region in rows:
        new = uuid.uuid5(case_id, f"{instance}/{region or ''}")  # = workflow.service.item_id
        if new != old:
            bind.execute(sa.update(_items).where(_items.c.id == old).values(id=new))


def downgrade() -> None:
    pass  # random ids and derived ids are both valid ids: nothing to undo
