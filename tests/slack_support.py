"""Shared by the Slack tests: a contained incident on fakes, and Slack-signed click requests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets as _secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from leak_responder.domain.containment import ContainmentDeps, contain
from leak_responder.domain.model import Evidence, Incident, LeakedKey, PrincipalType, Source
from leak_responder.domain.ports import Notifier
from tests.fakes import (
    FakeAccounts,
    FakeKeyAdmin,
    FakeSecretStore,
    FakeSessionLocator,
    FixedClock,
    InMemoryIncidentStore,
    RecordingNotifier,
)

HOME = "111111111111"
TEAM = "T0SANDBOX1"
OWNER_SLACK = "U0OWNER001"
APPROVER = "U0SECURITY1"
STRANGER = "U0STRANGER1"
OBSERVED = datetime(2026, 11, 28, 11, 59, tzinfo=UTC)


def random_signing_secret() -> str:
    return _secrets.token_hex(16)


@dataclass
class World:
    """One account on fakes, with a user whose key has leaked."""

    clock: FixedClock = field(default_factory=FixedClock)
    home: FakeKeyAdmin = field(init=False)
    accounts: FakeAccounts = field(init=False)
    incidents: InMemoryIncidentStore = field(default_factory=InMemoryIncidentStore)
    secrets: FakeSecretStore = field(default_factory=FakeSecretStore)

    def __post_init__(self) -> None:
        self.home = FakeKeyAdmin(HOME, self.clock)
        self.accounts = FakeAccounts(self.home)

    def user(self, name: str = "alice", tags: dict[str, str] | None = None) -> str:
        """Adds the user with one active key; returns the key id."""
        self.home.add_user(name, tags)
        return self.home.add_key(name)

    def contain(
        self,
        key_id: str,
        notifier: Notifier | None = None,
        *,
        user_name: str | None = "alice",
        evidence: Evidence | None = None,
        source: Source = Source.HEALTH,
        principal_type: PrincipalType = PrincipalType.IAM_USER,
    ) -> Incident:
        leaked = LeakedKey(
            key_id=key_id,
            source=source,
            observed_at=OBSERVED,
            account_id=HOME,
            user_name=user_name,
            principal_type=principal_type,
            evidence=evidence
            or Evidence(
                url="https://github.com/example/app/blob/main/.env", finding_type="exposed"
            ),
        )
        deps = ContainmentDeps(
            accounts=self.accounts,
            sessions=FakeSessionLocator(),
            secrets=self.secrets,
            incidents=self.incidents,
            notifier=notifier or RecordingNotifier(),
            clock=self.clock,
        )
        return contain(leaked, deps, received_at=self.clock.now()).incident


def sign(body: bytes, secret: str, timestamp: int | str) -> str:
    """What Slack puts in X-Slack-Signature: v0=HMAC-SHA256("v0:{ts}:{body}")."""
    base = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def click_payload(
    action_id: str,
    incident_id: str,
    user_id: str,
    *,
    team_id: str = TEAM,
    response_url: str | None = None,
    channel: str = "D0000000001",
    message_ts: str = "1700000000.000001",
) -> dict[str, Any]:
    """A block_actions payload shaped like Slack's (trimmed to what matters, plus noise)."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user_id, "username": "someone", "name": "someone", "team_id": team_id},
        "api_app_id": "A0LEAKRESP",
        "token": "legacy-verification-token-unused",  # pragma: allowlist secret
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "trigger_id": "1.2.3",
        "team": {"id": team_id, "domain": "sandbox"},
        "channel": {"id": channel, "name": "directmessage"},
        "actions": [
            {
                "action_id": action_id,
                "block_id": "leak_responder_actions",
                "text": {"type": "plain_text", "text": "Delete old key", "emoji": True},
                "value": incident_id,
                "style": "danger",
                "type": "button",
                "action_ts": "1700000100.000200",
            }
        ],
    }
    if response_url:
        payload["response_url"] = response_url
    return payload


def form_body(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def function_url_event(
    body: bytes,
    secret: str,
    *,
    timestamp: int | str | None = None,
    base64_encoded: bool = True,
    signature: str | None = None,
) -> dict[str, Any]:
    """A Lambda Function URL (payload v2) event carrying the signed POST, headers lower-case."""
    ts = str(int(time.time())) if timestamp is None else str(timestamp)
    sig = signature if signature is not None else sign(body, secret, ts)
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {
            "content-type": "application/x-www-form-urlencoded",
            "user-agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            "x-slack-request-timestamp": ts,
            "x-slack-signature": sig,
            "host": "abc123.lambda-url.us-east-1.on.aws",
        },
        "requestContext": {
            "http": {"method": "POST", "path": "/", "protocol": "HTTP/1.1", "sourceIp": "3.3.3.3"},
            "requestId": "req",
            "timeEpoch": int(time.time() * 1000),
        },
        "body": base64.b64encode(body).decode() if base64_encoded else body.decode(),
        "isBase64Encoded": base64_encoded,
    }
