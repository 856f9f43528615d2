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
# A scheme's "://" bounds one too: a secret that starts with "/", as a URL's user, would
# otherwise run into the scheme's slashes and look longer than a secret.
_SECRET_LIKE = re.compile(r"(?:(?<![A-Za-z0-9/+])|(?<=://))[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])")
_HEX = re.compile(r"^[0-9a-f]{40}$")
# Field names whose values are credentials whatever they look like.
_SECRET_FIELD = re.compile(r"secret|password|passwd|token|credential", re.IGNORECASE)
REDACTED = "[REDACTED]"
# In a reason or a log field, any run long enough to hold a secret key goes, commit ids too:
# such text quotes untrusted input, and nothing in it needs a token that long.
_LONG_RUN = re.compile(r"[A-Za-z0-9/+]{40,}")


_PLAIN_PATH = re.compile(r"^[a-z/+]{40}$")


def _scrub(match: re.Match[str]) -> str:
    token = match.group(0)
    # A 40-hex token is a git commit id, and 40 characters of lower-case letters and slashes
    # are a URL's path ("org/repo/blob/main/docs/..."): evidence worth keeping. A random secret
    # key has neither shape (no digit and no capital in 40 characters: about 1 in 10^14).
    return token if _HEX.match(token) or _PLAIN_PATH.match(token) else REDACTED


def _copy(node: Any) -> Any:
    """An empty container of ``node``'s kind (filled by ``_walk``), or the leaf scrubbed."""
    if isinstance(node, dict):
        return {}
    if isinstance(node, list):
        return []
    if isinstance(node, str):
        return redact_text(node)
    return node


def _walk(root: Any) -> Any:
    # A loop, not recursion: a body may nest as deep as the JSON decoder allows, which is
    # deeper than Python's stack leaves room for two frames a level.
    top = _copy(root)
    pending = [(root, top)]
    while pending:
        node, copy = pending.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                # A flag such as "secret_present": true says whether, never what: it is kept.
                secret = _SECRET_FIELD.search(str(k)) and v and not isinstance(v, bool)
                child = REDACTED if secret else _copy(v)
                # A key is untrusted text too: a secret may be the name of a field.
                copy[redact_text(k) if isinstance(k, str) else k] = child
                if not secret and isinstance(v, dict | list):
                    pending.append((v, child))
        elif isinstance(node, list):
            for v in node:
                child = _copy(v)
                copy.append(child)
                if isinstance(v, dict | list):
                    pending.append((v, child))
    return top


def redact_secrets(text: str) -> str:
    """``text`` without credential-shaped values, and its URLs made safe (``safe_url``);
    JSON stays JSON."""
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        # Nested deeper than the decoder goes: the text, scrubbed as text (fields too).
        return _scrub_json_text(text)
    if not isinstance(parsed, dict | list):
        return redact_text(text)
    try:
        return json.dumps(_walk(parsed))
    except RecursionError:
        # The encoder recurses too, and may find less stack left than the decoder did.
        return _scrub_json_text(text)


def redact_reason(text: str) -> str:
    """A rejection reason or a log field made safe to leave the process: URLs without their
    credentials (``safe_url``), and no run of 40 or more characters of a secret key's
    alphabet, whatever surrounds it."""
    return _LONG_RUN.sub(REDACTED, safe_url(text))


def redact_text(text: str) -> str:
    """Free text (evidence, a line of output) with its URLs made safe (``safe_url``) and every
    token shaped like a secret key replaced; 40-hex commit ids are kept."""
    return _SECRET_LIKE.sub(_scrub, safe_url(text))


# A JSON member written out, for text the decoder could not read (truncated, too deep): its
# name (bounded, so each try is short) and its value, a string or a bare scalar. A secret-named
# member loses its value here as it does in ``_walk``; containers under such a name keep their
# structure, and their strings are scrubbed like any text.
_JSON_MEMBER = re.compile(r'"([^"\\\n]{1,128})"(\s*:\s*)("(?:[^"\\\n]|\\.)*"|-?[0-9][0-9.eE+-]*)')
_KEPT_VALUES = frozenset({'""', "0"})


def _redact_member(match: re.Match[str]) -> str:
    name, colon, value = match.groups()
    if value in _KEPT_VALUES or not _SECRET_FIELD.search(name):
        return match.group(0)
    return f'"{name}"{colon}"{REDACTED}"'


def _scrub_json_text(text: str) -> str:
    return redact_text(_JSON_MEMBER.sub(_redact_member, text))


# Userinfo of a URL with a scheme: from "://" to the last "@" before the path, query or
# fragment, so a password with an unencoded "@" goes too. Git accepts a token as the user
# alone (https://TOKEN@github.com/...), so the user goes as well, not just the password.
# Second form: a password with an unencoded "/" (an AWS secret key has them), user:pa/ss@host.
# It needs a ":" before any "/" and what follows it not to be a port, so host:8443/a/@b and
# host/users/@someone stay; it ends at the first "@" (then at each "@" before the next "/"),
# never one in the path. Neither form runs past the next "://", so each scan ends where the
# next begins and the whole is linear on any input.
_USERINFO = re.compile(
    r"://(?:[^\s/?#]*@"
    r"|[^\s/?#@:\[\]]*:(?!\d{1,5}(?:[/?#\s]|$))(?:[^\s?#@:]|:(?!//))*@(?:[^\s/?#@]*@)*)"
)
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
