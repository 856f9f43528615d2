"""The sandbox end to end, through its contract only: the ready file, the bus, the queue, HTTP.

Given one sandbox per module (a subprocess), each test makes its own IAM users so that tests
stay independent of order.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest

from leak_sandbox.testkit.events import put_events_entry
from tests.e2e.conftest import (
    RunningSandbox,
    click_body,
    incident,
    key_status,
    signed_post,
    unique_name,
    wait_for,
)
from tests.helpers import event_path, load_event

pytestmark = pytest.mark.e2e

CONTRACT_KEYS = {
    "aws_endpoint",
    "region",
    "account_id",
    "queue_url",
    "slack_api_url",
    "slack_calls_url",
    "approval_url",
    "signing_secret",
    "incidents_table",
    "approvers",
}


def make_user(sandbox: RunningSandbox, prefix: str, tags: dict[str, str]) -> tuple[str, str]:
    iam = sandbox.client("iam")
    user = unique_name(prefix)
    iam.create_user(UserName=user, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    key_id = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    return user, key_id


def sample_entry(name: str, replacements: dict[str, str]) -> dict[str, Any]:
    """A sample event from tests/events as a put_events entry, with its key and user swapped."""
    text = event_path(name).read_text()
    for old, new in replacements.items():
        text = text.replace(old, new)
    return put_events_entry(json.loads(text))


def put(sandbox: RunningSandbox, *entries: dict[str, Any]) -> None:
    answer = sandbox.client("events").put_events(Entries=list(entries))
    assert answer["FailedEntryCount"] == 0, answer


def notified(sandbox: RunningSandbox, key_id: str) -> dict[str, Any]:
    return wait_for(
        f"the incident of {key_id} to be notified",
        lambda: (
            found
            if (found := incident(sandbox, key_id)) and "notified" in found.get("steps", {})
            else None
        ),
    )


def posted_about(sandbox: RunningSandbox, key_id: str) -> list[dict[str, Any]]:
    return [
        c
        for c in sandbox.slack_calls()
        if c["method"] == "chat.postMessage" and key_id in json.dumps(c["params"])
    ]


def test_ready_file_holds_the_contract_on_loopback(sandbox: RunningSandbox) -> None:
    # Given the ready file, Then every key of the contract is there and every URL is loopback
    assert set(sandbox.doc) >= CONTRACT_KEYS
    for key in ("aws_endpoint", "queue_url", "slack_api_url", "slack_calls_url", "approval_url"):
        assert urlsplit(sandbox.doc[key]).hostname == "127.0.0.1", key
    assert sandbox.doc["region"] == "us-east-1"
    assert sandbox.doc["approvers"]
    assert all(a.startswith("U") for a in sandbox.doc["approvers"])
    assert len(sandbox.doc["signing_secret"]) >= 32
    assert sandbox.ready_file.stat().st_mode & 0o077 == 0
    # And, beyond the contract, the scanner queue: a second queue of the template
    assert urlsplit(sandbox.doc["scanner_queue_url"]).hostname == "127.0.0.1"
    assert sandbox.doc["scanner_queue_url"] != sandbox.doc["queue_url"]


def test_a_health_event_on_the_bus_is_contained(sandbox: RunningSandbox) -> None:
    # Given a user with a key and an e-mail tag
    user, key_id = make_user(sandbox, "health", {"email": "owner@example.com"})
    # When AWS Health reports the key on the default bus
    put(
        sandbox,
        sample_entry(
            "health_credentials_exposed",
            {"AKIAQ7ZSLEAKTEST0001": key_id, "ci-deployer": user},  # pragma: allowlist secret
        ),
    )
    # Then the key becomes Inactive, a replacement exists and the owner got a DM
    wait_for("the key to be Inactive", lambda: key_status(sandbox, user, key_id) == "Inactive")
    found = notified(sandbox, key_id)
    assert found["status"] == "contained"
    assert key_status(sandbox, user, found["new_key_id"]) == "Active"
    posts = posted_about(sandbox, key_id)
    assert posts, "no Slack message about the key"
    lookups = [c for c in sandbox.slack_calls() if c["method"] == "users.lookupByEmail"]
    assert {"email": "owner@example.com"} in [c["params"] for c in lookups]


def test_duplicates_across_sources_make_one_incident_and_one_replacement(
    sandbox: RunningSandbox,
) -> None:
    # Given a user's key reported by Health twice, GuardDuty and Trusted Advisor at once
    user, key_id = make_user(sandbox, "dup", {})
    health = sample_entry(
        "health_credentials_exposed",
        {"AKIAQ7ZSLEAKTEST0001": key_id, "ci-deployer": user},  # pragma: allowlist secret
    )
    guardduty = sample_entry(
        "guardduty_iam_user",
        {"AKIAQ7ZSLEAKTEST0011": key_id, "data-loader": user},  # pragma: allowlist secret
    )
    advisor = sample_entry(
        "trustedadvisor_exposed_keys",
        {"AKIAQ7ZSLEAKTEST0031": key_id, "release-uploader": user},  # pragma: allowlist secret
    )
    put(sandbox, health, guardduty, advisor, health)
    # Then one incident records every delivery, from the three sources
    found = wait_for(
        "four sightings",
        lambda: (
            got
            if (got := incident(sandbox, key_id)) and int(got.get("sighting_count", 0)) >= 4
            else None
        ),
    )
    sources = {s["source"] for s in found["sightings"]}
    assert sources == {"health", "guardduty", "trustedadvisor"}
    # And exactly one replacement was made, and one notice sent to the (unknown) owner's channel
    notified(sandbox, key_id)
    keys = sandbox.client("iam").list_access_keys(UserName=user)["AccessKeyMetadata"]
    assert sorted(k["Status"] for k in keys) == ["Active", "Inactive"]
    time.sleep(1.5)  # a late duplicate would post again within this time; none may
    assert len(posted_about(sandbox, key_id)) == 1


def _dlq_url(sandbox: RunningSandbox) -> str:
    # Found through the leak queue's own redrive policy, as an operator would.
    sqs = sandbox.client("sqs")
    attrs = sqs.get_queue_attributes(QueueUrl=sandbox.doc["queue_url"], AttributeNames=["All"])
    policy = json.loads(attrs["Attributes"]["RedrivePolicy"])
    name = policy["deadLetterTargetArn"].rsplit(":", 1)[1]
    return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])


def test_a_poison_message_reaches_the_dlq_with_its_reason(sandbox: RunningSandbox) -> None:
    # Given a message that can never be processed
    marker = unique_name("poison")
    sqs = sandbox.client("sqs")
    sqs.send_message(QueueUrl=sandbox.doc["queue_url"], MessageBody=f"not json {marker}")
    dlq = _dlq_url(sandbox)
    seen: list[dict[str, Any]] = []

    def dead_lettered() -> dict[str, Any] | None:
        answer = sqs.receive_message(
            QueueUrl=dlq, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=1
        )
        seen.extend(answer.get("Messages", []))
        return next((m for m in seen if marker in m["Body"]), None)

    # Then it is in the DLQ, with a reason attribute, and not in the leak queue any more
    message = wait_for("the poison message in the DLQ", dead_lettered)
    reason = message["MessageAttributes"]["reason"]["StringValue"]
    assert "json" in reason.lower(), reason
    remaining = sqs.get_queue_attributes(
        QueueUrl=sandbox.doc["queue_url"], AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert remaining["Attributes"]["ApproximateNumberOfMessages"] == "0"


def _buttons(sandbox: RunningSandbox, key_id: str) -> dict[str, dict[str, Any]]:
    post = posted_about(sandbox, key_id)[0]
    blocks = post["params"]["blocks"]
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    return {
        e["action_id"]: e
        for b in blocks
        if b.get("type") == "actions"
        for e in b["elements"]
        if e.get("type") == "button"
    }


def _delete_button(sandbox: RunningSandbox, key_id: str) -> dict[str, Any]:
    buttons = _buttons(sandbox, key_id)
    delete = [b for b in buttons.values() if b.get("style") == "danger"]
    assert delete, f"no danger-style delete button in {list(buttons)}"
    return delete[0]


def test_approval_over_http_deletes_for_the_owner_and_refuses_forgeries(
    sandbox: RunningSandbox,
) -> None:
    # Given a contained key whose owner is tagged with a Slack user ID
    owner = "U0E2EOWNER"
    user, key_id = make_user(sandbox, "approve", {"slack-user-id": owner})
    put(
        sandbox,
        sample_entry(
            "health_credentials_exposed",
            {"AKIAQ7ZSLEAKTEST0001": key_id, "ci-deployer": user},  # pragma: allowlist secret
        ),
    )
    found = notified(sandbox, key_id)
    button = _delete_button(sandbox, key_id)
    url, secret, team = (
        sandbox.doc["approval_url"],
        sandbox.doc["signing_secret"],
        sandbox.doc.get("team_id"),
    )
    body = click_body(button["action_id"], button["value"], owner, team)

    # When clicks arrive with a wrong secret, a stale timestamp, or from a stranger
    assert signed_post(url, body, "not-the-secret")[0] == 401
    assert signed_post(url, body, secret, timestamp=int(time.time()) - 600)[0] == 401
    stranger = click_body(button["action_id"], button["value"], "U0STRANGER", team)
    assert signed_post(url, stranger, secret)[0] == 403
    forged_id = click_body(button["action_id"], "no-such-incident", owner, team)
    assert signed_post(url, forged_id, secret)[0] in (403, 404)
    # Then nothing happened to the key
    assert key_status(sandbox, user, key_id) == "Inactive"

    # When the owner clicks Delete, signed
    status, answer = signed_post(url, body, secret)
    # Then the old key is deleted, the replacement stays, and the message loses its buttons
    assert status == 200, answer
    assert key_status(sandbox, user, key_id) == "Deleted"
    assert key_status(sandbox, user, found["new_key_id"]) == "Active"
    updates = wait_for(
        "chat.update of the DM",
        lambda: [
            c
            for c in sandbox.slack_calls()
            if c["method"] == "chat.update" and c["params"].get("ts") == found["slack_ts"]
        ],
    )
    blocks = updates[-1]["params"]["blocks"]
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    assert not [b for b in blocks if b.get("type") == "actions"]
    # And a double click changes nothing
    again, _ = signed_post(url, body, secret)
    assert again in (200, 409)
    assert (incident(sandbox, key_id) or {})["status"] == "deleted"


def test_the_slack_stand_in_records_response_url_posts(sandbox: RunningSandbox) -> None:
    # Given the stand-in of the ready file, When something POSTs to a response URL
    base = sandbox.doc["slack_calls_url"].rsplit("/_calls", 1)[0]
    marker = unique_name("resp")
    request = urllib.request.Request(  # noqa: S310 (loopback)
        f"{base}/_response/{marker}",
        data=json.dumps({"text": marker}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310
        assert answer.status == 200
    # Then it is recorded as method response_url, in order
    calls = sandbox.slack_calls()
    assert calls[-1]["method"] == "response_url"
    assert calls[-1]["params"]["text"] == marker


def _cli(
    sandbox: RunningSandbox, *args: str, table: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SLACK_"))}
    env.update(
        AWS_ENDPOINT_URL=sandbox.doc["aws_endpoint"],
        AWS_DEFAULT_REGION=sandbox.doc["region"],
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",  # pragma: allowlist secret
    )
    env.pop("INCIDENTS_TABLE", None)
    if table:
        env["INCIDENTS_TABLE"] = sandbox.doc["incidents_table"]
    return subprocess.run(
        [sys.executable, "-m", "leak_responder", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_contain_from_a_terminal_prints_each_step(sandbox: RunningSandbox) -> None:
    # Given a key, and the sandbox reached through AWS_ENDPOINT_URL
    user, key_id = make_user(sandbox, "cli", {})
    # When a dry run is asked for, Then nothing changes
    dry = _cli(sandbox, "contain", key_id, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "dry run" in dry.stdout.lower()
    assert key_status(sandbox, user, key_id) == "Active"
    # When it is contained for real, Then each step is printed and the key is Inactive
    real = _cli(sandbox, "contain", key_id)
    assert real.returncode == 0, real.stderr
    lines = real.stdout
    assert lines.index("deactivated") < lines.index("replacement created")
    assert key_status(sandbox, user, key_id) == "Inactive"


def test_contain_without_a_table_says_what_is_missing(sandbox: RunningSandbox) -> None:
    result = _cli(sandbox, "contain", "AKIA" + "A" * 16, table=False)
    assert result.returncode == 2
    assert "INCIDENTS_TABLE" in result.stderr


# ----------------------------------------------------------------------- the scanner queue

SCANNER_ONLY = "only scanner findings are accepted on the scanner queue"


def _event_body(name: str, replacements: dict[str, str]) -> str:
    """A sample EventBridge envelope as an SQS body, the shape the rules deliver to a queue."""
    text = event_path(name).read_text()
    for old, new in replacements.items():
        text = text.replace(old, new)
    return json.dumps(json.loads(text))


def _quarantine_body(user: str) -> str:
    # AWS quarantines a user's keys that exist when it attaches the policy: the event is now.
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return _event_body("cloudtrail_quarantine_v2", {"build-bot": user, "2026-11-28T20:10:05Z": now})


def _session_key_id() -> str:
    return "ASIA" + "".join(random.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", k=16))


def _dead_lettered(sandbox: RunningSandbox, markers: list[str]) -> dict[str, dict[str, Any]]:
    """The DLQ messages whose body holds each marker, left on the DLQ for other readers."""
    sqs, dlq = sandbox.client("sqs"), _dlq_url(sandbox)
    found: dict[str, dict[str, Any]] = {}

    def all_found() -> dict[str, dict[str, Any]] | None:
        answer = sqs.receive_message(
            QueueUrl=dlq,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            WaitTimeSeconds=1,
            VisibilityTimeout=0,  # look, do not take: other tests read this DLQ too
        )
        for message in answer.get("Messages", []):
            for marker in markers:
                if marker in message["Body"]:
                    found[marker] = message
        return found if len(found) == len(markers) else None

    return wait_for(f"{len(markers)} messages in the DLQ", all_found)


def test_aws_events_on_the_scanner_queue_are_dead_lettered_and_change_nothing(
    sandbox: RunningSandbox,
) -> None:
    # Given a user with an active key, and a role, that a CI role would like to disable
    iam = sandbox.client("iam")
    user, key_id = make_user(sandbox, "victim", {})
    role = unique_name("victim-role")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({"Statement": []}))
    # When the CI role sends AWS-shaped events to the one queue it may write to: AWS's
    # quarantine of the user (all their keys), GuardDuty on the role's session (a deny-all)
    quarantine = _quarantine_body(user)
    guardduty = _event_body(
        "guardduty_assumed_role",
        {
            "ASIAQ7ZSLEAKTEST0012": _session_key_id(),  # pragma: allowlist secret
            "web-instance-role": role,
        },
    )
    sqs = sandbox.client("sqs")
    for body in (quarantine, guardduty):
        sqs.send_message(QueueUrl=sandbox.doc["scanner_queue_url"], MessageBody=body)
    # Then both are dead-lettered with the reason
    found = _dead_lettered(sandbox, [user, role])
    for message in found.values():
        assert message["MessageAttributes"]["reason"]["StringValue"] == SCANNER_ONLY
    # And nothing changed in IAM, and no incident was opened
    assert key_status(sandbox, user, key_id) == "Active"
    assert iam.list_user_policies(UserName=user)["PolicyNames"] == []
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == []
    assert incident(sandbox, key_id) is None
    assert not posted_about(sandbox, user)


def test_a_scanner_finding_on_the_scanner_queue_is_contained(sandbox: RunningSandbox) -> None:
    # Given a user's key, When leak-scan's message for it arrives on the scanner queue
    user, key_id = make_user(sandbox, "scanned", {})
    message = load_event("scanner_v1")
    message.update(key_id=key_id, account_id=sandbox.doc["account_id"])
    sandbox.client("sqs").send_message(
        QueueUrl=sandbox.doc["scanner_queue_url"], MessageBody=json.dumps(message)
    )
    # Then the key is contained, its sighting from the scanner
    wait_for("the key to be Inactive", lambda: key_status(sandbox, user, key_id) == "Inactive")
    found = notified(sandbox, key_id)
    assert found["status"] == "contained"
    assert {s["source"] for s in found["sightings"]} == {"scanner"}


def test_the_leak_queue_still_takes_aws_events(sandbox: RunningSandbox) -> None:
    # The control for the scanner-queue test: the same forged quarantine event, on the queue
    # that only this stack's rules may write to (IAM's job in a deployment), is acted on.
    user, key_id = make_user(sandbox, "quarantined", {})
    body = _quarantine_body(user)
    sandbox.client("sqs").send_message(QueueUrl=sandbox.doc["queue_url"], MessageBody=body)
    wait_for("the key to be Inactive", lambda: key_status(sandbox, user, key_id) == "Inactive")
