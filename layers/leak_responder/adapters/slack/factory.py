"""Builds the Slack adapters from Settings. Imports slack_sdk: the responder and the reminder reach
it through ``adapters.notifiers.DeferredSlackNotifier``, when a notice is due."""

from __future__ import annotations

from typing import TYPE_CHECKING

from leak_responder.adapters.aws.slack_secrets import read_slack_secret
from leak_responder.adapters.slack.client import build_web_client
from leak_responder.adapters.slack.messages import MessageContext
from leak_responder.adapters.slack.notifier import SlackNotifier
from leak_responder.adapters.slack.updater import SlackMessageUpdater
from leak_responder.domain.errors import ConfigurationError
from leak_responder.domain.ports import Accounts, Secret
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


def build_slack_notifier(
    settings: Settings,
    accounts: Accounts,
    *,
    provider: SecretsProvider | None = None,
    interval: RetryIntervalCalculator | None = None,
) -> SlackNotifier:
    """The Notifier (and reminder sender) of the responder and the reminder function. Reads the
    bot token now: call it when a notice is due (``adapters.notifiers.DeferredSlackNotifier``)."""
    token = bot_token(settings, provider)
    client = build_web_client(
        token, base_url=settings.slack_api_url, background=True, interval=interval
    )
    return SlackNotifier(
        client,
        accounts,
        security_channel=settings.slack_security_channel,
        ctx=_message_context(settings, accounts.home_account_id),
        owner_slack_tag=settings.owner_slack_tag,
        owner_email_tag=settings.owner_email_tag,
    )


def _message_context(settings: Settings, home_account_id: str) -> MessageContext:
    return MessageContext(
        home_account_id=home_account_id,
        console_url=settings.console_url,
        owner_tag_names=(settings.owner_slack_tag, settings.owner_email_tag),
    )


def build_message_updater(
    settings: Settings, token: Secret, *, home_account_id: str = ""
) -> SlackMessageUpdater:
    """The approval path's updater: no retries, short timeouts (Slack waits 3 s at most)."""
    client = build_web_client(token, base_url=settings.slack_api_url, background=False)
    return SlackMessageUpdater(
        client,
        security_channel=settings.slack_security_channel,
        ctx=_message_context(settings, home_account_id),
        api_base_url=settings.slack_api_url,
    )
