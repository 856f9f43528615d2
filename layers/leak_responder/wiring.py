"""Builds the adapters from Settings at the edge. Clients are created lazily, on first use."""

from __future__ import annotations

import functools
from typing import Any

from leak_responder.adapters.aws.clients import ClientFactory
from leak_responder.adapters.aws.cloudtrail import CloudTrailSessionLocator
from leak_responder.adapters.aws.dlq import DeadLetterQueue
from leak_responder.adapters.aws.incidents import DynamoIncidentStore
from leak_responder.adapters.aws.secrets import SecretsManagerStore
from leak_responder.adapters.aws.sts import StsAccounts
from leak_responder.adapters.clock import UtcClock
from leak_responder.adapters.pending import LazyNotifier, PendingNotifier
from leak_responder.domain.containment import ContainmentDeps, Policy
from leak_responder.domain.errors import ConfigurationError
from leak_responder.domain.observe import Observer
from leak_responder.domain.ports import Notifier
from leak_responder.responder import Responder
from leak_responder.settings import Settings

__all__ = [
    "ClientFactory",
    "UtcClock",
    "build_accounts",
    "build_containment",
    "build_responder",
    "slack_configured",
]


def _slack_notifier(settings: Settings, accounts: StsAccounts) -> Notifier:
    # Imported here so that slack_sdk loads only once a notice is due, after deactivation.
    from leak_responder.adapters.slack.factory import build_slack_notifier

    return build_slack_notifier(settings, accounts)


def slack_configured(settings: Settings) -> bool:
    return bool(settings.slack_bot_token_secret or settings.slack_api_url)


def build_accounts(settings: Settings, factory: ClientFactory) -> StsAccounts:
    home = settings.home_account_id or _caller_account(factory)
    return StsAccounts(factory, home, settings.member_role_name)


def build_containment(
    settings: Settings,
    accounts: StsAccounts,
    observe: Observer | None = None,
    notifier: Notifier | None = None,
) -> ContainmentDeps:
    home = accounts.home_account_id
    if notifier is None:
        notifier = (
            LazyNotifier(functools.partial(_slack_notifier, settings, accounts))
            if slack_configured(settings)
            else PendingNotifier()
        )
    extra: dict[str, Any] = {"observe": observe} if observe else {}
    return ContainmentDeps(
        accounts=accounts,
        sessions=CloudTrailSessionLocator(lambda account: accounts.client("cloudtrail", account)),
        secrets=SecretsManagerStore(
            _Lazy(lambda: accounts.client("secretsmanager", home)),
            settings.secret_prefix,
            settings.secret_kms_key_id,
            settings.security_role_arn,
        ),
        incidents=DynamoIncidentStore(
            _Lazy(lambda: accounts.client("dynamodb", home)), settings.incidents_table
        ),
        notifier=notifier,
        clock=UtcClock(),
        policy=Policy(settings.dry_run, settings.protected_principals),
        **extra,
    )


def build_responder(settings: Settings, factory: ClientFactory | None = None) -> Responder:
    if not settings.dlq_url:
        raise ConfigurationError("DLQ_URL is not set")
    accounts = build_accounts(settings, factory or ClientFactory(region=settings.region))
    dlq = DeadLetterQueue(
        _Lazy(lambda: accounts.client("sqs", accounts.home_account_id)), settings.dlq_url
    )
    return Responder(
        build_containment(settings, accounts),
        dlq,
        settings.max_receive_count,
        scanner_queue_arn=settings.scanner_queue_arn,
    )


def _caller_account(factory: ClientFactory) -> str:
    return str(factory("sts").get_caller_identity()["Account"])


class _Lazy:
    """A client proxy that builds the client on first attribute access."""

    def __init__(self, build: Any) -> None:
        self._build = build
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            self._client = self._build()
        return getattr(self._client, name)
