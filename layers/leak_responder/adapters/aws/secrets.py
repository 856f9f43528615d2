"""Secrets Manager adapter: delivers the replacement secret (the SecretStore port)."""

from __future__ import annotations

PERMISSIONS: tuple[str, ...] = (
    "secretsmanager:CreateSecret",
    "secretsmanager:PutSecretValue",
    "secretsmanager:PutResourcePolicy",
    "secretsmanager:DescribeSecret",
    "secretsmanager:TagResource",
    "kms:GenerateDataKey",
    "kms:Decrypt",
)
