"""Scrubbing for anything that leaves the process in free form (DLQ bodies, log fields), and
for URLs copied from untrusted input into evidence that Slack and the incident table show.

Every pattern here is anchored on a literal (``://``, ``?``/``&``, a token start) so that it
stays linear on hostile input: these run on message bodies of up to 256 KiB.
"""

from __future__ import annotations

import json
import re
from typing import Any

# An AWS secret access key is 40 characters of [A-Za-z0-9/+]; nothing we keep needs such a
# token intact. `=` is not one of them: it bounds the secret in `aws_secret_access_key=...`.
_SECRET_LIKE = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])")
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
            # A flag such as "secret_present": true says whether, never what: it is kept.
            k: REDACTED
            if _SECRET_FIELD.search(str(k)) and node[k] and not isinstance(node[k], bool)
            else _walk(node[k])
            for k in node
        }
    if isinstance(node, list):
        return [_walk(v) for v in node]
    if isinstance(node, str):
        return _scrub_text(node)
    return node


def redact_secrets(text: str) -> str:
    """``text`` without credential-shaped values, and its URLs made safe (``safe_url``);
    JSON stays JSON."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return _scrub_text(text)
    if not isinstance(parsed, dict | list):
        return _scrub_text(text)
    return json.dumps(_walk(parsed))


def _scrub_text(text: str) -> str:
    return _SECRET_LIKE.sub(_scrub, safe_url(text))


# Userinfo of a URL with a scheme: from "://" to the last "@" before the path, query or
# fragment, so a password with an unencoded "@" goes too. Git accepts a token as the user
# alone (https://TOKEN@github.com/...), so the user goes as well, not just the password.
_USERINFO = re.compile(r"://[^\s/?#]*@")
# The scp-like git form with a password, user:secret@host:path (plain git@host:path is kept).
_SCP_USERINFO = re.compile(
    r"(?<![^\s\"'(<>,;])[\w.+~-]+:[^\s/@\"'<>]*@(?=[A-Za-z0-9][A-Za-z0-9.-]*(?::|/))"
)
# Query parameters that make a presigned URL work (S3 SigV4 and SigV2, CloudFront, GCS, Azure
# SAS): whoever reads them can use the URL, or learns a session token.
_SIGNED_PARAM = re.compile(
    r"([?&](?:X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|Signature|AWSAccessKeyId"
    r"|X-Goog-Signature|X-Goog-Credential|sig"
    # Tokens in query strings: GitLab raw files (private_token), CI job tokens, OAuth.
    r"|token|private_token|access_token|job_token|auth|password)=)[^&#\s]*",
    re.IGNORECASE,
)
REDACTED_PARAM = "REDACTED"


def safe_url(text: str) -> str:
    """``text`` with every URL in it stripped of userinfo (``user:password@``) and of the
    values of presigned-URL parameters. Anything that is not a URL is left as it is."""
    if "@" in text:
        text = _USERINFO.sub("://", text)
        text = _SCP_USERINFO.sub("", text)
    if "=" in text:
        text = _SIGNED_PARAM.sub(rf"\g<1>{REDACTED_PARAM}", text)
    return text
