"""Dead-letter adapter: a message that can never succeed goes straight to the DLQ with a reason,
instead of burning the queue's retries."""

from __future__ import annotations

import re
from typing import Any

from leak_responder.adapters.aws.errors import translated
from leak_responder.redact import redact_reason, redact_secrets

PERMISSIONS: tuple[str, ...] = ("sqs:SendMessage",)
MAX_REASON = 1000
# Body and attributes together: 256 KiB is what EventBridge holds an event to and what every
# SQS queue takes unless its MaximumMessageSize is lowered (template.yaml leaves it alone).
# Redaction re-encodes JSON with \u escapes, so a body that arrived whole can grow past it.
MAX_MESSAGE_BYTES = 256 * 1024
# What SendMessage accepts (XML 1.0's characters); anything else fails the whole call.
_NOT_SENDABLE = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class DeadLetterQueue:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._sqs = client
        self._url = queue_url

    def send(self, body: str, reason: str, message_id: str, receive_count: int) -> None:
        attributes = {
            # Redacted here too: this is where a reason leaves, whoever called.
            "reason": _attribute("String", redact_reason(reason)[:MAX_REASON] or "unknown"),
            "source_message_id": _attribute("String", message_id or "unknown"),
            "receive_count": _attribute("Number", str(receive_count)),
        }
        # A rejected message may carry what it should not (a scanner bug sending the secret):
        # keep the evidence, drop anything shaped like a secret key.
        evidence = _fit(_sendable(redact_secrets(body)) or "(empty body)", attributes)
        with translated("sqs:SendMessage"):
            self._sqs.send_message(
                QueueUrl=self._url, MessageBody=evidence, MessageAttributes=attributes
            )


def _attribute(kind: str, value: str) -> dict[str, str]:
    return {"DataType": kind, "StringValue": _sendable(value)}


def _sendable(text: str) -> str:
    # A record built by hand, or an exception's text, may hold what SQS refuses.
    return _NOT_SENDABLE.sub("\ufffd", text)


def _fit(body: str, attributes: dict[str, dict[str, str]]) -> str:
    """``body``, cut (and marked so) where the message would exceed the size SQS takes."""
    room = MAX_MESSAGE_BYTES - sum(
        len(name) + len(a["DataType"]) + len(a["StringValue"].encode())
        for name, a in attributes.items()
    )
    encoded = body.encode()
    if len(encoded) <= room:
        return body
    marker = f"\n[cut: {len(encoded)} bytes after redaction]"
    # Cut after redaction, so no secret is split away from what marks it; "ignore" drops
    # only the character the cut went through.
    kept = encoded[: max(0, room - len(marker.encode()))].decode(errors="ignore")
    return kept + marker
