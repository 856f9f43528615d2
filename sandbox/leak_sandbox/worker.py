"""A stand-in for Lambda's SQS event source mapping: poll, invoke, acknowledge, let fail.

Like the real mapping, it long-polls the queue, hands the handler a Lambda-shaped SQS event,
deletes the records that succeeded and leaves the ones in ``batchItemFailures`` on the queue.
The queue's own redrive policy (from template.yaml) moves a record to the DLQ after
maxReceiveCount receives. The one deliberate difference: a failed record becomes visible again
after ``retry_delay`` seconds rather than after the queue's visibility timeout (6 minutes in the
template), so retries and redrive happen within a test's patience.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from leak_sandbox.lambda_local import Handler, LocalContext

log = logging.getLogger("leak_sandbox.worker")

# One SQS long poll. Short enough that stop() returns promptly, long enough not to spin.
WAIT_SECONDS = 1


def _message_attributes(raw: dict[str, Any]) -> dict[str, Any]:
    """SQS API shape (StringValue, DataType) to the Lambda event shape (stringValue, dataType)."""
    out: dict[str, Any] = {}
    for name, attr in raw.items():
        out[name] = {
            "stringValue": attr.get("StringValue"),
            "binaryValue": attr.get("BinaryValue"),
            "stringListValues": attr.get("StringListValues", []),
            "binaryListValues": attr.get("BinaryListValues", []),
            "dataType": attr.get("DataType", "String"),
        }
    return out


def lambda_sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda passes for a batch received from ``queue_arn``."""
    records = []
    for message in messages:
        body = message.get("Body", "")
        attributes = message.get("Attributes", {})
        records.append(
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
                    "SentTimestamp": attributes.get("SentTimestamp", ""),
                    "SenderId": attributes.get("SenderId", ""),
                    "ApproximateFirstReceiveTimestamp": attributes.get(
                        "ApproximateFirstReceiveTimestamp", ""
                    ),
                },
                "messageAttributes": _message_attributes(message.get("MessageAttributes", {})),
                "md5OfBody": message.get("MD5OfBody") or hashlib.md5(body.encode()).hexdigest(),  # noqa: S324
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        )
    return {"Records": records}


class QueueWorker:
    """Polls one queue on a thread and invokes ``handler`` per batch."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        handler: Handler,
        context_factory: Callable[[], LocalContext],
        *,
        region: str,
        batch_size: int = 10,
        retry_delay: int = 1,
        report_batch_item_failures: bool = True,
        on_batch: Callable[[dict[str, Any], Any], None] | None = None,
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.handler = handler
        self.context_factory = context_factory
        self.region = region
        self.batch_size = max(1, min(10, batch_size))
        self.retry_delay = retry_delay
        self.report_batch_item_failures = report_batch_item_failures
        self.on_batch = on_batch
        self.invocations = 0
        self.errors = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> QueueWorker:
        queue = self.queue_url.rsplit("/", 1)[-1]
        self._thread = threading.Thread(target=self._run, name=f"sqs-worker-{queue}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # keep polling, as the managed mapping does, but say why
                self.errors += 1
                log.exception("sandbox worker: poll failed")
                self._stop.wait(1)

    def poll_once(self) -> int:
        """One receive and, if it returned messages, one invocation. Returns the batch size."""
        answer = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=WAIT_SECONDS,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = answer.get("Messages") or []
        if not messages or self._stop.is_set():
            self._release(messages)
            return 0
        event = lambda_sqs_event(messages, self.queue_arn, self.region)
        self.invocations += 1
        try:
            response = self.handler(event, self.context_factory())
        except Exception:
            # A function error fails the whole batch, as with Lambda.
            self.errors += 1
            log.exception("sandbox worker: handler raised; the whole batch will be retried")
            self._retry(messages)
            return len(messages)
        if self.on_batch is not None:
            self.on_batch(event, response)
        failed = self._failed_ids(response, messages)
        self._delete([m for m in messages if m["MessageId"] not in failed])
        self._retry([m for m in messages if m["MessageId"] in failed])
        return len(messages)

    def _failed_ids(self, response: Any, messages: list[dict[str, Any]]) -> set[str]:
        if not self.report_batch_item_failures:
            return set()
        if not isinstance(response, dict):
            return set()
        items = response.get("batchItemFailures") or []
        ids = {str(item.get("itemIdentifier")) for item in items if isinstance(item, dict)}
        known = {m["MessageId"] for m in messages}
        if ids - known or any(not i for i in ids):
            # Lambda treats an unknown or empty identifier as a failure of the whole batch.
            log.error("sandbox worker: invalid batchItemFailures; retrying the whole batch")
            return known
        return ids

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        if not messages:
            return
        self.sqs.delete_message_batch(
            QueueUrl=self.queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ],
        )

    def _retry(self, messages: list[dict[str, Any]]) -> None:
        self._set_visibility(messages, self.retry_delay)

    def _release(self, messages: list[dict[str, Any]]) -> None:
        self._set_visibility(messages, 0)

    def _set_visibility(self, messages: list[dict[str, Any]], seconds: int) -> None:
        if not messages:
            return
        self.sqs.change_message_visibility_batch(
            QueueUrl=self.queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": seconds}
                for i, m in enumerate(messages)
            ],
        )
