"""Which adapters each Lambda uses, and so which IAM actions template.yaml must grant it.

A test compares these unions with the template's policies, in both directions.
"""

from __future__ import annotations

from leak_responder.adapters.aws import (
    cloudtrail,
    dlq,
    iam,
    incidents,
    resume_queue,
    secrets,
    slack_secrets,
    sts,
)

FUNCTION_PERMISSIONS: dict[str, tuple[tuple[str, ...], ...]] = {
    "ResponderFunction": (
        iam.CONTAINMENT_PERMISSIONS,
        sts.PERMISSIONS,
        secrets.PERMISSIONS,
        incidents.PERMISSIONS,
        cloudtrail.PERMISSIONS,
        dlq.PERMISSIONS,
        resume_queue.PERMISSIONS,
        slack_secrets.PERMISSIONS,
    ),
    "ApprovalFunction": (
        iam.APPROVAL_PERMISSIONS,
        sts.ASSUME_PERMISSIONS,
        incidents.PERMISSIONS,
        slack_secrets.PERMISSIONS,
    ),
    "ReminderFunction": (
        iam.REMINDER_PERMISSIONS,
        sts.ASSUME_PERMISSIONS,
        incidents.PERMISSIONS,
        slack_secrets.PERMISSIONS,
    ),
}


def permissions_for(function_logical_id: str) -> frozenset[str]:
    return frozenset(a for group in FUNCTION_PERMISSIONS[function_logical_id] for a in group)
