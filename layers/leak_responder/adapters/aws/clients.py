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
# The one urgent call of a containment (UpdateAccessKey Inactive; an ASIA key's revoke policy)
# keeps trying through throttling rather than give the key back to the queue for minutes, and
# paces itself to what IAM accepts (botocore's adaptive mode: a client-side token bucket that
# shrinks on throttling) instead of retrying in a storm. Ten attempts with botocore's capped
# exponential back-off stay inside the responder's 60 s timeout.
URGENT_CLIENT_CONFIG = Config(
    connect_timeout=3, read_timeout=10, retries={"mode": "adaptive", "max_attempts": 10}
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
        urgent_config: Config = URGENT_CLIENT_CONFIG,
    ) -> None:
        self._session = session or boto3.session.Session(region_name=region)
        self._region = region or self._session.region_name or "us-east-1"
        self._config = config
        self._urgent_config = urgent_config

    def __call__(
        self, service: str, creds: dict[str, str] | None = None, *, urgent: bool = False
    ) -> Any:
        """``urgent``: the client for a containment's one urgent call (its own retry policy)."""
        config = self._urgent_config if urgent else self._config
        kwargs: dict[str, Any] = {"region_name": self._region, "config": config}
        if creds:
            kwargs.update(
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
            )
        return self._session.client(service, **kwargs)  # type: ignore[call-overload]
