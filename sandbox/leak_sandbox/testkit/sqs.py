"""SQS as the dead-letter adapter (``leak_responder.adapters.aws.dlq``) talks to it: a client
whose ``send_message`` refuses what real SQS refuses, and records what it accepted.

``RecordingDeadLetters`` (``fakes``) records what the responder hands the port; this records
what would reach the queue after the adapter has redacted, cut and encoded it, so a test can
check the real adapter end to end without moto.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

# SendMessage's rules (Amazon SQS API Reference, SendMessage): the body is 1 character or
# more of XML's allowed characters; body and attributes (name, type and value) together are
# at most the queue's maximum size; a String attribute is not empty, a Number one is a number.
# 256 KiB is the size EventBridge events are held to, and what the adapter aims at.
MAX_MESSAGE_BYTES = 256 * 1024
_NOT_ALLOWED = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


@dataclass(frozen=True)
class SentMessage:
    queue_url: str
    body: str
    attributes: dict[str, str]

    @property
    def reason(self) -> str | None:
        return self.attributes.get("reason")


def _refused(code: str, message: str) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": 400},
    }
    return ClientError(response, "SendMessage")


class RecordingSqsClient:
    """``send_message`` of a boto3 SQS client, checked as SQS checks it, recorded in ``sent``.

    ``fail_with`` (an error code) makes every call fail as SQS would with that code.
    """

    def __init__(self, max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self.max_message_bytes = max_message_bytes
        self.sent: list[SentMessage] = []
        self.refused: list[str] = []  # the error code of each refused call
        self.fail_with: str | None = None

    def send_message(
        self,
        *,
        QueueUrl: str,  # boto3's parameter names
        MessageBody: str,
        MessageAttributes: dict[str, dict[str, str]] | None = None,
        **_other: Any,
    ) -> dict[str, str]:
        try:
            attributes = self._check(MessageBody, MessageAttributes or {})
        except ClientError as exc:
            self.refused.append(str(exc.response["Error"]["Code"]))
            raise
        self.sent.append(SentMessage(QueueUrl, MessageBody, attributes))
        return {"MessageId": str(uuid.uuid4())}

    def _check(self, body: str, raw: dict[str, dict[str, str]]) -> dict[str, str]:
        if self.fail_with:
            raise _refused(self.fail_with, "refused by the test")
        if not isinstance(body, str) or not body:
            raise _refused("InvalidParameterValue", "The message body must not be empty.")
        if _NOT_ALLOWED.search(body):
            raise _refused("InvalidMessageContents", "Invalid characters found in the body.")
        size = len(body.encode("utf-8"))
        attributes: dict[str, str] = {}
        for name, attribute in raw.items():
            kind = attribute.get("DataType", "")
            value = attribute.get("StringValue")
            if not isinstance(value, str) or not value:
                raise _refused("InvalidParameterValue", f"Attribute {name} must not be empty.")
            if _NOT_ALLOWED.search(value):
                raise _refused("InvalidMessageContents", f"Invalid characters in {name}.")
            if kind.startswith("Number") and not _NUMBER.fullmatch(value):
                raise _refused("InvalidParameterValue", f"Attribute {name} is not a number.")
            size += len(name.encode()) + len(kind.encode()) + len(value.encode("utf-8"))
            attributes[name] = value
        if size > self.max_message_bytes:
            raise _refused(
                "InvalidParameterValue",
                f"Message must be shorter than {self.max_message_bytes} bytes.",
            )
        return attributes
