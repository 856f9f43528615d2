"""DynamoDB adapter: the IncidentStore port."""

from __future__ import annotations

PERMISSIONS: tuple[str, ...] = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
)
