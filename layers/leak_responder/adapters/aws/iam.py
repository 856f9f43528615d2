"""IAM adapter: the KeyAdmin port."""

from __future__ import annotations

# Reading the owner's Slack tags (notify step, reminders).
OWNER_PERMISSIONS: tuple[str, ...] = ("iam:ListUserTags",)

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
    *OWNER_PERMISSIONS,
)

APPROVAL_PERMISSIONS: tuple[str, ...] = (
    "iam:GetAccessKeyLastUsed",
    "iam:ListAccessKeys",
    "iam:DeleteAccessKey",
    "iam:UpdateAccessKey",
    "iam:TagUser",
)
