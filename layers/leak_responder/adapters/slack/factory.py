"""Builds the Slack adapters from Settings. Imported lazily by the responder, at notify time."""

from __future__ import annotations

from typing import TYPE_CHECKING

from leak_responder.adapters.aws.slack_secrets import read_slack_secret
from leak_responder.adapters.slack.client import build_web_client
from leak_responder.adapters.slack.messages import MessageContext
from leak_responder.adapters.slack.notifier import SlackNotifier
from leak_responder.adapters.slack.updater import SlackMessageUpdater
from leak_responder.domain.errors import ConfigurationError, NotificationError, TransientError
from leak_responder.domain.model import Incident
from leak_responder.domain.ports import Accounts, NotificationReceipt, Secret
from leak_responder.settings import Settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider
    from slack_sdk.http_retry import RetryIntervalCalculator

# CloudFormation creates the token secret with this placeholder until someone puts the real one.
PLACEHOLDER_PREFIX = "REPLACE_ME"


def bot_token(settings: Settings, provider: SecretsProvider | None = None) -> Secret:
    if not settings.slack_bot_token_secret:
        if settings.slack_api_url:
            # A stand-in needs a token to be present, not a real one.
            return Secret("xoxb-standin")
        raise ConfigurationError("SLACK_BOT_TOKEN_SECRET is not set")
    token = read_slack_secret(settings.slack_bot_token_secret, provider=provider)
    if token.reveal().startswith(PLACEHOLDER_PREFIX):
        raise ConfigurationError("the Slack bot token secret still holds its placeholder")
    return token


class DeferredSlackNotifier:
    """The Notifier handed to the responder: reads the token on first notice, not at build time,
    and turns a missing or unreadable token into NotificationError (the notice stays pending)."""

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
        self._notifier: SlackNotifier | None = None

    def _real(self) -> SlackNotifier:
        if self._notifier is None:
            try:
                token = bot_token(self._settings, self._provider)
            except (ConfigurationError, TransientError) as exc:
                raise NotificationError(f"Slack is not usable yet: {exc}") from exc
            s = self._settings
            client = build_web_client(
                token, base_url=s.slack_api_url, background=True, interval=self._interval
            )
            self._notifier = SlackNotifier(
                client,
                self._accounts,
                security_channel=s.slack_security_channel,
                ctx=MessageContext(
                    home_account_id=self._accounts.home_account_id,
                    console_url=s.console_url,
                    owner_tag_names=(s.owner_slack_tag, s.owner_email_tag),
                ),
                owner_slack_tag=s.owner_slack_tag,
                owner_email_tag=s.owner_email_tag,
            )
        return self._notifier

    def notify(self, incident: Incident) -> NotificationReceipt | None:
        return self._real().notify(incident)

    def remind(self, incident: Incident, waited_hours: float) -> None:
        self._real().remind(incident, waited_hours)

    def escalate(self, incident: Incident, waited_hours: float) -> str | None:
        return self._real().escalate(incident, waited_hours)


def build_slack_notifier(
    settings: Settings,
    accounts: Accounts,
    *,
    provider: SecretsProvider | None = None,
    interval: RetryIntervalCalculator | None = None,
) -> DeferredSlackNotifier:
    """The Notifier (and reminder sender) for the responder and the reminder function."""
    return DeferredSlackNotifier(settings, accounts, provider=provider, interval=interval)


def build_message_updater(
    settings: Settings, token: Secret, *, home_account_id: str = ""
) -> SlackMessageUpdater:
    """The approval path's updater: no retries, short timeouts (Slack waits 3 s at most)."""
    client = build_web_client(token, base_url=settings.slack_api_url, background=False)
    return SlackMessageUpdater(
        client,
        security_channel=settings.slack_security_channel,
        ctx=MessageContext(
            home_account_id=home_account_id,
            console_url=settings.console_url,
            owner_tag_names=(settings.owner_slack_tag, settings.owner_email_tag),
        ),
        api_base_url=settings.slack_api_url,
    )
