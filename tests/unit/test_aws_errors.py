"""botocore errors become the project's errors by error code, never by message text."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from leak_responder.adapters.aws.errors import translate
from leak_responder.domain.errors import (
    AccessDeniedError,
    ConflictError,
    KeyNotFoundError,
    LeakResponderError,
    TransientError,
    UnmodifiableEntityError,
)


def client_error(code: str, status: int = 400) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": "ignored"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "AnyOperation",
    )


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("NoSuchEntity", 404, KeyNotFoundError),
        ("ResourceNotFoundException", 400, KeyNotFoundError),
        ("AccessDenied", 403, AccessDeniedError),
        ("ExpiredToken", 400, AccessDeniedError),
        ("ConditionalCheckFailedException", 400, ConflictError),
        ("UnmodifiableEntity", 400, UnmodifiableEntityError),
        ("Throttling", 400, TransientError),
        ("ProvisionedThroughputExceededException", 400, TransientError),
        ("ServiceUnavailable", 503, TransientError),
        ("SomethingNew", 500, TransientError),
        # A quota (TagUser's 50 tags, an inline policy's size) is not the two-key limit, and
        # retrying it cannot help.
        ("LimitExceeded", 409, LeakResponderError),
        ("ValidationError", 400, LeakResponderError),
    ],
)
def test_client_errors_by_code(code: str, status: int, expected: type[Exception]) -> None:
    error = translate(client_error(code, status), "iam:Something")
    assert type(error) is expected
    assert "ignored" not in str(error)


@pytest.mark.parametrize(
    "exc",
    [
        EndpointConnectionError(endpoint_url="https://iam.amazonaws.com"),
        ReadTimeoutError(endpoint_url="https://iam.amazonaws.com"),
    ],
)
def test_connection_trouble_is_transient(exc: Exception) -> None:
    assert isinstance(translate(exc, "iam:UpdateAccessKey"), TransientError)
