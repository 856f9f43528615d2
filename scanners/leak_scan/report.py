"""``--report``: one scanner message (schema v1 of docs/interfaces.md) per distinct key, to SQS.

The SQS client is passed in; cli.py builds it at the edge. Messages carry key IDs and
locations only, never a secret: URLs lose their userinfo, since a CI checkout's origin is
``https://gitlab-ci-token:<job token>@host/...`` and the responder shows it in Slack.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from leak_responder.redact import safe_url
from leak_scan import SCANNER
from leak_scan.errors import ReportError
from leak_scan.model import Finding

SCHEMA = "leak-responder/scanner-finding/v1"
BATCH_SIZE = 10
# Error codes that mean "slow down and retry", for whole calls and for single batch entries.
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
        "KmsThrottled",
        "KMS.ThrottlingException",
        "AWS.SimpleQueueService.RequestThrottled",
    }
)


class SqsClient(Protocol):
    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> Any: ...


def _utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _location_to_report(findings: Sequence[Finding]) -> Finding:
    """The location to report for a key: one with its secret, else the first in file order."""
    return sorted(findings, key=lambda f: (not f.secret_present, f.path, f.line, f.commit or ""))[0]


def build_messages(
    findings: Iterable[Finding],
    *,
    repository: str | None,
    detected_at: str | None = None,
    url_for: Callable[[Finding], str | None] | None = None,
) -> list[dict[str, Any]]:
    """One schema-v1 message per distinct key ID, in key order."""
    by_key: dict[str, list[Finding]] = {}
    for finding in findings:
        if finding.key_id:
            by_key.setdefault(finding.key_id, []).append(finding)
    when = detected_at or _utc_now()
    where = safe_url(repository) if repository else None
    messages = []
    for key_id in sorted(by_key):
        group = by_key[key_id]
        best = _location_to_report(group)
        url = url_for(best) if url_for else None
        messages.append(
            {
                "schema": SCHEMA,
                "key_id": key_id,
                "account_id": best.account_id,
                "secret_present": any(f.secret_present for f in group),
                "detected_at": when,
                "scanner": SCANNER,
                "location": {
                    "repository": where,
                    "path": best.path,
                    "line": best.line,
                    "commit": best.commit,
                    "url": safe_url(url) if url else None,
                },
            }
        )
    return messages


def _error_code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


class QueueReporter:
    """Sends messages with SendMessageBatch (10 per call), retrying throttling with backoff."""

    def __init__(
        self,
        sqs: SqsClient,
        queue_url: str,
        *,
        max_attempts: int = 6,
        base_delay: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.sleep = sleep
        self.fifo = queue_url.endswith(".fifo")

    def _entry(self, index: int, message: dict[str, Any]) -> dict[str, Any]:
        entry: dict[str, Any] = {"Id": str(index), "MessageBody": json.dumps(message)}
        if self.fifo:
            location = json.dumps(message["location"], sort_keys=True)
            entry["MessageGroupId"] = message["key_id"]
            entry["MessageDeduplicationId"] = hashlib.sha256(
                f"{message['key_id']}|{location}".encode()
            ).hexdigest()
        return entry

    def send(self, messages: Sequence[dict[str, Any]]) -> int:
        """Send all messages; return how many were sent, or raise ReportError naming the rest."""
        failed: list[tuple[str, str]] = []
        for offset in range(0, len(messages), BATCH_SIZE):
            batch = {
                str(i): self._entry(i, m)
                for i, m in enumerate(messages[offset : offset + BATCH_SIZE], start=offset)
            }
            failed.extend(self._send_batch(batch, messages))
        if failed:
            detail = ", ".join(f"{key} ({code})" for key, code in failed)
            raise ReportError(
                f"{len(failed)} of {len(messages)} scanner message(s) not sent to "
                f"{self.queue_url}: {detail}",
                [key for key, _ in failed],
            )
        return len(messages)

    def _send_batch(
        self, pending: dict[str, dict[str, Any]], messages: Sequence[dict[str, Any]]
    ) -> list[tuple[str, str]]:
        permanent: list[tuple[str, str]] = []
        last_code = "unknown"
        for attempt in range(self.max_attempts):
            if attempt:
                self.sleep(self.base_delay * (2 ** (attempt - 1)))
            try:
                response = self.sqs.send_message_batch(
                    QueueUrl=self.queue_url, Entries=list(pending.values())
                )
            except Exception as exc:
                code = _error_code(exc)
                if code is None or code not in THROTTLING_CODES:
                    if code is None and not _is_transport_error(exc):
                        raise
                    return permanent + [
                        (messages[int(i)]["key_id"], code or type(exc).__name__) for i in pending
                    ]
                last_code = code
                continue
            retry: dict[str, dict[str, Any]] = {}
            for item in response.get("Failed", []) or []:
                entry_id = str(item.get("Id"))
                code = str(item.get("Code") or "unknown")
                if entry_id not in pending:
                    continue
                if item.get("SenderFault") or code not in THROTTLING_CODES:
                    permanent.append((messages[int(entry_id)]["key_id"], code))
                else:
                    retry[entry_id] = pending[entry_id]
                    last_code = code
            pending = retry
            if not pending:
                return permanent
        return permanent + [(messages[int(i)]["key_id"], last_code) for i in pending]


def _is_transport_error(exc: Exception) -> bool:
    """botocore's connection and endpoint errors (no error code): reported, not raised."""
    module = type(exc).__module__
    return module.startswith(("botocore", "urllib3"))
