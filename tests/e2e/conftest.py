"""The sandbox as a subprocess, driven only through its ready file (docs/interfaces.md)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pytest

T = TypeVar("T")

START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 20
WAIT_TIMEOUT_S = 20


@dataclass
class RunningSandbox:
    proc: subprocess.Popen[bytes]
    ready_file: Path
    log_file: Path
    doc: dict[str, Any]

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.doc["aws_endpoint"],
            region_name=self.doc["region"],
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # pragma: allowlist secret
        )

    def slack_calls(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(self.doc["slack_calls_url"], timeout=5) as answer:  # noqa: S310
            calls: list[dict[str, Any]] = json.loads(answer.read())
        return calls

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")[-4000:]


def start_sandbox(tmp: Path) -> RunningSandbox:
    ready_file = tmp / "ready.json"
    log_file = tmp / "sandbox.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SLACK_"))}
    with log_file.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "leak_responder", "sandbox", "--ready-file", str(ready_file)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready_file.exists():
        if proc.poll() is not None:
            pytest.fail(f"sandbox exited {proc.returncode}:\n{log_file.read_text()[-4000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait(5)
            pytest.fail(f"sandbox not ready in {START_TIMEOUT_S}s:\n{log_file.read_text()[-4000:]}")
        time.sleep(0.1)
    return RunningSandbox(proc, ready_file, log_file, json.loads(ready_file.read_text()))


def stop_sandbox(sandbox: RunningSandbox, sig: int = signal.SIGTERM) -> int:
    if sandbox.proc.poll() is None:
        sandbox.proc.send_signal(sig)
        try:
            sandbox.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            sandbox.proc.kill()
            sandbox.proc.wait(5)
            pytest.fail(f"sandbox ignored signal {sig}:\n{sandbox.log()}")
    return int(sandbox.proc.returncode)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    running = start_sandbox(tmp_path_factory.mktemp("sandbox"))
    try:
        yield running
    finally:
        code = stop_sandbox(running)
        assert code == 0, running.log()


def wait_for(what: str, check: Callable[[], T | None], timeout: float = WAIT_TIMEOUT_S) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def unique_name(prefix: str) -> str:
    return f"{prefix}-{random.randrange(16**8):08x}"


def key_status(sandbox: RunningSandbox, user: str, key_id: str) -> str:
    keys = sandbox.client("iam").list_access_keys(UserName=user)["AccessKeyMetadata"]
    return next((str(k["Status"]) for k in keys if k["AccessKeyId"] == key_id), "Deleted")


def incident(sandbox: RunningSandbox, key_id: str) -> dict[str, Any] | None:
    from boto3.dynamodb.types import TypeDeserializer

    item = sandbox.client("dynamodb").get_item(
        TableName=sandbox.doc["incidents_table"],
        Key={"pk": {"S": f"{sandbox.doc['account_id']}#{key_id}"}},
        ConsistentRead=True,
    )
    if "Item" not in item:
        return None
    d = TypeDeserializer()
    return {k: d.deserialize(v) for k, v in item["Item"].items()}


def signed_post(
    url: str, body: bytes, secret: str, *, timestamp: int | None = None
) -> tuple[int, dict[str, Any]]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256)
    request = urllib.request.Request(  # noqa: S310 (loopback)
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": "v0=" + signature.hexdigest(),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return int(answer.status), json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read() or b"{}")


def click_body(action_id: str, incident_id: str, user_id: str, team_id: str | None) -> bytes:
    payload = {
        "type": "block_actions",
        "user": {"id": user_id, "team_id": team_id},
        "team": {"id": team_id},
        "actions": [{"type": "button", "action_id": action_id, "value": incident_id}],
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
