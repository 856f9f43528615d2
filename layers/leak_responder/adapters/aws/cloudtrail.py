"""CloudTrail adapter: who minted a temporary (ASIA) key (the SessionLocator port)."""

from __future__ import annotations

PERMISSIONS: tuple[str, ...] = ("cloudtrail:LookupEvents",)
