"""Settings, read once from the environment at the edge into a frozen object."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from leak_responder.domain.errors import ConfigurationError

_TRUE = {"1", "true", "yes", "on"}


def _csv(value: str | None) -> frozenset[str]:
    return frozenset(p.strip() for p in (value or "").split(",") if p.strip())


@dataclass(frozen=True)
class Settings:
    incidents_table: str
    region: str = "us-east-1"
    home_account_id: str = ""
    dlq_url: str | None = None
    max_receive_count: int = 5
    # The queue CI scanners may write to: records from it may only be scanner findings, so a
    # scanner principal cannot forge an AWS event (which can name any user or role).
    scanner_queue_arn: str | None = None
    # Deactivate first: where later steps go while reports wait, and the queues to count.
    resume_queue_url: str | None = None
    resume_queue_arn: str | None = None
    watched_queue_urls: tuple[str, ...] = ()
    dry_run: bool = False
    # GuardDutySeverityThreshold: Security Hub findings imported from GuardDuty below it are
    # not acted on, as the rules do not route them (the template's default, and normalise's).
    guardduty_severity_threshold: float = 4.0
    # User names, role names or ARNs that are never touched automatically (break-glass users,
    # the responder's own role); a match alerts instead.
    protected_principals: frozenset[str] = field(default_factory=frozenset)
    member_role_name: str | None = None
    secret_prefix: str = "leak-responder"  # noqa: S105 (a name prefix, not a secret)
    secret_kms_key_id: str | None = None
    security_role_arn: str | None = None
    # Slack (issue 4): names of Secrets Manager secrets, never the values themselves.
    slack_bot_token_secret: str | None = None
    slack_signing_secret_secret: str | None = None
    slack_api_url: str | None = None
    slack_security_channel: str | None = None
    slack_team_id: str | None = None
    approvers: frozenset[str] = field(default_factory=frozenset)
    owner_slack_tag: str = "slack-user-id"
    owner_email_tag: str = "email"
    reminder_after_hours: float = 24.0
    escalate_after_hours: float = 72.0
    console_url: str = "https://console.aws.amazon.com"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        table = env.get("INCIDENTS_TABLE")
        if not table:
            raise ConfigurationError("INCIDENTS_TABLE is not set")
        try:
            max_receive = int(env.get("MAX_RECEIVE_COUNT", "5"))
            reminder = float(env.get("REMINDER_AFTER_HOURS", "24"))
            escalate = float(env.get("ESCALATE_AFTER_HOURS", "72"))
        except ValueError as exc:
            raise ConfigurationError(f"numeric setting is not a number: {exc}") from exc
        guardduty_threshold = _finite(env, "GUARDDUTY_SEVERITY_THRESHOLD", "4")
        return cls(
            incidents_table=table,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            home_account_id=env.get("HOME_ACCOUNT_ID", ""),
            dlq_url=env.get("DLQ_URL") or None,
            max_receive_count=max_receive,
            scanner_queue_arn=env.get("SCANNER_QUEUE_ARN") or None,
            resume_queue_url=env.get("RESUME_QUEUE_URL") or None,
            resume_queue_arn=env.get("RESUME_QUEUE_ARN") or None,
            watched_queue_urls=tuple(sorted(_csv(env.get("WATCHED_QUEUE_URLS")))),
            dry_run=env.get("DRY_RUN", "false").strip().lower() in _TRUE,
            guardduty_severity_threshold=guardduty_threshold,
            protected_principals=_csv(env.get("PROTECTED_PRINCIPALS"))
            | _csv(env.get("OWN_ROLE_NAMES")),
            member_role_name=env.get("MEMBER_ROLE_NAME") or None,
            secret_prefix=env.get("SECRET_PREFIX", "leak-responder"),
            secret_kms_key_id=env.get("SECRET_KMS_KEY_ID") or None,
            security_role_arn=env.get("SECURITY_ROLE_ARN") or None,
            slack_bot_token_secret=env.get("SLACK_BOT_TOKEN_SECRET") or None,
            slack_signing_secret_secret=env.get("SLACK_SIGNING_SECRET_SECRET") or None,
            slack_api_url=env.get("SLACK_API_URL") or None,
            slack_security_channel=env.get("SLACK_SECURITY_CHANNEL") or None,
            slack_team_id=env.get("SLACK_TEAM_ID") or None,
            approvers=_csv(env.get("APPROVERS")),
            owner_slack_tag=env.get("OWNER_SLACK_TAG", "slack-user-id"),
            owner_email_tag=env.get("OWNER_EMAIL_TAG", "email"),
            reminder_after_hours=reminder,
            escalate_after_hours=escalate,
            console_url=env.get("CONSOLE_URL", "https://console.aws.amazon.com"),
        )


def _finite(env: Mapping[str, str], name: str, default: str) -> float:
    try:
        value = float(env.get(name, default))
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ConfigurationError(f"{name} is not a number")
    return value
