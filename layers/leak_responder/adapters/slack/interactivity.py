"""Slack interactivity requests arriving at a Lambda Function URL (payload format 2.0).

Order matters: the body is decoded exactly as received, its signature and timestamp are checked,
and only then is anything in it parsed. The parsed click carries who clicked which button; the
button's value is only ever used as an incident id to look up.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from slack_sdk.signature import Clock, SignatureVerifier

from leak_responder.adapters.slack.messages import DELETE_ACTION_ID, REACTIVATE_ACTION_ID
from leak_responder.domain.approval import Action, Click
from leak_responder.domain.errors import LeakResponderError
from leak_responder.domain.ports import Secret

MAX_BODY_BYTES = 64 * 1024
SIGNATURE_WINDOW_SECONDS = 300
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")

_ACTIONS = {DELETE_ACTION_ID: Action.DELETE, REACTIVATE_ACTION_ID: Action.REACTIVATE}


class InvalidRequestError(LeakResponderError):
    """Signed, but not a click we understand (HTTP 400)."""


class BadSignatureError(LeakResponderError):
    """Not from Slack, or replayed outside the 5-minute window (HTTP 401)."""


@dataclass(frozen=True)
class Interaction:
    click: Click
    response_url: str | None
    clicked: tuple[str, str] | None  # (channel id, message ts) of the message clicked


class _FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def signature_headers(headers: Mapping[str, str], *, now: float | None = None) -> tuple[str, str]:
    """The timestamp and signature headers, if they are well-formed and inside the 5-minute
    window; BadSignatureError otherwise. Needs no secret, so junk is refused before any read."""
    timestamp = str(headers.get("x-slack-request-timestamp", ""))
    signature = str(headers.get("x-slack-signature", ""))
    # SignatureVerifier would crash on a non-numeric timestamp; a forged header is a 401.
    # fullmatch: "$" would also accept a trailing newline.
    if not _TIMESTAMP.fullmatch(timestamp) or not _SIGNATURE.fullmatch(signature):
        raise BadSignatureError("missing or malformed signature headers")
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > SIGNATURE_WINDOW_SECONDS:
        raise BadSignatureError("request timestamp outside the 5-minute window")
    return timestamp, signature


def verify_signature(
    body: bytes, headers: Mapping[str, str], signing_secret: Secret, *, now: float | None = None
) -> None:
    """Raise BadSignatureError unless Slack signed ``body`` within the last five minutes."""
    current = time.time() if now is None else now
    timestamp, signature = signature_headers(headers, now=current)
    verifier = SignatureVerifier(signing_secret.reveal(), clock=_FixedClock(current))
    if not verifier.is_valid(body=body, timestamp=timestamp, signature=signature):
        raise BadSignatureError("signature mismatch")


def parse_interaction(body: bytes) -> Interaction:
    """The click in a verified ``payload=<json>`` form body."""
    try:
        form = parse_qs(body.decode("utf-8"), strict_parsing=True, max_num_fields=20)
        payload = json.loads(form["payload"][0])
    except (UnicodeDecodeError, ValueError, KeyError, IndexError) as exc:
        raise InvalidRequestError("body is not a Slack interactivity payload") from exc
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        raise InvalidRequestError("not a block_actions payload")
    user = payload.get("user")
    user_id = user.get("id") if isinstance(user, dict) else None
    if not isinstance(user_id, str) or not user_id:
        raise InvalidRequestError("payload names no user")
    team = payload.get("team")
    team_id = team.get("id") if isinstance(team, dict) else None
    if team_id is None and isinstance(user, dict):
        team_id = user.get("team_id")
    actions = payload.get("actions")
    if not isinstance(actions, list) or len(actions) != 1 or not isinstance(actions[0], dict):
        raise InvalidRequestError("payload must carry exactly one action")
    action = _ACTIONS.get(str(actions[0].get("action_id")))
    value = actions[0].get("value")
    if action is None or not isinstance(value, str):
        raise InvalidRequestError("not a leak-responder button")
    response_url = payload.get("response_url")
    container = payload.get("container")
    clicked = None
    if isinstance(container, dict):
        channel, ts = container.get("channel_id"), container.get("message_ts")
        if isinstance(channel, str) and isinstance(ts, str):
            clicked = (channel, ts)
    return Interaction(
        click=Click(
            action=action,
            incident_id=value,
            user_id=user_id,
            team_id=team_id if isinstance(team_id, str) else None,
        ),
        response_url=response_url if isinstance(response_url, str) else None,
        clicked=clicked,
    )


def http_response(status: int, body: Mapping[str, Any]) -> dict[str, Any]:
    """A Function URL response; the body is what Slack (or a person with curl) gets back."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }
