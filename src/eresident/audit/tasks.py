"""Jobs of the audit log, for the job runner: sign a checkpoint of the current tree."""

from __future__ import annotations

from eresident.audit import service
from eresident.audit.keys import load_checkpoint_key
from eresident.audit.models import AuditCheckpoint
from eresident.kit.context import NodeContext


def make_checkpoint(ctx: NodeContext, *, force: bool = False) -> AuditCheckpoint:
    """Sign and store a checkpoint of the log as it is now, in its own transaction. Cheap to call
    periodically: when the log has not grown it returns the latest checkpoint unchanged."""
    signer = load_checkpoint_key(ctx.settings)
    with ctx.database.session(write=True) as db:
        return service.create_checkpoint(db=db, signer=signer, now=ctx.clock.now(), force=force)
