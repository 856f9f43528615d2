"""STS adapter: which account owns a key, and sessions in member accounts (the Accounts port)."""

from __future__ import annotations

ASSUME_PERMISSIONS: tuple[str, ...] = ("sts:AssumeRole",)
PERMISSIONS: tuple[str, ...] = ("sts:GetAccessKeyInfo", *ASSUME_PERMISSIONS)
