"""The Slack stand-in over real HTTP: WebClient compatibility, recording, injected failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from leak_sandbox.slack_standin import SlackStandIn, user_id_for_email

TOKEN = "xoxb-standin-test"  # pragma: allowlist secret


@pytest.fixture
def standin() -> Iterator[SlackStandIn]:
    with SlackStandIn(unknown_emails=["nobody@example.com"]) as server:
        yield server


@pytest.fixture
def client(standin: SlackStandIn) -> WebClient:
    return WebClient(
        token=TOKEN, base_url=f"http://127.0.0.1:{standin.port}/api/", retry_handlers=[]
    )


def post_json(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(  # noqa: S310 - loopback stand-in
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        return response.read().decode()


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
        return json.loads(response.read())


def test_web_client_round_trip(standin: SlackStandIn, client: WebClient) -> None:
    assert client.auth_test()["team_id"] == standin.team_id
    user = client.users_lookupByEmail(email="Ann@Example.com")["user"]["id"]
    assert user == user_id_for_email("ann@example.com")  # stable, case-insensitive
    dm = client.conversations_open(users=user)["channel"]["id"]
    first = client.chat_postMessage(channel=dm, text="one")
    second = client.chat_postMessage(channel=dm, text="two")
    assert float(second["ts"]) > float(first["ts"])
    assert first["message"]["text"] == "one"
    updated = client.chat_update(channel=dm, ts=first["ts"], text="edited", blocks=[])
    assert updated["text"] == "edited"
    assert standin.message(dm, first["ts"])["text"] == "edited"  # type: ignore[index]
    calls = get_json(standin.calls_url)
    assert [c["method"] for c in calls] == [
        "auth.test",
        "users.lookupByEmail",
        "conversations.open",
        "chat.postMessage",
        "chat.postMessage",
        "chat.update",
    ]
    assert TOKEN not in json.dumps(calls)


def test_form_encoded_calls_are_understood(standin: SlackStandIn) -> None:
    request = urllib.request.Request(  # noqa: S310 - loopback stand-in
        standin.api_url + "chat.postMessage",
        data=b"channel=C0FORM0001&text=hello&token=" + TOKEN.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        answer = json.loads(response.read())
    assert answer["ok"] and answer["channel"] == "C0FORM0001"
    [call] = standin.calls()
    assert call == {
        "method": "chat.postMessage",
        "params": {"channel": "C0FORM0001", "text": "hello"},
    }


def test_token_is_required(standin: SlackStandIn) -> None:
    with pytest.raises(SlackApiError) as info:
        WebClient(token=None, base_url=standin.api_url, retry_handlers=[]).auth_test()
    assert info.value.response["error"] == "not_authed"
    assert standin.calls() == []


def test_unknown_email_and_unknown_message(standin: SlackStandIn, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as lookup:
        client.users_lookupByEmail(email="nobody@example.com")
    assert lookup.value.response["error"] == "users_not_found"
    with pytest.raises(SlackApiError) as update:
        client.chat_update(channel="C1", ts="1.2", text="x")
    assert update.value.response["error"] == "message_not_found"


def test_invalid_blocks_are_rejected_like_slack(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(
            channel="C1",
            text="x",
            blocks=[{"type": "header", "text": {"type": "plain_text", "text": "h" * 200}}],
        )
    assert info.value.response["error"] == "invalid_blocks"


def test_injected_failures_over_http(standin: SlackStandIn, client: WebClient) -> None:
    post_json(
        standin.base_url + "_fail",
        {"method": "chat.postMessage", "status": 429, "times": 1, "retry_after": 7},
    )
    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel="C1", text="x")
    assert info.value.response.status_code == 429
    assert info.value.response.headers["Retry-After"] == "7"
    standin.fail_next("chat.postMessage", 500, times=1)
    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel="C1", text="x")
    assert info.value.response.status_code == 500
    assert client.chat_postMessage(channel="C1", text="x")["ok"]
    assert get_json(standin.base_url + "_failures") == [
        {"method": "chat.postMessage", "status": 429},
        {"method": "chat.postMessage", "status": 500},
    ]
    assert len(standin.calls("chat.postMessage")) == 1


def test_response_url_is_recorded(standin: SlackStandIn) -> None:
    assert (
        post_json(standin.response_url("T1/B2/xyz"), {"text": "done", "replace_original": True})
        == "ok"
    )
    assert standin.calls() == [
        {
            "method": "response_url",
            "params": {"text": "done", "replace_original": True, "_path": "T1/B2/xyz"},
        }
    ]


def test_bad_control_request_is_400(standin: SlackStandIn) -> None:
    with pytest.raises(urllib.error.HTTPError) as info:
        post_json(standin.base_url + "_fail", {"status": 500})
    assert info.value.code == 400


def test_listens_on_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback"):
        SlackStandIn(host="0.0.0.0")  # noqa: S104


def test_cli_writes_ready_file_and_stops_on_sigterm(tmp_path: Path) -> None:
    ready = tmp_path / "slack.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "leak_sandbox.slack_standin", "--ready-file", str(ready)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ},
    )
    try:
        for _ in range(100):
            if ready.exists():
                break
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        client = WebClient(token=TOKEN, base_url=info["slack_api_url"], retry_handlers=[])
        assert client.auth_test()["ok"]
        assert get_json(info["slack_calls_url"])[0]["method"] == "auth.test"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
