"""Wiring for the scheduled reminder: Settings in, ReminderDeps out. Clients load on first use."""

from __future__ import annotations

from typing import Any

from leak_responder.adapters.aws.clients import ClientFactory
from leak_responder.adapters.aws.incidents import DynamoIncidentStore
from leak_responder.adapters.clock import UtcClock
from leak_responder.domain.errors import NotificationError
from leak_responder.domain.model import Incident
from leak_responder.domain.ports import NotificationReceipt
from leak_responder.domain.reminder import ReminderDeps, ReminderNotifier, ReminderPolicy
from leak_responder.settings import Settings
from leak_responder.wiring import build_accounts, slack_configured


class _NoSlack:
    """Slack is not configured: notices stay pending, reminders cannot be sent."""

    def notify(self, incident: Incident) -> NotificationReceipt | None:
        return None

    def remind(self, incident: Incident, waited_hours: float) -> None:
        raise NotificationError("Slack is not configured")

    def escalate(self, incident: Incident, waited_hours: float) -> str | None:
        raise NotificationError("Slack is not configured")


def build_reminder(
    settings: Settings, factory: ClientFactory | None = None, observe: Any = None
) -> ReminderDeps:
    accounts = build_accounts(settings, factory or ClientFactory(region=settings.region))
    notifier: ReminderNotifier
    if slack_configured(settings):
        from leak_responder.adapters.slack.factory import build_slack_notifier

        notifier = build_slack_notifier(settings, accounts)
    else:
        notifier = _NoSlack()
    extra: dict[str, Any] = {"observe": observe} if observe else {}
    return ReminderDeps(
        incidents=DynamoIncidentStore(
            accounts.client("dynamodb", accounts.home_account_id), settings.incidents_table
        ),
        notifier=notifier,
        accounts=accounts,
        clock=UtcClock(),
        policy=ReminderPolicy.from_hours(
            settings.reminder_after_hours, settings.escalate_after_hours
        ),
        **extra,
    )
