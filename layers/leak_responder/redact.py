"""Scrubbing for anything that leaves the process in free form (DLQ bodies, log fields)."""

from __future__ import annotations

import re

# An AWS secret access key is 40 characters of base64; nothing we log needs such a token intact.
_SECRET_LIKE = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])")
REDACTED = "[REDACTED]"


_HEX = re.compile(r"^[0-9a-f]{40}$")


def _scrub(match: re.Match[str]) -> str:
    # A 40-hex token is a git commit id: evidence worth keeping, and no AWS secret looks like it.
    return match.group(0) if _HEX.match(match.group(0)) else REDACTED


def redact_secrets(text: str) -> str:
    return _SECRET_LIKE.sub(_scrub, text)
