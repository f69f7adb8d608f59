"""Coverage of a trace whose recorder lost events: one T003 from the header's losses.

The losses are beside the events (schema/losses.py), not in them: a buffer marker is no event,
so a trace with markers replays exactly as the same trace without them, plus this finding.
"""

from __future__ import annotations

from tdxray.model.divergence import Divergence
from tdxray.schema.losses import Loss

LOSS_LOCATION = "lost_events"  # what the text and Markdown reports pick the finding by
NAMED_MAX = 3  # markers named in the message; the rest are counted


def lost_finding(losses: tuple[Loss, ...]) -> Divergence:
    known = [loss.lost for loss in losses if loss.lost is not None]
    total = (f"{sum(known)} events" if len(known) == len(losses)
             else f"at least {sum(known)} events" if known else "an unknown number of events")
    named = "; ".join(loss.describe() for loss in losses[:NAMED_MAX])
    more = f"; {len(losses) - NAMED_MAX} more" if len(losses) > NAMED_MAX else ""
    first = losses[0]
    return Divergence(
        "T003", f"events lost: {total}, {len(losses)} buffer marker"
        f"{'s' if len(losses) > 1 else ''} ({named}{more}): the ring buffer overwrote events "
        "before they were read, any rule may have missed its evidence",
        seq=first.after_seq, location=LOSS_LOCATION)
