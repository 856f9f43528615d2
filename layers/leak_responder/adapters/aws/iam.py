"""IAM adapter: the KeyAdmin port."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from leak_responder.adapters.aws.errors import error_code, translate, translated
from leak_responder.domain.errors import KeyLimitError
from leak_responder.domain.model import iso
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
    "iam:PutUserPolicy",
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


def revoke_policy_document(issued_before: datetime) -> str:
    """Deny everything to sessions issued before the cutoff: the console's "Revoke sessions".

    Long-term keys carry no aws:TokenIssueTime, so the policy leaves them, and the
    replacement key, untouched.
    """
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "LeakResponderRevokeOlderSessions",
                    "Effect": "Deny",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": {"DateLessThan": {"aws:TokenIssueTime": iso(issued_before)}},
                }
            ],
        }
    )


class IamKeyAdmin:
    """The KeyAdmin port for one account, over an IAM client for that account."""

    def __init__(self, client: Any, account_id: str, partition: str = "aws") -> None:
        self._iam = client
        self.account_id = account_id
        self._partition = partition

    def deactivate(self, user_name: str, key_id: str) -> None:
        with translated("iam:UpdateAccessKey"):
            self._iam.update_access_key(UserName=user_name, AccessKeyId=key_id, Status="Inactive")

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

    def revoke_sessions(self, principal: PrincipalRef, issued_before: datetime) -> None:
        document = revoke_policy_document(issued_before)
        if principal.kind == "role":
            with translated("iam:PutRolePolicy"):
                self._iam.put_role_policy(
                    RoleName=principal.name,
                    PolicyName=REVOKE_POLICY_NAME,
                    PolicyDocument=document,
                )
        else:
            with translated("iam:PutUserPolicy"):
                self._iam.put_user_policy(
                    UserName=principal.name,
                    PolicyName=REVOKE_POLICY_NAME,
                    PolicyDocument=document,
                )
