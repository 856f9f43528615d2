"""What Lambda hands a handler: SQS events as the event source mapping delivers them, and a
context object.

Both come from the sandbox's own stand-ins, so there is one definition of each shape: records
are built by ``leak_sandbox.worker.lambda_sqs_event`` (the sandbox's event source mapping) from
the message SQS would return, and the context is ``leak_sandbox.lambda_local.LocalContext``.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Any

from leak_sandbox.lambda_local import LocalContext
from leak_sandbox.testkit.events import MOTO_ACCOUNT
from leak_sandbox.worker import lambda_sqs_event

REGION = "us-east-1"
SENDER_ID = "AIDAEXAMPLESENDER"


def sqs_record(
    body: str,
    queue_arn: str,
    receive_count: int = 1,
    *,
    sent_at: datetime | None = None,
    sender_id: str = SENDER_ID,
    region: str = REGION,
) -> dict[str, Any]:
    """One record of ``body`` from ``queue_arn``, as the SQS event source mapping hands it to
    Lambda: sent (and first received) at ``sent_at``, now by default."""
    millis = str(int((sent_at.timestamp() if sent_at else time.time()) * 1000))
    message = {
        "MessageId": str(uuid.uuid4()),
        "ReceiptHandle": uuid.uuid4().hex,
        "Body": body,
        "Attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": millis,
            "SenderId": sender_id,
            "ApproximateFirstReceiveTimestamp": millis,
        },
    }
    record: dict[str, Any] = lambda_sqs_event([message], queue_arn, region)["Records"][0]
    return record


def sqs_event(bodies: list[str], queue_arn: str, receive_count: int = 1) -> dict[str, Any]:
    """One batch: a record per body, each received ``receive_count`` times."""
    return {"Records": [sqs_record(body, queue_arn, receive_count) for body in bodies]}


def lambda_context(
    function: str = "ResponderFunction",
    timeout_s: int = 60,
    *,
    account: str = MOTO_ACCOUNT,
    region: str = REGION,
) -> LocalContext:
    """The context Lambda passes ``function`` (the responder's, by default)."""
    arn = f"arn:aws:lambda:{region}:{account}:function:{function}"
    return LocalContext(function, arn, timeout_s)
