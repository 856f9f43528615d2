"""STS adapter: which account owns a key, and IAM in member accounts (the Accounts port)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from leak_responder.adapters.aws.errors import translated
from leak_responder.adapters.aws.iam import IamKeyAdmin
from leak_responder.adapters.aws.pacing import UrgentPacer
from leak_responder.domain.errors import AccessDeniedError

ASSUME_PERMISSIONS: tuple[str, ...] = ("sts:AssumeRole",)
PERMISSIONS: tuple[str, ...] = ("sts:GetAccessKeyInfo", *ASSUME_PERMISSIONS)


# Builds a client: (service, credentials or None for our own) -> client. Passed in at the edge.
class ClientFactory(Protocol):
    """``(service, credentials, urgent=...) -> client``: adapters.aws.clients.ClientFactory."""

    def __call__(
        self, service: str, creds: dict[str, str] | None = None, *, urgent: bool = False
    ) -> Any: ...


# Assumed-role credentials are refreshed this long before they expire.
REFRESH_MARGIN = timedelta(minutes=5)
SESSION_NAME = "leak-responder"


class StsAccounts:
    """Home account IAM directly; member accounts through the configured member role.

    Assumed-role sessions are cached per account for their lifetime, so a burst of leaks in one
    member account costs one AssumeRole.
    """

    def __init__(
        self,
        client_factory: ClientFactory,
        home_account_id: str,
        member_role_name: str | None = None,
        partition: str = "aws",
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._factory = client_factory
        self.home_account_id = home_account_id
        self._role = member_role_name
        self._partition = partition
        self._now = now
        self._lock = threading.Lock()
        self._sessions: dict[str, tuple[dict[str, str], datetime]] = {}
        self._clients: dict[tuple[str, str, bool], Any] = {}
        # One pace per account: IAM's write limit is per account.
        self._pacers: dict[str, UrgentPacer] = {}

    def account_of(self, key_id: str) -> str:
        with translated("sts:GetAccessKeyInfo"):
            return str(
                self._factory("sts", None).get_access_key_info(AccessKeyId=key_id)["Account"]
            )

    def key_admin(self, account_id: str) -> IamKeyAdmin:
        with self._lock:
            pacer = self._pacers.setdefault(account_id, UrgentPacer())
        return IamKeyAdmin(
            self.client("iam", account_id),
            account_id,
            self._partition,
            urgent=lambda: self.client("iam", account_id, urgent=True),
            pacer=pacer,
        )

    def client(self, service: str, account_id: str, *, urgent: bool = False) -> Any:
        """A client for ``service`` acting in ``account_id``; AccessDeniedError if unreachable.
        ``urgent``: the one with the urgent call's retry policy (clients.URGENT_CLIENT_CONFIG)."""
        if account_id == self.home_account_id:
            return self._cached(service, account_id, None, urgent)
        if not self._role:
            raise AccessDeniedError(f"account {account_id} is foreign and no member role is set")
        return self._cached(service, account_id, self._credentials(account_id), urgent)

    def _cached(
        self, service: str, account_id: str, creds: dict[str, str] | None, urgent: bool
    ) -> Any:
        who = account_id if creds is None else f"{account_id}:{creds['AccessKeyId']}"
        key = (service, who, urgent)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self._factory(service, creds, urgent=urgent)
            return self._clients[key]

    def _credentials(self, account_id: str) -> dict[str, str]:
        with self._lock:
            cached = self._sessions.get(account_id)
            if cached and cached[1] - REFRESH_MARGIN > self._now():
                return cached[0]
        role_arn = f"arn:{self._partition}:iam::{account_id}:role/{self._role}"
        try:
            with translated("sts:AssumeRole"):
                response = self._factory("sts", None).assume_role(
                    RoleArn=role_arn, RoleSessionName=SESSION_NAME
                )
        except AccessDeniedError as exc:
            raise AccessDeniedError(f"cannot assume {role_arn}") from exc
        raw = response["Credentials"]
        creds = {
            "AccessKeyId": raw["AccessKeyId"],
            "SecretAccessKey": raw["SecretAccessKey"],
            "SessionToken": raw["SessionToken"],
        }
        expires = raw["Expiration"]
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        with self._lock:
            self._sessions[account_id] = (creds, expires)
        return creds
