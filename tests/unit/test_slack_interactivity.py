"""Signature checks and payload parsing for Slack clicks, before any AWS is involved."""

from __future__ import annotations

import base64

import pytest

from leak_responder.adapters.slack.interactivity import (
    BadSignatureError,
    InvalidRequestError,
    parse_interaction,
    verify_signature,
)
from leak_responder.adapters.slack.messages import DELETE_ACTION_ID, REACTIVATE_ACTION_ID
from leak_responder.approval_endpoint import read_request
from leak_responder.domain.approval import Action
from leak_responder.domain.ports import Secret
from leak_sandbox.testkit.slack import click_payload, form_body, random_signing_secret, sign

NOW = 1_795_000_000


@pytest.fixture
def secret() -> str:
    return random_signing_secret()


def headers(body: bytes, secret: str, ts: int | str = NOW) -> dict[str, str]:
    return {"x-slack-request-timestamp": str(ts), "x-slack-signature": sign(body, secret, ts)}


def test_valid_signature_passes(secret: str) -> None:
    body = form_body(click_payload(DELETE_ACTION_ID, "incident-0001", "U1"))
    verify_signature(body, headers(body, secret), Secret(secret), now=NOW + 299)


@pytest.mark.parametrize(
    ("ts", "now"),
    [(NOW, NOW + 301), (NOW, NOW - 301), ("", NOW), ("1e9", NOW), ("-5", NOW), ("١٢٣", NOW)],
)
def test_window_and_garbage_timestamps_are_refused(secret: str, ts: str | int, now: int) -> None:
    body = b"payload=%7B%7D"
    hdrs = headers(body, secret, ts)
    with pytest.raises(BadSignatureError):
        verify_signature(body, hdrs, Secret(secret), now=now)


@pytest.mark.parametrize(
    "signature", ["", "v0=", "v1=" + "0" * 64, "v0=" + "Z" * 64, "v0=" + "0" * 64]
)
def test_bad_signatures_are_refused(secret: str, signature: str) -> None:
    hdrs = {"x-slack-request-timestamp": str(NOW), "x-slack-signature": signature}
    with pytest.raises(BadSignatureError):
        verify_signature(b"payload=%7B%7D", hdrs, Secret(secret), now=NOW)


def test_signature_is_over_the_raw_decoded_body(secret: str) -> None:
    body = form_body(click_payload(DELETE_ACTION_ID, "incident-0001", "U1"))
    encoded = base64.b64encode(body).decode()
    event = {"body": encoded, "isBase64Encoded": True, "headers": headers(body, secret)}
    raw, request_headers = read_request(event)
    assert raw == body
    verify_signature(raw, request_headers, Secret(secret), now=NOW)
    # Verifying the still-encoded body must fail: that is the classic mistake
    with pytest.raises(BadSignatureError):
        verify_signature(encoded.encode(), headers(body, secret), Secret(secret), now=NOW)


def test_parse_takes_user_team_action_and_value() -> None:
    payload = click_payload(
        REACTIVATE_ACTION_ID, "incident-0001", "U0SEC", response_url="https://hooks.slack.com/x"
    )
    interaction = parse_interaction(form_body(payload))
    assert interaction.click.action == Action.REACTIVATE
    assert interaction.click.incident_id == "incident-0001"
    assert interaction.click.user_id == "U0SEC"
    assert interaction.click.team_id == "T0SANDBOX1"
    assert interaction.response_url == "https://hooks.slack.com/x"
    assert interaction.clicked == ("D0000000001", "1700000000.000001")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"payload=",
        b"payload=%5B%5D",
        b"payload=%7B%22type%22%3A%22block_actions%22%7D",
        b"\xff\xfe",
        form_body({**click_payload("someone_elses_button", "x", "U1")}),
        form_body({**click_payload(DELETE_ACTION_ID, "x", "U1"), "actions": []}),
    ],
)
def test_garbage_is_an_invalid_request(body: bytes) -> None:
    with pytest.raises(InvalidRequestError):
        parse_interaction(body)


def test_oversized_body_is_refused() -> None:
    with pytest.raises(InvalidRequestError):
        read_request({"body": "a" * 70_000})


def test_headers_are_found_whatever_their_case(secret: str) -> None:
    body = form_body(click_payload(DELETE_ACTION_ID, "incident-0001", "U1"))
    shouted = {k.upper(): v for k, v in headers(body, secret).items()}
    _, request_headers = read_request({"body": body.decode(), "headers": shouted})
    verify_signature(body, request_headers, Secret(secret), now=NOW)


@pytest.mark.parametrize(
    "event",
    [
        {"body": 42},
        {"body": "***not base64***", "isBase64Encoded": True},
        {"body": base64.b64encode(b"payload=\xff\xfe").decode(), "isBase64Encoded": True},
    ],
)
def test_a_body_slack_never_sends_is_an_invalid_request(event: dict[str, object]) -> None:
    with pytest.raises(InvalidRequestError):
        read_request(event)
