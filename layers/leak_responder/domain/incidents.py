"""Writing to an incident under optimistic locking, and delivering its notice exactly once.

Shared by containment (step 9), the reminder and the approval workflow: one loop for "apply a
change to the freshest copy until the conditional write wins", and one claim-send-record
sequence for notices, so a redelivery racing a reminder run cannot post the same notice twice.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from leak_responder.domain.model import Incident, NotificationStatus, Step, iso, parse_iso
from leak_responder.domain.ports import IncidentStore, Notifier
from leak_responder.errors import ConflictError, NotificationError

MAX_WRITE_ATTEMPTS = 8
# A notice claimed less than this long ago is being sent by someone else. Longer than any
# Slack call with its retries; shorter than the reminder's period, so a crashed sender's claim
# never blocks the next run.
NOTIFY_LEASE = timedelta(minutes=2)

Change = Callable[[Incident], Incident | None]


def update_incident(
    store: IncidentStore, incident: Incident, change: Change, attempts: int = MAX_WRITE_ATTEMPTS
) -> Incident:
    """Apply ``change`` and save; on a lost race re-read and re-apply.

    ``change`` returns None when, on the copy it is given, there is nothing left to do; the
    copy is then returned unchanged. ConflictError if the record stays contended.
    """
    current = incident
    for _ in range(attempts):
        updated = change(current)
        if updated is None:
            return current
        try:
            return store.save(updated)
        except ConflictError:
            reloaded = store.get(current.account_id, current.key_id)
            if reloaded is None:
                return current
            current = reloaded
    raise ConflictError(f"incident {incident.pk} is contended")


@dataclass(frozen=True)
class Delivery:
    incident: Incident
    sent: bool = False
    failed: bool = False  # NotificationError: worth retrying soon
    skipped: bool = False  # already notified, or another worker holds a fresh claim


def deliver_notice(
    incident: Incident, store: IncidentStore, notifier: Notifier, now: datetime
) -> Delivery:
    """Claim the notice with a conditional write, send it, record the outcome."""
    token = secrets.token_urlsafe(9)

    def claim(current: Incident) -> Incident | None:
        if current.done(Step.NOTIFIED):
            return None
        if (
            current.notify_claim
            and current.notify_claimed_at
            and now - parse_iso(current.notify_claimed_at) < NOTIFY_LEASE
        ):
            return None
        return replace(
            current,
            notify_claim=token,
            notify_claimed_at=iso(now),
            notification_attempts=current.notification_attempts + 1,
        )

    claimed = update_incident(store, incident, claim)
    if claimed.notify_claim != token:
        return Delivery(claimed, skipped=True)
    failed = False
    try:
        receipt = notifier.notify(claimed)
    except NotificationError:
        receipt, failed = None, True

    def record(current: Incident) -> Incident | None:
        if current.done(Step.NOTIFIED) or current.notify_claim != token:
            return None
        released = replace(current, notify_claim=None, notify_claimed_at=None)
        if receipt is None:
            return replace(released, notification_status=NotificationStatus.PENDING)
        return replace(
            released,
            steps={**current.steps, Step.NOTIFIED.value: iso(now)},
            notification_status=NotificationStatus.SENT,
            slack_channel=receipt.channel,
            slack_ts=receipt.ts,
            owner_slack_id=receipt.owner_slack_id,
            security_channel_ts=receipt.security_channel_ts,
        )

    recorded = update_incident(store, claimed, record)
    return Delivery(recorded, sent=receipt is not None, failed=failed)
