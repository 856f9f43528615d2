"""The approval endpoint behind the Function URL: verify, parse, act, update the message.

Slack waits 3 seconds for an answer, so every AWS client here has short timeouts and at most one
retry, and the Slack client has none: a failed message update is logged, not retried, because
the click has already taken effect and the next click (or the reminder) repairs the message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from botocore.config import Config

from leak_responder.adapters.aws.clients import ClientFactory
from leak_responder.adapters.aws.incidents import DynamoIncidentStore
from leak_responder.adapters.aws.slack_secrets import read_slack_secret
from leak_responder.adapters.aws.sts import StsAccounts
from leak_responder.adapters.clock import UtcClock
from leak_responder.adapters.slack.factory import bot_token, build_message_updater
from leak_responder.adapters.slack.interactivity import (
    BadSignatureError,
    Interaction,
    InvalidRequestError,
    headers_of,
    http_response,
    parse_interaction,
    raw_body,
    verify_signature,
)
from leak_responder.adapters.slack.updater import SlackMessageUpdater
from leak_responder.domain.approval import (
    ApprovalDeps,
    ApprovalPolicy,
    ApprovalRefusedError,
    ApprovalResult,
    ApprovalUnavailableError,
    UnauthorisedClickError,
    UnknownIncidentError,
    handle_click,
)
from leak_responder.domain.errors import ApprovalError, ConfigurationError, TransientError
from leak_responder.domain.ports import Secret
from leak_responder.observability import logger
from leak_responder.settings import Settings

# Inside Slack's 3 s: one quick retry for a dropped connection, no long back-off.
APPROVAL_CLIENT_CONFIG = Config(
    connect_timeout=1, read_timeout=2, retries={"mode": "standard", "max_attempts": 2}
)

_STATUS_FOR: tuple[tuple[type[ApprovalError], int], ...] = (
    (UnauthorisedClickError, 403),
    (UnknownIncidentError, 404),
    (ApprovalRefusedError, 409),
    (ApprovalUnavailableError, 503),
)


@dataclass
class ApprovalEndpoint:
    settings: Settings
    deps: ApprovalDeps
    signing_secret: Callable[[], Secret]
    updater: Callable[[], SlackMessageUpdater]

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        try:
            body = raw_body(event)
        except InvalidRequestError as exc:
            return http_response(400, {"error": str(exc)})
        try:
            secret = self.signing_secret()
        except (ConfigurationError, TransientError) as exc:
            # Never fall back to accepting unsigned requests.
            logger.error("signing secret unavailable", extra={"error": type(exc).__name__})
            return http_response(
                503 if isinstance(exc, TransientError) else 500, {"error": "unavailable"}
            )
        try:
            verify_signature(body, headers_of(event), secret)
        except BadSignatureError as exc:
            logger.warning("request refused", extra={"reason": str(exc)})
            return http_response(401, {"error": "invalid signature"})
        try:
            interaction = parse_interaction(body)
        except InvalidRequestError as exc:
            return http_response(400, {"error": str(exc)})
        return self._act(interaction)

    def _act(self, interaction: Interaction) -> dict[str, Any]:
        click = interaction.click
        try:
            result = handle_click(click, self.deps)
        except ApprovalError as exc:
            status = next((s for t, s in _STATUS_FOR if isinstance(exc, t)), 409)
            logger.warning(
                "click refused",
                extra={"action": click.action.value, "user": click.user_id, "status": status},
            )
            self._tell(interaction, f":no_entry: {exc.reason}")
            return http_response(
                status,
                {"response_type": "ephemeral", "replace_original": False, "text": exc.reason},
            )
        logger.info(
            "click handled",
            extra={
                "action": click.action.value,
                "user": click.user_id,
                "incident_id": result.incident.incident_id,
                "changed": result.changed,
            },
        )
        self._show(interaction, result)
        return http_response(
            200,
            {
                "response_type": "ephemeral",
                "replace_original": False,
                "text": result.message,
                "status": result.incident.status.value,
                "changed": result.changed,
                "replacement_used": result.replacement_used,
            },
        )

    def _show(self, interaction: Interaction, result: ApprovalResult) -> None:
        try:
            updater = self.updater()
        except (ConfigurationError, TransientError) as exc:
            logger.error("cannot update slack message", extra={"error": type(exc).__name__})
            return
        # Also on a repeated click: it repairs a message whose first update was lost.
        updater.show_outcome(
            result.incident,
            result.message,
            clicked=interaction.clicked,
            response_url=interaction.response_url,
        )
        if not result.changed:
            updater.tell_clicker(interaction.response_url, result.message)

    def _tell(self, interaction: Interaction, text: str) -> None:
        try:
            self.updater().tell_clicker(interaction.response_url, text)
        except (ConfigurationError, TransientError) as exc:
            logger.error("cannot answer the clicker", extra={"error": type(exc).__name__})


def build_approval_endpoint(
    settings: Settings, factory: Callable[[str, dict[str, str] | None], Any] | None = None
) -> ApprovalEndpoint:
    """Wire the endpoint. Nothing here calls AWS; clients and secrets load on first use."""
    make = factory or ClientFactory(region=settings.region, config=APPROVAL_CLIENT_CONFIG)
    home = settings.home_account_id or str(make("sts", None).get_caller_identity()["Account"])
    accounts = StsAccounts(make, home, settings.member_role_name)
    provider_cache: dict[str, SecretsProvider] = {}
    updater_cache: dict[str, SlackMessageUpdater] = {}

    def provider() -> SecretsProvider:
        if "p" not in provider_cache:
            provider_cache["p"] = SecretsProvider(boto3_client=make("secretsmanager", None))
        return provider_cache["p"]

    def signing_secret() -> Secret:
        return read_slack_secret(settings.slack_signing_secret_secret, provider=provider())

    def updater() -> SlackMessageUpdater:
        # The token is cached by Powertools (max_age); the client is rebuilt only if it changed.
        token = bot_token(settings, provider())
        cached = updater_cache.get("u")
        if cached is None or cached.client.token != token.reveal():
            updater_cache["u"] = build_message_updater(settings, token, home_account_id=home)
        return updater_cache["u"]

    deps = ApprovalDeps(
        incidents=DynamoIncidentStore(
            _Lazy(lambda: make("dynamodb", None)), settings.incidents_table
        ),
        accounts=accounts,
        clock=UtcClock(),
        policy=ApprovalPolicy(approvers=settings.approvers, team_id=settings.slack_team_id),
        observe=_log,
    )
    return ApprovalEndpoint(settings, deps, signing_secret, updater)


def _log(event: str, /, **fields: Any) -> None:
    logger.info(event, extra=fields)


class _Lazy:
    """A client proxy that builds the client on first attribute access."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            self._client = self._build()
        return getattr(self._client, name)
