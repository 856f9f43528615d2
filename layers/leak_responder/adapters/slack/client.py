"""WebClient construction, and the translation of slack_sdk's errors into ours."""

from __future__ import annotations

import urllib.error
from http.client import HTTPException

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry import RetryHandler, RetryIntervalCalculator
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from leak_responder.domain.errors import NotificationError
from leak_responder.domain.ports import Secret

DEFAULT_BASE_URL = "https://slack.com/api/"

# Errors that mean "this recipient cannot be reached", not "Slack is unwell": fall back to the
# security channel instead of retrying forever.
RECIPIENT_ERRORS = frozenset(
    {
        "users_not_found",
        "user_not_found",
        "user_disabled",
        "user_not_visible",
        "cannot_dm_bot",
        "channel_not_found",
        "is_archived",
        "not_in_channel",
        "invalid_users",
        "messages_tab_disabled",
    }
)


class CappedRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """Honours Retry-After, but only when it is short: a long wait would hold the Lambda (and the
    SQS batch) hostage, while a pending notice is retried anyway by redelivery and the reminder."""

    def __init__(self, max_retry_count: int = 2, max_wait_seconds: int = 5) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait_seconds = max_wait_seconds

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        for name, values in response.headers.items():
            if name.lower() == "retry-after":
                try:
                    return int(values[0]) <= self.max_wait_seconds
                except (ValueError, IndexError):
                    return False
        return True


def build_web_client(
    token: Secret,
    *,
    base_url: str | None = None,
    background: bool = True,
    timeout: int | None = None,
    max_retries: int = 2,
    interval: RetryIntervalCalculator | None = None,
) -> WebClient:
    """A WebClient for the responder and the reminder (``background``), or the approval path.

    In the background, rate limits (honouring Retry-After), 5xx and dropped connections are
    retried by slack_sdk's handlers; the approval path must answer Slack within 3 s, so it gets a
    short timeout and no retries at all.
    """
    handlers: list[RetryHandler] = []
    if background:
        calc = interval or BackoffRetryIntervalCalculator(backoff_factor=0.5)
        handlers = [
            CappedRateLimitRetryHandler(max_retry_count=max_retries),
            ServerErrorRetryHandler(max_retry_count=max_retries, interval_calculator=calc),
            ConnectionErrorRetryHandler(max_retry_count=max_retries, interval_calculator=calc),
        ]
    return WebClient(
        token=token.reveal(),
        base_url=base_url or DEFAULT_BASE_URL,
        timeout=timeout if timeout is not None else (10 if background else 2),
        retry_handlers=handlers,
    )


def slack_error_code(exc: SlackApiError) -> str:
    data = getattr(exc.response, "data", None)
    if isinstance(data, dict):
        return str(data.get("error") or f"http_{exc.response.status_code}")
    return f"http_{exc.response.status_code}"


def as_notification_error(method: str, exc: Exception) -> NotificationError:
    """One safe line: the method and Slack's error code, never the request (it has the token)."""
    if isinstance(exc, SlackApiError):
        return NotificationError(f"slack {method} failed: {slack_error_code(exc)}")
    return NotificationError(f"slack {method} failed: {type(exc).__name__}")


# What a call to Slack can raise besides SlackApiError: timeouts and refused connections.
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    SlackClientError,
    urllib.error.URLError,
    HTTPException,
    OSError,
    TimeoutError,
)
