"""The sweep for what goes out to other systems and people: due webhook deliveries, alert digests, old events."""

from __future__ import annotations

from .alerts import alerts_digest_send
from .webhooks import events_prune, webhooks_deliver_due


def outbound_sweep() -> dict[str, int]:
    report = {f"webhooks_{k}": v for k, v in webhooks_deliver_due().items()}
    report["alerts_mailed"] = alerts_digest_send()
    report["events_pruned"] = events_prune()
    return {k: v for k, v in report.items() if v}
