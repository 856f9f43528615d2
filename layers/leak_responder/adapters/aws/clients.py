"""Building boto3 clients: one factory for every function, each with its own timeouts."""

from __future__ import annotations

import copy
from typing import Any

import boto3
from botocore.config import Config

# The responder and reminder: fail fast and let SQS redeliver rather than hold a batch on a
# slow endpoint.
CLIENT_CONFIG = Config(
    connect_timeout=3, read_timeout=10, retries={"mode": "standard", "max_attempts": 3}
)
# The one urgent call of a containment (UpdateAccessKey Inactive; an ASIA key's revoke policy)
# makes one attempt per call: adapters/aws/pacing.UrgentPacer tries again, within a budget and
# at a pace shared by the account's urgent calls, where botocore's retries would outlast the
# timeout or stop once their quota is spent.
URGENT_CLIENT_CONFIG = Config(
    connect_timeout=2, read_timeout=2, retries={"mode": "standard", "total_max_attempts": 1}
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
        # A copy per client: botocore rewrites a config's retries dict in place when it builds
        # a client, and these module-level configs must stay as written.
        config = copy.deepcopy(self._urgent_config if urgent else self._config)
        kwargs: dict[str, Any] = {"region_name": self._region, "config": config}
        if creds:
            kwargs.update(
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
            )
        return self._session.client(service, **kwargs)  # type: ignore[call-overload]
