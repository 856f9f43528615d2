"""Building boto3 clients: one factory for every function, each with its own timeouts."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

# The responder and reminder: fail fast and let SQS redeliver rather than hold a batch on a
# slow endpoint.
CLIENT_CONFIG = Config(
    connect_timeout=3, read_timeout=10, retries={"mode": "standard", "max_attempts": 3}
)


class ClientFactory:
    """``(service, credentials) -> client`` over one boto3 session.

    ``credentials`` are an assumed role's (AccessKeyId, SecretAccessKey, SessionToken), or None
    for the function's own.
    """

    def __init__(
        self,
        session: boto3.session.Session | None = None,
        region: str | None = None,
        config: Config = CLIENT_CONFIG,
    ) -> None:
        self._session = session or boto3.session.Session(region_name=region)
        self._region = region or self._session.region_name or "us-east-1"
        self._config = config

    def __call__(self, service: str, creds: dict[str, str] | None = None) -> Any:
        kwargs: dict[str, Any] = {"region_name": self._region, "config": self._config}
        if creds:
            kwargs.update(
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
            )
        return self._session.client(service, **kwargs)  # type: ignore[call-overload]
