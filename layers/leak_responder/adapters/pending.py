"""Notifiers that do not talk to Slack themselves."""

from __future__ import annotations

from collections.abc import Callable

from leak_responder.domain.errors import LeakResponderError, NotificationError
from leak_responder.domain.model import Incident
from leak_responder.domain.ports import NotificationReceipt, Notifier


class PendingNotifier:
    """No channel configured: the notice is recorded as pending for a later run to deliver."""

    def notify(self, incident: Incident) -> NotificationReceipt | None:
        return None


class LazyNotifier:
    """Builds the real notifier on first use, so that Slack's SDK is imported after the key is
    already Inactive, never on the path to deactivation."""

    def __init__(self, factory: Callable[[], Notifier]) -> None:
        self._factory = factory
        self._notifier: Notifier | None = None

    def notify(self, incident: Incident) -> NotificationReceipt | None:
        if self._notifier is None:
            try:
                self._notifier = self._factory()
            except LeakResponderError as exc:
                # Misconfigured Slack must not fail a containment that already happened: the
                # notice stays pending and the next attempt builds the notifier again.
                raise NotificationError(f"notifier unavailable: {type(exc).__name__}") from exc
        return self._notifier.notify(incident)
