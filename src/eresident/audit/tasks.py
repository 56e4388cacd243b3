"""Jobs of the audit log, for the job runner: sign a checkpoint of the current tree and send it
to the peers for witnessing."""

from __future__ import annotations

from eresident.audit import repository, service, witness
from eresident.audit.keys import load_checkpoint_key
from eresident.audit.models import AuditCheckpoint
from eresident.kit.context import NodeContext


def make_checkpoint(ctx: NodeContext, *, force: bool = False) -> AuditCheckpoint:
    """Sign and store a checkpoint of the log as it is now, in its own transaction, and queue it
    to every trusted peer in that transaction. Cheap to call periodically: when the log has not
    grown it returns the latest checkpoint unchanged (and sends nothing)."""
    signer = load_checkpoint_key(ctx.settings)
    with ctx.database.session(write=True) as db:
        repository.lock_head(db)  # first, so that `before` is the latest under the lock
        before = service.latest_checkpoint(db)
        made = service.create_checkpoint(db=db, signer=signer, now=ctx.clock.now(), force=force)
        if before is None or made.tree_size > before.tree_size:
            witness.announce(ctx=ctx, db=db, checkpoint=made)
        return made
