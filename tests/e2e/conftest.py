"""The sandbox as a subprocess, driven only through its ready file (docs/interfaces.md)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pytest

from leak_sandbox.testkit import probes, slack

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
    return probes.wait_for(what, check, timeout, error=pytest.fail.Exception)


def unique_name(prefix: str) -> str:
    return f"{prefix}-{random.randrange(16**8):08x}"


def key_status(sandbox: RunningSandbox, user: str, key_id: str) -> str:
    return probes.key_status(sandbox.client("iam"), user, key_id)


def incident(sandbox: RunningSandbox, key_id: str) -> dict[str, Any] | None:
    table, account = sandbox.doc["incidents_table"], sandbox.doc["account_id"]
    return probes.incident_item(sandbox.client("dynamodb"), table, account, key_id)


def signed_post(
    url: str, body: bytes, secret: str, *, timestamp: int | None = None
) -> tuple[int, dict[str, Any]]:
    """Slack's signed POST of ``body``: the status and the JSON answer."""
    status, answer = slack.post_signed(url, body, secret, timestamp=timestamp)
    return status, json.loads(answer or b"{}")


def click_body(action_id: str, incident_id: str, user_id: str, team_id: str | None) -> bytes:
    """A click on a button of no message in particular (the incident names its message)."""
    payload = slack.click_payload(
        action_id, incident_id, user_id, team_id=team_id, channel=None, message_ts=None
    )
    return slack.form_body(payload)
