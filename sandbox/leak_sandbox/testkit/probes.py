"""Looking at a running stack from outside: wait until something holds, read what IAM and the
incident table say. The demo and the end-to-end tests watch the sandbox with these."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def wait_for(
    what: str,
    check: Callable[[], T | None],
    timeout: float = 20.0,
    *,
    error: Callable[[str], BaseException] = TimeoutError,
) -> T:
    """``check()``'s first truthy value, polled every 100 ms; ``error`` (a TimeoutError by
    default) is raised, saying what was awaited, after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise error(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.1)


def key_status(iam: Any, user: str, key_id: str) -> str:
    """``Active`` or ``Inactive`` as IAM lists the key, ``Deleted`` when it is not listed."""
    keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    return next((str(k["Status"]) for k in keys if k["AccessKeyId"] == key_id), "Deleted")


def incident_item(dynamodb: Any, table: str, account_id: str, key_id: str) -> dict[str, Any] | None:
    """The incident record of ``key_id`` as plain values (consistent read), or None."""
    from boto3.dynamodb.types import TypeDeserializer

    item = dynamodb.get_item(
        TableName=table, Key={"pk": {"S": f"{account_id}#{key_id}"}}, ConsistentRead=True
    )
    if "Item" not in item:
        return None
    d = TypeDeserializer()
    return {k: d.deserialize(v) for k, v in item["Item"].items()}
