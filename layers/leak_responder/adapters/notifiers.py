"""The two notifiers the wiring chooses between: Slack, built when the first notice is due, or
none at all.

This module does not import slack_sdk: the responder holds a ``DeferredSlackNotifier`` from its
first invocation, and Slack's SDK loads only when a notice is sent, after the key is Inactive.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from leak_responder.domain.errors import LeakResponderError, NotificationError
from leak_responder.domain.model import Incident
from leak_responder.domain.ports import Accounts, NotificationReceipt, ReminderNotifier
from leak_responder.settings import Settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider
    from slack_sdk.http_retry import RetryIntervalCalculator


class NoSlackNotifier:
    """Slack is not configured: a notice is recorded as pending, and the reminder's nudges,
    which only Slack can carry, fail with NotificationError."""

    def notify(self, incident: Incident) -> NotificationReceipt | None:
        return None

    def remind(self, incident: Incident, waited_hours: float) -> None:
        raise NotificationError("Slack is not configured")

    def escalate(self, incident: Incident, waited_hours: float) -> str | None:
        raise NotificationError("Slack is not configured")


class DeferredSlackNotifier:
    """The Slack notifier, built on the first send: only then are slack_sdk imported and the bot
    token read. A token that cannot be read yet (a missing secret, its placeholder, a throttled
    read) becomes NotificationError, so the notice stays pending and the next send tries again
    instead of failing a containment that already happened."""

    def __init__(
        self,
        settings: Settings,
        accounts: Accounts,
        *,
        provider: SecretsProvider | None = None,
        interval: RetryIntervalCalculator | None = None,
    ) -> None:
        self._settings = settings
        self._accounts = accounts
        self._provider = provider
        self._interval = interval
        self._notifier: ReminderNotifier | None = None

    def _real(self) -> ReminderNotifier:
        if self._notifier is None:
            from leak_responder.adapters.slack.factory import build_slack_notifier

            try:
                self._notifier = build_slack_notifier(
                    self._settings,
                    self._accounts,
                    provider=self._provider,
                    interval=self._interval,
                )
            except LeakResponderError as exc:
                raise NotificationError(f"Slack is not usable yet: {exc}") from exc
        return self._notifier

    def notify(self, incident: Incident) -> NotificationReceipt | None:
        return self._real().notify(incident)

    def remind(self, incident: Incident, waited_hours: float) -> None:
        self._real().remind(incident, waited_hours)

    def escalate(self, incident: Incident, waited_hours: float) -> str | None:
        return self._real().escalate(incident, waited_hours)
