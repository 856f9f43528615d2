"""IAM adapter: the KeyAdmin port."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from leak_responder.adapters.aws.errors import error_code, translate, translated
from leak_responder.adapters.aws.pacing import UrgentPacer
from leak_responder.domain.errors import KeyLimitError
from leak_responder.domain.ports import (
    AccessKeyInfo,
    KeyUsage,
    NewAccessKey,
    PrincipalRef,
    Secret,
)

# Reading the owner's Slack tags (notify step, reminders).
OWNER_PERMISSIONS: tuple[str, ...] = ("iam:ListUserTags",)
# The reminder: owner tags, and whether the old key was deleted outside leak-responder.
REMINDER_PERMISSIONS: tuple[str, ...] = (*OWNER_PERMISSIONS, "iam:ListAccessKeys")

CONTAINMENT_PERMISSIONS: tuple[str, ...] = (
    "iam:GetAccessKeyLastUsed",
    "iam:UpdateAccessKey",
    "iam:ListAccessKeys",
    "iam:CreateAccessKey",
    # Only ever for a replacement key the responder itself created whose secret was lost in a
    # crash before it was stored (never delivered, never used). See domain/containment.py.
    "iam:DeleteAccessKey",
    "iam:ListAttachedUserPolicies",
    # The revoke policy's cutoff only ever moves later: read the one there before writing.
    "iam:GetUserPolicy",
    "iam:PutUserPolicy",
    "iam:GetRolePolicy",
    "iam:PutRolePolicy",
    "iam:TagUser",
    # Exact ARNs, paths included: for the replacement secret's resource policy, and for
    # protected-principal patterns with a path (only when such patterns are configured).
    "iam:GetUser",
    "iam:GetRole",
    *OWNER_PERMISSIONS,
)

APPROVAL_PERMISSIONS: tuple[str, ...] = (
    "iam:GetAccessKeyLastUsed",
    "iam:ListAccessKeys",
    "iam:DeleteAccessKey",
    "iam:UpdateAccessKey",
    "iam:TagUser",
    "iam:UntagUser",  # the deleted key's tag, so a user's tags never reach IAM's quota of 50
)

REVOKE_POLICY_NAME = "leak-responder-revoke-older-sessions"
# GetAccessKeyLastUsed names the root user like this for a root access key.
ROOT_USER_NAMES = frozenset({"root", "<root_account>"})


def revoke_cutoff(issued_before: datetime) -> datetime:
    """The cutoff IAM is given for ``issued_before``: UTC, whole seconds, rounded up.

    Up, never down: a cutoff earlier than the deactivation would spare a session the leaked key
    minted in that last second.
    """
    utc = issued_before.astimezone(UTC)
    whole = utc.replace(microsecond=0)
    return whole if whole == utc else whole + timedelta(seconds=1)


def revoke_policy_document(issued_before: datetime) -> str:
    """Deny everything to sessions issued before the cutoff: the console's "Revoke sessions".

    The cutoff is written as the console's AWSRevokeOlderSessions writes it
    (``2014-05-07T23:47:00Z``). Long-term keys carry no aws:TokenIssueTime, so the policy leaves
    them, and the replacement key, untouched.
    """
    cutoff = revoke_cutoff(issued_before).strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "LeakResponderRevokeOlderSessions",
                    "Effect": "Deny",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": {"DateLessThan": {"aws:TokenIssueTime": cutoff}},
                }
            ],
        }
    )


def _statement_cutoff(statement: object) -> datetime | None:
    """The cutoff of one deny-all-older-sessions statement, None for any other statement."""
    if not isinstance(statement, dict):
        return None
    if set(statement) - {"Sid"} != {"Effect", "Action", "Resource", "Condition"}:
        return None
    if statement["Effect"] != "Deny" or statement["Action"] not in ("*", ["*"]):
        return None
    if statement["Resource"] not in ("*", ["*"]):
        return None
    condition = statement["Condition"]
    if not isinstance(condition, dict) or set(condition) != {"DateLessThan"}:
        return None
    keys = condition["DateLessThan"]
    if not isinstance(keys, dict) or set(keys) != {"aws:TokenIssueTime"}:
        return None
    value = keys["aws:TokenIssueTime"]
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def existing_cutoff(document: object) -> tuple[datetime | None, bool]:
    """The latest cutoff a revoke policy already holds, and whether the document is ours alone.

    ``document`` is GetUserPolicy's PolicyDocument: botocore gives a dict, or the raw text when
    it is not JSON. Anything but a single deny-all-older-sessions statement is not ours (a hand
    edit, another tool's statement, a value IAM would not read as a date) and is replaced; a
    cutoff found beside other statements still counts, so replacing never weakens it.
    """
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            return None, False
    if not isinstance(document, dict):
        return None, False
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]  # the console writes a single statement as an object
    if not isinstance(statements, list):
        return None, False
    cutoffs = [c for c in map(_statement_cutoff, statements) if c is not None]
    return (max(cutoffs) if cutoffs else None), len(statements) == len(cutoffs) == 1


class IamKeyAdmin:
    """The KeyAdmin port for one account, over an IAM client for that account."""

    def __init__(
        self,
        client: Any,
        account_id: str,
        partition: str = "aws",
        *,
        urgent: Callable[[], Any] | None = None,
        pacer: UrgentPacer | None = None,
    ) -> None:
        self._iam = client
        self.account_id = account_id
        self._partition = partition
        # The client for the one urgent call of a containment, built when first needed (it
        # differs only in its retry policy, clients.URGENT_CLIENT_CONFIG), and what retries it.
        self._urgent = urgent or (lambda: client)
        self._pacer = pacer or UrgentPacer()

    def deactivate(self, user_name: str, key_id: str) -> None:
        def call() -> None:
            with translated("iam:UpdateAccessKey"):
                self._urgent().update_access_key(
                    UserName=user_name, AccessKeyId=key_id, Status="Inactive"
                )

        self._pacer.run(call)

    def activate(self, user_name: str, key_id: str) -> None:
        with translated("iam:UpdateAccessKey"):
            self._iam.update_access_key(UserName=user_name, AccessKeyId=key_id, Status="Active")

    def key_usage(self, key_id: str) -> KeyUsage:
        with translated("iam:GetAccessKeyLastUsed"):
            response = self._iam.get_access_key_last_used(AccessKeyId=key_id)
        user = str(response.get("UserName", ""))
        last_used = response.get("AccessKeyLastUsed", {}).get("LastUsedDate")
        return KeyUsage(user_name=user, last_used_at=last_used, is_root=user in ROOT_USER_NAMES)

    def list_keys(self, user_name: str) -> list[AccessKeyInfo]:
        with translated("iam:ListAccessKeys"):
            return [
                AccessKeyInfo(m["AccessKeyId"], m["Status"], m["CreateDate"])
                for page in self._iam.get_paginator("list_access_keys").paginate(UserName=user_name)
                for m in page["AccessKeyMetadata"]
            ]

    def create_key(self, user_name: str) -> NewAccessKey:
        try:
            key = self._iam.create_access_key(UserName=user_name)["AccessKey"]
        except ClientError as exc:
            # Only here does LimitExceeded mean "two keys already" (TagUser's is the tag quota).
            if error_code(exc) == "LimitExceeded":
                raise KeyLimitError(f"{user_name} already has two access keys") from exc
            raise translate(exc, "iam:CreateAccessKey") from exc
        except BotoCoreError as exc:
            raise translate(exc, "iam:CreateAccessKey") from exc
        return NewAccessKey(key["AccessKeyId"], Secret(key["SecretAccessKey"]), key["CreateDate"])

    def delete_key(self, user_name: str, key_id: str) -> None:
        with translated("iam:DeleteAccessKey"):
            self._iam.delete_access_key(UserName=user_name, AccessKeyId=key_id)

    def tag_user(self, user_name: str, tags: dict[str, str]) -> None:
        with translated("iam:TagUser"):
            self._iam.tag_user(
                UserName=user_name, Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
            )

    def untag_user(self, user_name: str, keys: list[str]) -> None:
        with translated("iam:UntagUser"):
            self._iam.untag_user(UserName=user_name, TagKeys=keys)

    def user_tags(self, user_name: str) -> dict[str, str]:
        with translated("iam:ListUserTags"):
            return {
                t["Key"]: t["Value"]
                for page in self._iam.get_paginator("list_user_tags").paginate(UserName=user_name)
                for t in page["Tags"]
            }

    def attached_policy_names(self, user_name: str) -> list[str]:
        with translated("iam:ListAttachedUserPolicies"):
            return list(self._attached(user_name))

    def _attached(self, user_name: str) -> Iterator[str]:
        paginator = self._iam.get_paginator("list_attached_user_policies")
        for page in paginator.paginate(UserName=user_name):
            for policy in page["AttachedPolicies"]:
                yield policy["PolicyName"]

    def principal(self, kind: str, name: str) -> PrincipalRef:
        arn = f"arn:{self._partition}:iam::{self.account_id}:{kind}/{name}"
        return PrincipalRef(kind=kind, name=name, arn=arn)

    def principal_arn(self, kind: str, name: str) -> str:
        if kind == "role":
            with translated("iam:GetRole"):
                return str(self._iam.get_role(RoleName=name)["Role"]["Arn"])
        with translated("iam:GetUser"):
            return str(self._iam.get_user(UserName=name)["User"]["Arn"])

    def revoke_sessions(
        self, principal: PrincipalRef, issued_before: datetime, *, keep_later: bool = True
    ) -> None:
        # One policy name per principal: an older incident resumed late must not replace the
        # cutoff a later one wrote with its own, earlier one. IAM has no conditional write, so
        # only writers racing within the same moment can still undo each other.
        wanted = revoke_cutoff(issued_before)
        found, ours = (
            existing_cutoff(self._revoke_policy(principal)) if keep_later else (None, False)
        )
        if ours and found is not None and found >= wanted:
            return
        document = revoke_policy_document(max(wanted, found or wanted))
        if keep_later:
            self._put_revoke_policy(self._iam, principal, document)
        else:
            # Without the read, this is a session key's containment itself: the urgent call.
            self._pacer.run(lambda: self._put_revoke_policy(self._urgent(), principal, document))

    def _put_revoke_policy(self, iam: Any, principal: PrincipalRef, document: str) -> None:
        if principal.kind == "role":
            with translated("iam:PutRolePolicy"):
                iam.put_role_policy(
                    RoleName=principal.name,
                    PolicyName=REVOKE_POLICY_NAME,
                    PolicyDocument=document,
                )
        else:
            with translated("iam:PutUserPolicy"):
                iam.put_user_policy(
                    UserName=principal.name,
                    PolicyName=REVOKE_POLICY_NAME,
                    PolicyDocument=document,
                )

    def _revoke_policy(self, principal: PrincipalRef) -> object:
        """The revoke policy's document as IAM holds it, None when there is none."""
        what = "iam:GetRolePolicy" if principal.kind == "role" else "iam:GetUserPolicy"
        try:
            if principal.kind == "role":
                response = self._iam.get_role_policy(
                    RoleName=principal.name, PolicyName=REVOKE_POLICY_NAME
                )
            else:
                response = self._iam.get_user_policy(
                    UserName=principal.name, PolicyName=REVOKE_POLICY_NAME
                )
        except ClientError as exc:
            if error_code(exc) == "NoSuchEntity":
                # No policy yet, or no such principal: the write that follows tells which.
                return None
            raise translate(exc, what) from exc
        except BotoCoreError as exc:
            raise translate(exc, what) from exc
        return response.get("PolicyDocument")
