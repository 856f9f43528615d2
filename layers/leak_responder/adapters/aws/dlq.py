"""Dead-letter adapter: a message that can never succeed goes straight to the DLQ with a reason,
instead of burning the queue's retries."""

from __future__ import annotations

from typing import Any

from leak_responder.adapters.aws.errors import translated
from leak_responder.redact import redact_secrets

PERMISSIONS: tuple[str, ...] = ("sqs:SendMessage",)
MAX_REASON = 1000


class DeadLetterQueue:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._sqs = client
        self._url = queue_url

    def send(self, body: str, reason: str, message_id: str, receive_count: int) -> None:
        with translated("sqs:SendMessage"):
            self._sqs.send_message(
                QueueUrl=self._url,
                # A rejected message may carry what it should not (a scanner bug sending the
                # secret): keep the evidence, drop anything shaped like a secret key.
                MessageBody=redact_secrets(body) or "(empty body)",
                MessageAttributes={
                    "reason": {"DataType": "String", "StringValue": reason[:MAX_REASON]},
                    "source_message_id": {"DataType": "String", "StringValue": message_id},
                    "receive_count": {"DataType": "Number", "StringValue": str(receive_count)},
                },
            )
