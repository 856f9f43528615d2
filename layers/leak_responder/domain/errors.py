"""The one exception tree. Adapters translate SDK errors into these with ``raise ... from exc``."""

from __future__ import annotations


class LeakResponderError(Exception):
    """Root of every error this project raises on purpose."""


class RejectedMessageError(LeakResponderError):
    """A message that can never succeed: it goes to the DLQ with ``reason`` and is not retried."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidKeyIdError(RejectedMessageError):
    """Not an access key ID of the form ``^(AKIA|ASIA)[A-Z0-9]{16}$``."""


class TransientError(LeakResponderError):
    """Throttling, timeouts, 5xx: retry the message later."""


class KeyNotFoundError(LeakResponderError):
    """The key (or the user named for it) does not exist in the account asked."""


class AccessDeniedError(LeakResponderError):
    """We lack permission: usually a key of another account, or a missing member role."""


class UnmodifiableEntityError(LeakResponderError):
    """IAM refuses to change this principal (IAM Identity Center and service-linked roles)."""


class KeyLimitError(LeakResponderError):
    """The user already has two access keys, so no replacement can be created."""


class ConflictError(LeakResponderError):
    """A conditional write lost a race: another worker already did this step."""


class IncidentNotFoundError(LeakResponderError):
    """No incident with that id."""


class NotificationError(LeakResponderError):
    """The notice could not be delivered (Slack down, rate limited); it stays pending."""


class ApprovalError(LeakResponderError):
    """An approval click that must be refused; ``reason`` is safe to show to the clicker."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConfigurationError(LeakResponderError):
    """Settings are missing or inconsistent."""
