"""Slack's side of a button click: the signed request, the payload, the form body, and the
Function URL (payload v2) event the approval handler receives for it.

Requests are signed with slack_sdk's own ``SignatureVerifier``, the code the handler verifies
with, so a test never carries a second implementation of Slack's signing scheme.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

from leak_sandbox.function_url import function_url_event as http_event
from leak_sandbox.testkit.world import TEAM

FORM = "application/x-www-form-urlencoded"


def random_signing_secret() -> str:
    return secrets.token_hex(16)


def sign(body: bytes, secret: str, timestamp: int | str) -> str:
    """What Slack puts in X-Slack-Signature: ``v0=`` HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(timestamp), body=body)
    assert signature is not None  # only a missing timestamp has none
    return signature


def signed_headers(body: bytes, secret: str, timestamp: int | str | None = None) -> dict[str, str]:
    """The headers of Slack's POST of ``body``, signed now unless ``timestamp`` is given."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "Content-Type": FORM,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": sign(body, secret, ts),
    }


def click_payload(
    action_id: str,
    incident_id: str,
    user_id: str,
    *,
    team_id: str | None = TEAM,
    response_url: str | None = None,
    channel: str | None = "D0000000001",
    message_ts: str | None = "1700000000.000001",
) -> dict[str, Any]:
    """A block_actions payload shaped like Slack's (trimmed to what matters, plus noise).

    Without ``channel`` and ``message_ts`` it names no message clicked (no container)."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user_id, "username": "someone", "name": "someone", "team_id": team_id},
        "api_app_id": "A0LEAKRESP",
        "token": "legacy-verification-token-unused",  # pragma: allowlist secret
        "trigger_id": "1.2.3",
        "team": {"id": team_id, "domain": "sandbox"},
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
    if channel is not None and message_ts is not None:
        payload["container"] = {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": False,
        }
        payload["channel"] = {"id": channel, "name": "directmessage"}
    if response_url:
        payload["response_url"] = response_url
    return payload


def form_body(payload: dict[str, Any]) -> bytes:
    """``payload=<json>``, form-encoded, as Slack POSTs it."""
    return urlencode({"payload": json.dumps(payload)}).encode()


def function_url_event(
    body: bytes,
    secret: str,
    *,
    timestamp: int | str | None = None,
    base64_encoded: bool = True,
    signature: str | None = None,
) -> dict[str, Any]:
    """The Function URL (payload v2) event for Slack's signed POST of ``body``, built as the
    sandbox's Function URL builds it: headers lower-case, the form body base64-encoded (or as
    text when ``base64_encoded`` is False). ``signature`` replaces the real one."""
    headers = signed_headers(body, secret, timestamp)
    if signature is not None:
        headers["X-Slack-Signature"] = signature
    headers["User-Agent"] = "Slackbot 1.0 (+https://api.slack.com/robots)"
    headers["Host"] = "abc123.lambda-url.us-east-1.on.aws"
    event = http_event("POST", "/", headers, body, source_ip="3.3.3.3", domain=headers["Host"])
    if not base64_encoded:
        event["body"], event["isBase64Encoded"] = body.decode(), False
    return event


def post_signed(
    url: str, body: bytes, secret: str, *, timestamp: int | None = None
) -> tuple[int, bytes]:
    """POSTs ``body`` to ``url`` signed as Slack would; the HTTP status and the answer's body."""
    request = urllib.request.Request(  # noqa: S310 (the sandbox's loopback URL)
        url, data=body, method="POST", headers=signed_headers(body, secret, timestamp)
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return int(answer.status), bytes(answer.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), bytes(exc.read())
