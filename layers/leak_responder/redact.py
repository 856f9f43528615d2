"""Scrubbing for anything that leaves the process in free form (DLQ bodies, log fields)."""

from __future__ import annotations

import json
import re
from typing import Any

# An AWS secret access key is 40 characters of base64; nothing we keep needs such a token intact.
_SECRET_LIKE = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])")
_HEX = re.compile(r"^[0-9a-f]{40}$")
# Field names whose values are credentials whatever they look like.
_SECRET_FIELD = re.compile(r"secret|password|passwd|token|credential", re.IGNORECASE)
REDACTED = "[REDACTED]"


def _scrub(match: re.Match[str]) -> str:
    # A 40-hex token is a git commit id: evidence worth keeping, and no AWS secret looks like it.
    return match.group(0) if _HEX.match(match.group(0)) else REDACTED


def _walk(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: REDACTED if _SECRET_FIELD.search(str(k)) and node[k] else _walk(node[k])
            for k in node
        }
    if isinstance(node, list):
        return [_walk(v) for v in node]
    if isinstance(node, str):
        return _SECRET_LIKE.sub(_scrub, node)
    return node


def redact_secrets(text: str) -> str:
    """``text`` without credential-shaped values; JSON stays JSON."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return _SECRET_LIKE.sub(_scrub, text)
    if not isinstance(parsed, dict | list):
        return _SECRET_LIKE.sub(_scrub, text)
    return json.dumps(_walk(parsed))
