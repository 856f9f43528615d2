"""The scheduled reminder: deliver pending notices, nudge owners, escalate to security.

For every incident awaiting action:

- its notice is pending (Slack was down, or no channel yet): deliver it, exactly once;
- its old key has waited for deletion longer than ``remind_after``: re-ping the owner, at most
  once per ``remind_after`` period (``reminded_at``);
- longer than ``escalate_after``: tell the security channel, once (``escalated_at``).

Each send is claimed first with a conditional write, so two overlapping runs (or a run racing a
redelivery to the responder) cannot send the same thing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from leak_responder.domain.errors import (
    AccessDeniedError,
    ConflictError,
    KeyNotFoundError,
    LeakResponderError,
    NotificationError,
)
from leak_responder.domain.incidents import deliver_notice, update_incident
from leak_responder.domain.model import (
    Incident,
    IncidentStatus,
    NotificationStatus,
    Step,
    iso,
    parse_iso,
)
from leak_responder.domain.ports import (
    Accounts,
    Clock,
    IncidentStore,
    Observer,
    ReminderNotifier,
    ignore,
)


@dataclass(frozen=True)
class ReminderPolicy:
    remind_after: timedelta = timedelta(hours=24)
    escalate_after: timedelta = timedelta(hours=72)
    # A notice nobody can receive (an unknown key, Slack misconfigured) is not retried forever.
    max_notify_attempts: int = 48

    @classmethod
    def from_hours(cls, remind_after: float, escalate_after: float) -> ReminderPolicy:
        return cls(timedelta(hours=remind_after), timedelta(hours=escalate_after))


@dataclass
class ReminderReport:
    delivered: list[str] = field(default_factory=list)
    reminded: list[str] = field(default_factory=list)
    escalated: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {
            "delivered": len(self.delivered),
            "reminded": len(self.reminded),
            "escalated": len(self.escalated),
            "failed": len(self.failed),
            "skipped": len(self.skipped),
            "closed": len(self.closed),
        }


@dataclass(frozen=True)
class ReminderDeps:
    incidents: IncidentStore
    notifier: ReminderNotifier
    clock: Clock
    policy: ReminderPolicy = field(default_factory=ReminderPolicy)
    observe: Observer = ignore
    # To notice an old key deleted outside leak-responder (the console, a script); without it
    # such incidents are reminded about until someone clicks Delete.
    accounts: Accounts | None = None


def run_reminders(deps: ReminderDeps) -> ReminderReport:
    report = ReminderReport()
    for incident in deps.incidents.awaiting_action():
        try:
            _follow_up(incident, deps, report)
        except LeakResponderError as exc:
            # One bad incident must not starve the others; the next run tries again.
            deps.observe(
                "reminder failed", incident_id=incident.incident_id, error=type(exc).__name__
            )
            report.failed.append(incident.incident_id)
    return report


def _follow_up(incident: Incident, deps: ReminderDeps, report: ReminderReport) -> None:
    if incident.notification_status == NotificationStatus.PENDING and not incident.done(
        Step.NOTIFIED
    ):
        _deliver(incident, deps, report)
        return
    if incident.status != IncidentStatus.CONTAINED or not incident.slack_ts:
        return
    if _deleted_elsewhere(incident, deps, report):
        return
    now = deps.clock.now()
    since_value = incident.deactivated_at or incident.created_at
    waited = now - parse_iso(since_value)
    hours = waited.total_seconds() / 3600
    policy = deps.policy
    if waited >= policy.escalate_after and not incident.escalated_at:
        incident = _escalate(incident, deps, report, now, hours)
    if waited >= policy.remind_after and (
        not incident.reminded_at or now - parse_iso(incident.reminded_at) >= policy.remind_after
    ):
        _remind(incident, deps, report, now, hours)


def _deleted_elsewhere(incident: Incident, deps: ReminderDeps, report: ReminderReport) -> bool:
    """The old key is gone though nobody clicked Delete: close the incident, stop reminding."""
    if deps.accounts is None or not incident.user_name:
        return False
    try:
        keys = deps.accounts.key_admin(incident.account_id).list_keys(incident.user_name)
    except KeyNotFoundError:
        keys = []  # the user is gone, and the key with it
    except AccessDeniedError:
        return False  # a member account we cannot reach now: keep reminding
    if any(k.key_id == incident.key_id for k in keys):
        return False
    now = iso(deps.clock.now())

    def close(current: Incident) -> Incident | None:
        if current.status != IncidentStatus.CONTAINED:
            return None
        entry = {"at": now, "by": "leak-responder reminder", "action": "deleted elsewhere"}
        return replace(
            current,
            status=IncidentStatus.DELETED,
            closed_at=now,
            closed_by="outside leak-responder",
            audit=(*current.audit, entry),
        )

    _update(deps, incident, close)
    deps.observe("old key deleted outside leak-responder", incident_id=incident.incident_id)
    report.closed.append(incident.incident_id)
    return True


def _save_if_unchanged(deps: ReminderDeps, incident: Incident, **changes: Any) -> Incident | None:
    """Write ``changes`` only if nobody wrote since we read; None if we lost the race."""
    try:
        return deps.incidents.save(replace(incident, **changes))
    except ConflictError:
        return None


def _update(
    deps: ReminderDeps, incident: Incident, change: Callable[[Incident], Incident | None]
) -> Incident:
    return update_incident(deps.incidents, incident, change)


def _deliver(incident: Incident, deps: ReminderDeps, report: ReminderReport) -> None:
    if incident.notification_attempts >= deps.policy.max_notify_attempts:
        report.skipped.append(incident.incident_id)
        return
    delivery = deliver_notice(incident, deps.incidents, deps.notifier, deps.clock.now())
    if delivery.failed:
        deps.observe("notice still pending", incident_id=incident.incident_id)
        report.failed.append(incident.incident_id)
    elif delivery.sent:
        deps.observe("pending notice delivered", incident_id=incident.incident_id)
        report.delivered.append(incident.incident_id)
    else:
        report.skipped.append(incident.incident_id)


def _remind(
    incident: Incident, deps: ReminderDeps, report: ReminderReport, now: datetime, hours: float
) -> None:
    previous = incident.reminded_at
    claimed = _save_if_unchanged(deps, incident, reminded_at=iso(now))
    if claimed is None:
        report.skipped.append(incident.incident_id)
        return
    try:
        deps.notifier.remind(claimed, hours)
    except NotificationError:
        # Give the period back, so the next run tries again rather than waiting a whole period.
        _update(deps, claimed, lambda c: replace(c, reminded_at=previous))
        raise
    deps.observe("owner reminded", incident_id=incident.incident_id)
    report.reminded.append(incident.incident_id)


def _escalate(
    incident: Incident, deps: ReminderDeps, report: ReminderReport, now: datetime, hours: float
) -> Incident:
    claimed = _save_if_unchanged(deps, incident, escalated_at=iso(now))
    if claimed is None:
        report.skipped.append(incident.incident_id)
        # Someone else moved it; re-read so the reminder below works on the current version.
        return deps.incidents.get_by_id(incident.incident_id)
    try:
        new_copy_ts = deps.notifier.escalate(claimed, hours)
    except NotificationError:
        _update(deps, claimed, lambda c: replace(c, escalated_at=None))
        raise
    if new_copy_ts and not claimed.security_channel_ts:
        claimed = _update(
            deps,
            claimed,
            lambda c: (
                None if c.security_channel_ts else replace(c, security_channel_ts=new_copy_ts)
            ),
        )
    deps.observe("escalated to security", incident_id=incident.incident_id)
    report.escalated.append(incident.incident_id)
    return claimed
