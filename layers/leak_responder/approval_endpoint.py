"""The approval endpoint behind the Function URL: verify, parse, act, update the message.

Powertools' ``LambdaFunctionUrlEvent`` reads the request (base64 body decoded, headers looked up
without regard to case). The failed message update is logged, not retried, because the click has
already taken effect and the next click (or the reminder) repairs the message.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.data_classes import LambdaFunctionUrlEvent
from aws_lambda_powertools.utilities.parameters import SecretsProvider

from leak_responder.adapters.slack.factory import bot_token, build_message_updater
from leak_responder.adapters.slack.interactivity import (
    MAX_BODY_BYTES,
    BadSignatureError,
    Interaction,
    InvalidRequestError,
    http_response,
    parse_interaction,
    signature_headers,
    verify_signature,
)
from leak_responder.adapters.slack.updater import SlackMessageUpdater
from leak_responder.domain.approval import (
    ActionInProgressError,
    ApprovalDeps,
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

_STATUS_FOR: tuple[tuple[type[ApprovalError], int], ...] = (
    (UnauthorisedClickError, 403),
    (UnknownIncidentError, 404),
    (ApprovalRefusedError, 409),
    (ActionInProgressError, 409),
    (ApprovalUnavailableError, 503),
)


def read_request(event: Mapping[str, Any]) -> tuple[bytes, Mapping[str, str]]:
    """The body exactly as Slack sent it, and the headers; InvalidRequestError for a body that
    no Slack request has (not text, not base64, not UTF-8, too large)."""
    if not isinstance(event.get("body"), str | None):
        raise InvalidRequestError("request body is not text")
    # Powertools decodes on any truthy flag (the string "false" too): a Function URL sends a
    # JSON boolean, and anything else is not its event.
    if not isinstance(event.get("isBase64Encoded"), bool | None):
        raise InvalidRequestError("isBase64Encoded is not a boolean")
    raw_headers = event.get("headers")
    # Powertools lower-cases header names and would crash on one that is not text.
    if isinstance(raw_headers, Mapping) and not all(isinstance(k, str) for k in raw_headers):
        raise InvalidRequestError("request header names are not text")
    request = LambdaFunctionUrlEvent(dict(event))
    try:
        body = (request.decoded_body or "").encode()
    except (binascii.Error, ValueError) as exc:
        # UnicodeDecodeError is a ValueError: Slack's form posts are always UTF-8.
        raise InvalidRequestError("request body is not valid base64 or UTF-8") from exc
    if len(body) > MAX_BODY_BYTES:
        raise InvalidRequestError("request body is too large")
    headers = request.headers if isinstance(event.get("headers"), Mapping) else {}
    return body, headers


class MessageUpdaters:
    """The approval path's Slack updater, rebuilt only when the bot token changes (Powertools
    caches the secret for a few minutes, so a rotated token is picked up without a redeploy)."""

    def __init__(
        self, settings: Settings, home_account_id: str, provider: Callable[[], SecretsProvider]
    ) -> None:
        self._settings = settings
        self._home = home_account_id
        self._provider = provider
        self._updater: SlackMessageUpdater | None = None

    def current(self) -> SlackMessageUpdater:
        token = bot_token(self._settings, self._provider())
        if self._updater is None or self._updater.client.token != token.reveal():
            self._updater = build_message_updater(self._settings, token, home_account_id=self._home)
        return self._updater


@dataclass
class ApprovalEndpoint:
    deps: ApprovalDeps
    signing_secret: Callable[[], Secret]
    updater: Callable[[], SlackMessageUpdater]

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        try:
            body, headers = read_request(event)
        except InvalidRequestError as exc:
            return http_response(400, {"error": str(exc)})
        try:
            # Malformed or stale signature headers are refused before the secret is read, so
            # junk is a 401 even while the secret is unavailable, and costs no AWS call.
            signature_headers(headers)
        except BadSignatureError as exc:
            logger.warning("request refused", extra={"reason": str(exc)})
            return http_response(401, {"error": "invalid signature"})
        try:
            secret = self.signing_secret()
        except (ConfigurationError, TransientError) as exc:
            # Never fall back to accepting unsigned requests.
            logger.error("signing secret unavailable", extra={"error": type(exc).__name__})
            return http_response(
                503 if isinstance(exc, TransientError) else 500, {"error": "unavailable"}
            )
        try:
            verify_signature(body, headers, secret)
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
