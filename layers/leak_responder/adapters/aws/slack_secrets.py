"""Slack credentials from Secrets Manager, through Powertools Parameters with caching."""

from __future__ import annotations

PERMISSIONS: tuple[str, ...] = ("secretsmanager:GetSecretValue",)
