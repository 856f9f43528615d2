"""Writing to an incident under optimistic locking, and delivering its notice exactly once.

Shared by containment, the reminder and the approval workflow: one loop for "apply a change to
the freshest copy until the conditional write wins"; claims with a lease for work that must not
run twice at once (creating a replacement key, sending a notice, acting on a click); and one
claim-send-record sequence for notices, so a redelivery racing a reminder run cannot post the
same notice twice.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TypeVar

from leak_responder.domain.errors import ConflictError, NotificationError, TransientError
from leak_responder.domain.model import Incident, NotificationStatus, Step, iso, parse_iso
from leak_responder.domain.ports import IncidentStore, Notifier

MAX_WRITE_ATTEMPTS = 8
# A notice claimed less than this long ago is being sent by someone else. Longer than any
# Slack call with its retries; shorter than the reminder's period, so a crashed sender's claim
# never blocks the next run.
NOTIFY_LEASE = timedelta(minutes=2)

Change = Callable[[Incident], Incident | None]
T = TypeVar("T")


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


# Back-off between tries of a write that records something already done outside (a key created,
# a message posted): about 4 s in all, well inside the responder's timeout, and longer than a
# DynamoDB throttling burst usually lasts.
PATIENT_DELAYS = (0.25, 0.5, 1.0, 2.0)
Pause = Callable[[float], None]


def record_done_outside(
    store: IncidentStore, incident: Incident, change: Change, pause: Pause = time.sleep
) -> Incident:
    """``update_incident``, tried again through transient store errors (throttling, a timeout).

    For the writes that record what already happened in IAM or Slack. Losing one of those
    because the table was briefly throttled costs more than the wait: an Active key with no
    secret anywhere, or a second copy of a notice once the lease has expired. TransientError
    (or ConflictError) only after the last try.
    """
    return patiently(lambda: update_incident(store, incident, change), pause)


def patiently(action: Callable[[], T], pause: Pause = time.sleep) -> T:
    """``action``, tried again through transient errors (throttling, a timeout) over about 4 s:
    for what already happened in IAM or Slack, which a give-up would strand."""
    for delay in PATIENT_DELAYS:
        try:
            return action()
        except TransientError:
            pause(delay)
    return action()


@dataclass(frozen=True)
class Lease:
    """The outcome of :func:`take_lease`: the freshest copy, and whether the work is ours."""

    incident: Incident
    mine: bool  # this worker holds the lease and may do the work
    stale_since: datetime | None = None  # an earlier holder's lease that expired (it crashed)


def take_lease(
    store: IncidentStore,
    incident: Incident,
    name: str,
    now: datetime,
    lease: timedelta,
    finished: Callable[[Incident], bool],
    mark: Callable[[Incident], Incident] | None = None,
) -> Lease:
    """Take the lease ``name`` (kept in ``Incident.claims``) with a conditional write, unless the
    work is ``finished`` or another worker's lease is younger than ``lease``. ``mark`` changes
    the record in the same write, so what the lease promises is recorded even if its holder
    dies."""
    token = secrets.token_urlsafe(9)
    stale: list[datetime] = []

    def take(current: Incident) -> Incident | None:
        if finished(current):
            return None
        held = current.claims.get(name)
        if held:
            holder, _, taken_at = held.partition("|")
            since = parse_iso(taken_at)
            if holder != ABANDONED and now - since < lease:
                return None
            stale[:] = [since]
        taken = replace(current, claims={**current.claims, name: f"{token}|{iso(now)}"})
        return mark(taken) if mark else taken

    updated = update_incident(store, incident, take)
    mine = updated.claims.get(name, "").startswith(f"{token}|")
    return Lease(updated, mine, stale[0] if mine and stale else None)


# A lease whose holder gave up (a transient error) rather than died: free to take at once, and
# still saying since when the work was interrupted.
ABANDONED = "abandoned"


def abandoned(incident: Incident, name: str, held: Lease) -> Incident | None:
    """The lease ``held`` given up, if this worker still holds it (None: nothing to change)."""
    claim = incident.claims.get(name)
    if claim is None or not holds(incident, name, held):
        return None
    taken_at = claim.partition("|")[2]
    return replace(incident, claims={**incident.claims, name: f"{ABANDONED}|{taken_at}"})


def released(incident: Incident, name: str) -> Incident:
    return replace(incident, claims={k: v for k, v in incident.claims.items() if k != name})


def holds(incident: Incident, name: str, held: Lease) -> bool:
    """Whether ``incident`` still carries the claim taken as ``held``."""
    return incident.claims.get(name) == held.incident.claims.get(name)


@dataclass(frozen=True)
class Delivery:
    incident: Incident
    sent: bool = False
    failed: bool = False  # NotificationError: worth retrying soon
    skipped: bool = False  # already notified, or another worker holds a fresh claim


def deliver_notice(
    incident: Incident,
    store: IncidentStore,
    notifier: Notifier,
    now: datetime,
    pause: Pause = time.sleep,
) -> Delivery:
    """Lease the notice with a conditional write, send it, record the outcome.

    The outcome is recorded patiently (``record_done_outside``): once Slack has answered, a
    write lost to throttling would let the lease expire and the next delivery post it again.
    """
    # Pending and counted from the claim on: if this sender dies mid-send, the reminder still
    # sees a pending notice, and attempts that kill the process still count toward the cap.
    held = take_lease(
        store,
        incident,
        "notify",
        now,
        NOTIFY_LEASE,
        lambda i: i.done(Step.NOTIFIED),
        mark=lambda i: replace(
            i,
            notification_status=NotificationStatus.PENDING,
            notification_attempts=i.notification_attempts + 1,
        ),
    )
    if not held.mine:
        return Delivery(held.incident, skipped=True)
    failed = False
    try:
        receipt = notifier.notify(held.incident)
    except NotificationError:
        receipt, failed = None, True

    def record(current: Incident) -> Incident | None:
        if current.done(Step.NOTIFIED) or not holds(current, "notify", held):
            return None
        free = released(current, "notify")
        if receipt is None:
            return free
        return replace(
            free,
            steps={**current.steps, Step.NOTIFIED.value: iso(now)},
            notification_status=NotificationStatus.SENT,
            slack_channel=receipt.channel,
            slack_ts=receipt.ts,
            owner_slack_id=receipt.owner_slack_id,
            security_channel_ts=receipt.security_channel_ts,
        )

    recorded = record_done_outside(store, held.incident, record, pause)
    return Delivery(recorded, sent=receipt is not None, failed=failed)
