"""The Notifier port on Slack: find the owner, DM them, copy the security channel.

Owner resolution reads the IAM user's tags: the Slack user ID tag first, then the email tag
looked up with ``users.lookupByEmail``. With neither, or when the owner cannot be reached, the
notice goes to the security channel alone, marked "owner unknown" and paging the channel.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from leak_responder.adapters.slack.client import (
    RECIPIENT_ERRORS,
    TRANSPORT_ERRORS,
    as_notification_error,
    slack_error_code,
)
from leak_responder.adapters.slack.messages import (
    Audience,
    MessageContext,
    SlackMessage,
    escalation_message,
    incident_message,
    reminder_message,
)
from leak_responder.domain.errors import (
    AccessDeniedError,
    KeyNotFoundError,
    NotificationError,
    TransientError,
)
from leak_responder.domain.model import Incident, IncidentStatus, PrincipalType
from leak_responder.domain.ports import Accounts, NotificationReceipt, Observer

logger = logging.getLogger(__name__)

SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")


def _log(event: str, /, **fields: Any) -> None:
    logger.info(event, extra=fields)


class SlackNotifier:
    """Implements ``Notifier`` (and the reminder's ``remind``/``escalate``) on a WebClient."""

    def __init__(
        self,
        client: WebClient,
        accounts: Accounts,
        *,
        security_channel: str | None,
        ctx: MessageContext | None = None,
        owner_slack_tag: str = "slack-user-id",
        owner_email_tag: str = "email",
        observe: Observer = _log,
    ) -> None:
        self.client = client
        self.accounts = accounts
        self.security_channel = security_channel
        self.owner_slack_tag = owner_slack_tag
        self.owner_email_tag = owner_email_tag
        self.ctx = ctx or MessageContext(
            home_account_id=accounts.home_account_id,
            owner_tag_names=(owner_slack_tag, owner_email_tag),
        )
        self._observe = observe

    # -- Notifier ---------------------------------------------------------------------------
    def notify(self, incident: Incident) -> NotificationReceipt | None:
        owner = self.resolve_owner(incident)
        dm: tuple[str, str] | None = None
        if owner is not None:
            dm = self._dm(incident, owner)
            if dm is None:
                owner = None  # unreachable: treat like an unknown owner
        page = self._pages(incident, owner)
        security_ts: str | None = None
        security_channel_id: str | None = None
        if self.security_channel:
            message = incident_message(
                incident,
                audience=Audience.SECURITY,
                ctx=self.ctx,
                owner_slack_id=owner,
                page=page,
            )
            try:
                security_channel_id, security_ts = self._post(self.security_channel, message)
            except NotificationError:
                if dm is None:
                    raise
                # The owner has the notice, which is what matters; a retry would DM them twice.
                self._observe("security copy failed", incident_id=incident.incident_id)
        if dm is not None:
            return NotificationReceipt(
                channel=dm[0], ts=dm[1], owner_slack_id=owner, security_channel_ts=security_ts
            )
        if security_channel_id is not None and security_ts is not None:
            return NotificationReceipt(
                channel=security_channel_id,
                ts=security_ts,
                owner_slack_id=None,
                security_channel_ts=security_ts,
            )
        # Nobody to tell: no owner and no security channel configured. Stays pending.
        self._observe("no slack recipient", incident_id=incident.incident_id)
        return None

    # -- reminders --------------------------------------------------------------------------
    def remind(self, incident: Incident, waited_hours: float) -> None:
        """A threaded, broadcast nudge under the original notice."""
        if not incident.slack_channel or not incident.slack_ts:
            raise NotificationError("no original notice to remind under")
        message = reminder_message(incident, waited_hours)
        self._post(
            incident.slack_channel,
            message,
            thread_ts=incident.slack_ts,
            reply_broadcast=True,
        )

    def escalate(self, incident: Incident, waited_hours: float) -> str | None:
        """Tell the security channel, loudly; returns the ts of a new copy if one was posted."""
        if not self.security_channel:
            self._observe("no security channel to escalate to", incident_id=incident.incident_id)
            return None
        if incident.security_channel_ts:
            self._post(
                self.security_channel,
                escalation_message(incident, waited_hours),
                thread_ts=incident.security_channel_ts,
                reply_broadcast=True,
            )
            return None
        # No copy in the channel yet (its first post failed): post the whole notice with buttons.
        full = incident_message(
            incident,
            audience=Audience.SECURITY,
            ctx=self.ctx,
            owner_slack_id=incident.owner_slack_id,
            page=False,
        )
        escalation = escalation_message(incident, waited_hours)
        combined = SlackMessage(text=escalation.text, blocks=escalation.blocks + full.blocks)
        _, ts = self._post(self.security_channel, combined)
        return ts

    # -- owner resolution -------------------------------------------------------------------
    def resolve_owner(self, incident: Incident) -> str | None:
        """The owner's Slack user ID, or None when unknown. Raises NotificationError on outages."""
        if incident.principal_type == PrincipalType.ROOT or not incident.user_name:
            return None
        try:
            tags = self.accounts.key_admin(incident.account_id).user_tags(incident.user_name)
        except (KeyNotFoundError, AccessDeniedError) as exc:
            self._observe("owner tags unreadable", error=type(exc).__name__)
            return None
        except TransientError as exc:
            raise NotificationError("cannot read the owner's tags now") from exc
        slack_id = _tag(tags, self.owner_slack_tag)
        if slack_id and SLACK_USER_ID.match(slack_id):
            return slack_id
        email = _tag(tags, self.owner_email_tag)
        if not email or "@" not in email:
            return None
        try:
            found = self.client.users_lookupByEmail(email=email)
        except SlackApiError as exc:
            if slack_error_code(exc) in RECIPIENT_ERRORS:
                self._observe("owner email not in slack", incident_id=incident.incident_id)
                return None
            raise as_notification_error("users.lookupByEmail", exc) from exc
        except TRANSPORT_ERRORS as exc:
            raise as_notification_error("users.lookupByEmail", exc) from exc
        user = found.get("user") or {}
        user_id = user.get("id") if isinstance(user, dict) else None
        if not isinstance(user_id, str) or user.get("deleted"):
            return None
        return user_id

    # -- plumbing ---------------------------------------------------------------------------
    def _pages(self, incident: Incident, owner: str | None) -> bool:
        if incident.principal_type == PrincipalType.ROOT:
            return True
        # An unknown key is recorded at low priority; it must not wake the channel.
        return owner is None and incident.status != IncidentStatus.UNKNOWN_KEY

    def _dm(self, incident: Incident, owner: str) -> tuple[str, str] | None:
        """Post the DM; None when the owner cannot receive one (the caller falls back)."""
        try:
            opened = self.client.conversations_open(users=owner)
        except SlackApiError as exc:
            if slack_error_code(exc) in RECIPIENT_ERRORS:
                self._observe("owner unreachable", error=slack_error_code(exc))
                return None
            raise as_notification_error("conversations.open", exc) from exc
        except TRANSPORT_ERRORS as exc:
            raise as_notification_error("conversations.open", exc) from exc
        channel = (opened.get("channel") or {}).get("id")
        if not isinstance(channel, str):
            raise NotificationError("slack conversations.open returned no channel")
        message = incident_message(
            incident, audience=Audience.OWNER, ctx=self.ctx, owner_slack_id=owner
        )
        try:
            return self._post(channel, message)
        except NotificationError as exc:
            cause = exc.__cause__
            if isinstance(cause, SlackApiError) and slack_error_code(cause) in RECIPIENT_ERRORS:
                return None
            raise

    def _post(self, channel: str, message: SlackMessage, **extra: Any) -> tuple[str, str]:
        try:
            response = self.client.chat_postMessage(
                channel=channel,
                text=message.text,
                blocks=message.blocks,
                unfurl_links=False,
                unfurl_media=False,
                **extra,
            )
        except TRANSPORT_ERRORS as exc:  # SlackApiError is a SlackClientError
            raise as_notification_error("chat.postMessage", exc) from exc
        posted_channel = response.get("channel")
        ts = response.get("ts")
        if not isinstance(posted_channel, str) or not isinstance(ts, str):
            raise NotificationError("slack chat.postMessage returned no channel or ts")
        return posted_channel, ts


def _tag(tags: dict[str, str], name: str) -> str | None:
    """IAM tag keys are case-sensitive, but people write ``Email`` as often as ``email``."""
    if name in tags:
        return tags[name].strip()
    lowered = name.lower()
    for key, value in tags.items():
        if key.lower() == lowered:
            return value.strip()
    return None
