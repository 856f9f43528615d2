"""Updating a notice in place after a click: the outcome, with no buttons left.

This runs on the approval path, inside Slack's 3-second window: one attempt per message with a
short timeout, and failures are logged, never raised (the click itself already took effect).
"""

from __future__ import annotations

import json
import logging
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from leak_responder.adapters.slack.client import TRANSPORT_ERRORS, slack_error_code
from leak_responder.adapters.slack.messages import MessageContext, outcome_message
from leak_responder.domain.model import Incident

logger = logging.getLogger(__name__)

_SLACK_RESPONSE_HOSTS = frozenset({"hooks.slack.com", "hooks.slack-gov.com"})


class SlackMessageUpdater:
    def __init__(
        self,
        client: WebClient,
        *,
        security_channel: str | None,
        ctx: MessageContext | None = None,
        api_base_url: str | None = None,
        timeout: float = 2.0,
    ) -> None:
        self.client = client
        self.security_channel = security_channel
        self.ctx = ctx or MessageContext()
        self.timeout = timeout
        # A response_url is only followed to Slack itself, or to the configured API host (the
        # stand-in): a payload is signed, but the signing secret is not a licence to SSRF.
        self._allowed_hosts = set(_SLACK_RESPONSE_HOSTS)
        if api_base_url:
            host = urlsplit(api_base_url).netloc
            if host:
                self._allowed_hosts.add(host)

    def show_outcome(
        self,
        incident: Incident,
        outcome: str,
        *,
        clicked: tuple[str, str] | None = None,
        response_url: str | None = None,
    ) -> int:
        """Replace every stored copy of the notice; returns how many were updated.

        ``clicked`` is the (channel, ts) of the message the click came from; when it is not one
        of the stored copies (an escalation re-post), it is replaced through ``response_url``.
        """
        message = outcome_message(incident, outcome, ctx=self.ctx)
        targets: list[tuple[str, str]] = []
        if incident.slack_channel and incident.slack_ts:
            targets.append((incident.slack_channel, incident.slack_ts))
        if self.security_channel and incident.security_channel_ts:
            pair = (self.security_channel, incident.security_channel_ts)
            if incident.security_channel_ts != incident.slack_ts:
                targets.append(pair)
        updated = 0
        for channel, ts in targets:
            try:
                self.client.chat_update(
                    channel=channel, ts=ts, text=message.text, blocks=message.blocks
                )
                updated += 1
            except SlackApiError as exc:
                logger.warning(
                    "chat.update failed",
                    extra={"incident_id": incident.incident_id, "error": slack_error_code(exc)},
                )
            except TRANSPORT_ERRORS as exc:
                logger.warning(
                    "chat.update failed",
                    extra={"incident_id": incident.incident_id, "error": type(exc).__name__},
                )
        known_ts = {ts for _, ts in targets}
        if response_url and (clicked is None or clicked[1] not in known_ts or updated == 0):
            body = {"replace_original": True, "text": message.text, "blocks": message.blocks}
            if self.respond(response_url, body):
                updated += 1
        return updated

    def tell_clicker(self, response_url: str | None, text: str) -> bool:
        """An ephemeral note only the clicker sees (a refusal), leaving the message as it is."""
        if not response_url:
            return False
        body = {"response_type": "ephemeral", "replace_original": False, "text": text}
        return self.respond(response_url, body)

    def respond(self, response_url: str, body: dict[str, Any]) -> bool:
        try:
            parts = urlsplit(response_url)
            hostname = parts.hostname
        except ValueError:
            # Signed by Slack but unparseable (an unclosed IPv6 bracket): nothing to answer to.
            logger.warning("response_url refused: not a URL")
            return False
        allowed = parts.scheme == "https" or (
            parts.scheme == "http" and hostname in ("127.0.0.1", "localhost")
        )
        if not allowed or parts.netloc not in self._allowed_hosts:
            logger.warning("response_url refused", extra={"host": parts.netloc})
            return False
        request = urllib.request.Request(  # noqa: S310 - scheme and host checked above
            response_url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json; charset=utf-8"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
                status: int = answer.status
                return 200 <= status < 300
        except TRANSPORT_ERRORS as exc:
            logger.warning("response_url failed", extra={"error": type(exc).__name__})
            return False
