"""--report: schema-v1 scanner messages on SQS (moto), one per distinct key, never a secret."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from leak_scan import SCANNER
from leak_scan.cli import main
from leak_scan.errors import ReportError
from leak_scan.model import Finding
from leak_scan.report import QueueReporter, build_messages
from tests.scanners.conftest import make_key, make_secret

V1_KEYS = {"schema", "key_id", "account_id", "secret_present", "detected_at", "scanner", "location"}
LOCATION_KEYS = {"repository", "path", "line", "commit", "url"}


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")


def _drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return bodies
        for m in got:
            bodies.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def test_report_sends_one_v1_message_per_distinct_key(
    sqs: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given 13 distinct keys (two batches), one of them in two files, some with secrets
    url = sqs.create_queue(QueueName="leak-queue")["QueueUrl"]
    keys = [make_key(f"{100000000000 + i}") for i in range(13)]
    secrets = [make_secret() for _ in keys]
    for i, (key, secret) in enumerate(zip(keys, secrets, strict=True)):
        pair = f"id={key}\nsecret={secret}\n" if i % 2 else f"id={key}\n"
        (tmp_path / f"f{i:02}.env").write_text(pair)
    (tmp_path / "dup.txt").write_text(f"again {keys[0]}\n")

    # When leak-scan reports them
    code = main([str(tmp_path), "--report", url, "--repository", "git@example.com:org/r.git"])
    out, err = capsys.readouterr()

    # Then each key is one message with exactly the v1 fields, and no secret anywhere
    assert code == 1, err
    bodies = _drain(sqs, url)
    assert sorted(b["key_id"] for b in bodies) == sorted(keys)
    for body in bodies:
        assert set(body) == V1_KEYS
        assert set(body["location"]) == LOCATION_KEYS
        assert body["schema"] == "leak-responder/scanner-finding/v1"
        assert body["scanner"] == SCANNER
        assert body["account_id"] == f"{100000000000 + keys.index(body['key_id'])}"
        assert body["detected_at"].endswith("Z")
        assert body["location"]["repository"] == "git@example.com:org/r.git"
        assert body["location"]["commit"] is None
        assert isinstance(body["location"]["line"], int)
    by_key = {b["key_id"]: b for b in bodies}
    assert [by_key[k]["secret_present"] for k in keys] == [bool(i % 2) for i in range(13)]
    raw = json.dumps(bodies) + out + err
    assert not any(s in raw for s in secrets)


def test_report_honours_aws_endpoint_url(
    sqs: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = sqs.create_queue(QueueName="q2")["QueueUrl"]
    (tmp_path / "a.env").write_text(f"K={make_key()}\n")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    code = main([str(tmp_path), "--report", url])
    _, err = capsys.readouterr()
    assert code == 2
    assert "not sent" in err
    assert _drain(sqs, url) == []


def test_report_to_a_missing_queue_exits_two(
    sqs: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = make_key()
    (tmp_path / "a.env").write_text(f"K={key}\n")
    missing = "https://sqs.us-east-1.amazonaws.com/123456789012/nope"
    code = main([str(tmp_path), "--report", missing])
    _, err = capsys.readouterr()
    assert code == 2
    assert key in err


class FlakySqs:
    """Throttles whole calls, then single entries, then accepts: SQS's two ways to push back."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.sent: list[str] = []

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> Any:
        self.calls.append([e["Id"] for e in Entries])
        if len(self.calls) == 1:
            raise ClientError(
                {"Error": {"Code": "RequestThrottled", "Message": "slow down"}},
                "SendMessageBatch",
            )
        if len(self.calls) == 2:
            first, *rest = Entries
            self.sent += [e["Id"] for e in rest]
            return {
                "Successful": [{"Id": e["Id"]} for e in rest],
                "Failed": [{"Id": first["Id"], "Code": "RequestThrottled", "SenderFault": False}],
            }
        self.sent += [e["Id"] for e in Entries]
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}


def _messages(n: int) -> list[dict[str, Any]]:
    findings = [Finding(path="a", line=i + 1, key_id=make_key()) for i in range(n)]
    return build_messages(findings, repository=None)


def test_throttling_is_retried_until_sent() -> None:
    fake = FlakySqs()
    delays: list[float] = []
    sent = QueueReporter(fake, "https://q", sleep=delays.append).send(_messages(3))
    assert sent == 3
    assert sorted(fake.sent) == ["0", "1", "2"]
    assert fake.calls == [["0", "1", "2"], ["0", "1", "2"], ["0"]]
    assert delays == sorted(delays) and len(delays) == 2


def test_sender_faults_are_reported_not_retried() -> None:
    class Rejecting:
        calls = 0

        def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> Any:
            Rejecting.calls += 1
            return {
                "Successful": [],
                "Failed": [
                    {"Id": e["Id"], "Code": "InvalidMessageContents", "SenderFault": True}
                    for e in Entries
                ],
            }

    messages = _messages(2)
    with pytest.raises(ReportError) as exc:
        QueueReporter(Rejecting(), "https://q", sleep=lambda _s: None).send(messages)
    assert Rejecting.calls == 1
    assert exc.value.failed_key_ids == [m["key_id"] for m in messages]
    assert "InvalidMessageContents" in str(exc.value)


def test_fifo_queues_get_group_and_deduplication_ids(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="leaks.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    messages = _messages(2)
    assert QueueReporter(sqs, url).send(messages) == 2
    assert sorted(b["key_id"] for b in _drain(sqs, url)) == sorted(m["key_id"] for m in messages)


def test_report_never_sends_the_ci_job_token_in_the_clone_url(
    sqs: Any,
    git_repo: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a GitLab CI checkout: origin carries the job token as the URL's password
    token = "glcbt-" + secrets.token_hex(10)
    git_repo(
        "remote", "add", "origin", f"https://gitlab-ci-token:{token}@gitlab.example.com/org/r.git"
    )
    repo: Path = git_repo.path
    (repo / "a.env").write_text(f"K={make_key()}\n")
    url = sqs.create_queue(QueueName="ci-queue")["QueueUrl"]
    monkeypatch.chdir(repo)

    # When leak-scan reports, in every output format
    for fmt in ("text", "json", "sarif"):
        code = main([".", "--report", url, "--format", fmt])
        out, err = capsys.readouterr()

        # Then the message names the repository without the token, and nothing prints it
        assert code == 1, err
        (body,) = _drain(sqs, url)
        assert body["location"]["repository"] == "https://gitlab.example.com/org/r.git"
        assert token not in out + err + json.dumps(body)


def test_explicit_repository_and_urls_are_made_safe_too() -> None:
    token = secrets.token_hex(10)
    (message,) = build_messages(
        [Finding(path="a", line=1, key_id=make_key())],
        repository=f"https://{token}@github.com/org/r.git",
        url_for=lambda f: f"https://x:{token}@github.com/org/r/blob/main/{f.path}#L{f.line}",
    )
    assert message["location"]["repository"] == "https://github.com/org/r.git"
    assert message["location"]["url"] == "https://github.com/org/r/blob/main/a#L1"


def test_plain_ssh_remote_is_reported_as_it_is() -> None:
    (message,) = build_messages(
        [Finding(path="a", line=1, key_id=make_key())], repository="git@example.com:org/r.git"
    )
    assert message["location"]["repository"] == "git@example.com:org/r.git"
