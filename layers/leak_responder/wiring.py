"""The one place that builds each function's dependencies from Settings.

Nothing here calls AWS or Slack: clients, secrets and the Slack notifier are built on first use,
so a cold start spends nothing before the first record, and the responder's path to
UpdateAccessKey loads neither Secrets Manager's client nor slack_sdk.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from botocore.config import Config

from leak_responder.adapters.aws.clients import ClientFactory
from leak_responder.adapters.aws.cloudtrail import CloudTrailSessionLocator
from leak_responder.adapters.aws.dlq import DeadLetterQueue
from leak_responder.adapters.aws.incidents import DynamoIncidentStore
from leak_responder.adapters.aws.resume_queue import SqsResumeQueue
from leak_responder.adapters.aws.secrets import SecretsManagerStore
from leak_responder.adapters.aws.sts import StsAccounts
from leak_responder.adapters.clock import UtcClock
from leak_responder.adapters.notifiers import DeferredSlackNotifier, NoSlackNotifier
from leak_responder.domain.approval import ApprovalDeps, ApprovalPolicy
from leak_responder.domain.containment import ContainmentDeps
from leak_responder.domain.errors import ConfigurationError
from leak_responder.domain.ports import Notifier, Observer, ReminderNotifier, Secret, ignore
from leak_responder.domain.protection import Policy
from leak_responder.domain.reminder import ReminderDeps, ReminderPolicy
from leak_responder.responder import Responder
from leak_responder.settings import Settings

if TYPE_CHECKING:
    from leak_responder.approval_endpoint import ApprovalEndpoint

__all__ = [
    "APPROVAL_CLIENT_CONFIG",
    "ClientFactory",
    "Lazy",
    "build_accounts",
    "build_approval",
    "build_containment",
    "build_reminder",
    "build_responder",
    "notifier_for",
]

# Slack waits 3 s for the approval endpoint: one quick retry for a dropped connection, no long
# back-off.
APPROVAL_CLIENT_CONFIG = Config(
    connect_timeout=1, read_timeout=2, retries={"mode": "standard", "max_attempts": 2}
)

T = TypeVar("T")


class Lazy(Generic[T]):
    """A value built on first use and kept. Attribute access goes to the value, so a ``Lazy``
    boto3 client can be handed to an adapter in place of the client itself."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._value: T | None = None

    def get(self) -> T:
        if self._value is None:
            self._value = self._build()
        return self._value

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)


def notifier_for(settings: Settings, accounts: StsAccounts) -> ReminderNotifier:
    """Slack when a token secret or an API URL is configured; otherwise notices stay pending."""
    if settings.slack_bot_token_secret or settings.slack_api_url:
        return DeferredSlackNotifier(settings, accounts)
    return NoSlackNotifier()


def build_accounts(settings: Settings, factory: ClientFactory) -> StsAccounts:
    home = settings.home_account_id or str(factory("sts").get_caller_identity()["Account"])
    return StsAccounts(factory, home, settings.member_role_name)


def build_containment(
    settings: Settings,
    accounts: StsAccounts,
    observe: Observer = ignore,
    notifier: Notifier | None = None,
) -> ContainmentDeps:
    home = accounts.home_account_id
    return ContainmentDeps(
        accounts=accounts,
        sessions=CloudTrailSessionLocator(lambda account: accounts.client("cloudtrail", account)),
        secrets=SecretsManagerStore(
            Lazy(lambda: accounts.client("secretsmanager", home)),
            settings.secret_prefix,
            settings.secret_kms_key_id,
            settings.security_role_arn,
        ),
        incidents=DynamoIncidentStore(
            Lazy(lambda: accounts.client("dynamodb", home)), settings.incidents_table
        ),
        notifier=notifier or notifier_for(settings, accounts),
        clock=UtcClock(),
        policy=Policy(settings.dry_run, settings.protected_principals),
        observe=observe,
    )


def build_responder(settings: Settings, factory: ClientFactory | None = None) -> Responder:
    if not settings.dlq_url:
        raise ConfigurationError("DLQ_URL is not set")
    accounts = build_accounts(settings, factory or ClientFactory(region=settings.region))
    sqs = Lazy(lambda: accounts.client("sqs", accounts.home_account_id))
    resumes = None
    if settings.resume_queue_url:
        if not settings.resume_queue_arn:
            raise ConfigurationError("RESUME_QUEUE_URL is set without RESUME_QUEUE_ARN")
        resumes = SqsResumeQueue(sqs, settings.resume_queue_url, settings.watched_queue_urls)
    return Responder(
        build_containment(settings, accounts),
        DeadLetterQueue(sqs, settings.dlq_url),
        settings.max_receive_count,
        scanner_queue_arn=settings.scanner_queue_arn,
        guardduty_severity_threshold=settings.guardduty_severity_threshold,
        resume_queue=resumes,
        resume_queue_arn=settings.resume_queue_arn,
    )


def build_reminder(
    settings: Settings, factory: ClientFactory | None = None, observe: Observer = ignore
) -> ReminderDeps:
    accounts = build_accounts(settings, factory or ClientFactory(region=settings.region))
    return ReminderDeps(
        incidents=DynamoIncidentStore(
            Lazy(lambda: accounts.client("dynamodb", accounts.home_account_id)),
            settings.incidents_table,
        ),
        notifier=notifier_for(settings, accounts),
        accounts=accounts,
        clock=UtcClock(),
        policy=ReminderPolicy.from_hours(
            settings.reminder_after_hours, settings.escalate_after_hours
        ),
        observe=observe,
    )


def build_approval(
    settings: Settings, factory: ClientFactory | None = None, observe: Observer = ignore
) -> ApprovalEndpoint:
    """Every AWS client here has short timeouts and at most one retry (Slack's 3 s)."""
    # Imported here, not at the top: the responder imports this module too, and must load
    # neither slack_sdk (the endpoint's) nor Powertools Parameters before its key is Inactive.
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from leak_responder.adapters.aws.slack_secrets import read_slack_secret
    from leak_responder.approval_endpoint import ApprovalEndpoint, MessageUpdaters

    make = factory or ClientFactory(region=settings.region, config=APPROVAL_CLIENT_CONFIG)
    accounts = build_accounts(settings, make)
    provider = Lazy(lambda: SecretsProvider(boto3_client=make("secretsmanager", None)))

    def signing_secret() -> Secret:
        return read_slack_secret(settings.slack_signing_secret_secret, provider=provider.get())

    deps = ApprovalDeps(
        incidents=DynamoIncidentStore(
            Lazy(lambda: make("dynamodb", None)), settings.incidents_table
        ),
        accounts=accounts,
        clock=UtcClock(),
        policy=ApprovalPolicy(approvers=settings.approvers, team_id=settings.slack_team_id),
        observe=observe,
    )
    updaters = MessageUpdaters(settings, accounts.home_account_id, provider.get)
    return ApprovalEndpoint(deps, signing_secret, updaters.current)
