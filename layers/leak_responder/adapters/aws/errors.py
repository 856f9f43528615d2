"""One place that turns botocore errors into the project's errors, by error code."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ReadTimeoutError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from leak_responder.domain.errors import (
    AccessDeniedError,
    ConflictError,
    KeyNotFoundError,
    LeakResponderError,
    TransientError,
    UnmodifiableEntityError,
)

TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestThrottled",
        "RequestThrottledException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "ServiceFailure",
        "InternalFailure",
        "InternalError",
        "InternalServiceError",
        "InternalServiceErrorException",
        "RequestTimeout",
        "RequestTimeoutException",
        "TransactionInProgressException",
        "ConcurrentModification",
    }
)
NOT_FOUND_CODES = frozenset({"NoSuchEntity", "NoSuchEntityException", "ResourceNotFoundException"})
DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "InvalidClientTokenId",
        "ExpiredToken",
        "RegionDisabledException",
    }
)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def translate(exc: Exception, what: str) -> LeakResponderError:
    """Map an SDK exception to our tree. ``what`` names the operation, never a secret."""
    if isinstance(exc, ClientError):
        code = error_code(exc)
        if code in NOT_FOUND_CODES:
            return KeyNotFoundError(f"{what}: not found ({code})")
        if code in DENIED_CODES:
            return AccessDeniedError(f"{what}: access denied ({code})")
        if code == "ConditionalCheckFailedException":
            return ConflictError(f"{what}: conditional write lost")
        if code == "UnmodifiableEntity":
            return UnmodifiableEntityError(f"{what}: IAM refuses to modify it ({code})")
        if code in TRANSIENT_CODES:
            return TransientError(f"{what}: {code}")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if isinstance(status, int) and status >= 500:
            return TransientError(f"{what}: HTTP {status} ({code})")
        return LeakResponderError(f"{what}: {code or 'unknown error'}")
    if isinstance(exc, BotoConnectionError | ReadTimeoutError):
        return TransientError(f"{what}: {type(exc).__name__}")
    return LeakResponderError(f"{what}: {type(exc).__name__}")


@contextmanager
def translated(what: str) -> Iterator[None]:
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, what) from exc
