"""``--verify`` (opt-in, never used by the hook): is a found key pair still active?

It calls ``sts:GetCallerIdentity`` signed with the pair, which needs no permission. The STS
client factory is passed in from the CLI edge; the secret lives only in memory for that call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, Protocol

from leak_scan.model import Finding

INACTIVE_CODES = frozenset(
    {"InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken", "AuthFailure"}
)


class StsClient(Protocol):
    def get_caller_identity(self) -> Any: ...


def verify_findings(
    findings: Iterable[Finding], make_sts: Callable[[str, str], StsClient]
) -> list[Finding]:
    """Findings with ``verified`` set where a secret was found, and the secret dropped."""
    cache: dict[tuple[str, str], bool | None] = {}
    out = []
    for f in findings:
        verified: bool | None = None
        if f.key_id and f.secret:
            pair = (f.key_id, f.secret)
            if pair not in cache:
                cache[pair] = _key_is_active(make_sts(f.key_id, f.secret))
            verified = cache[pair]
        out.append(_without_secret(f, verified))
    return out


def _key_is_active(sts: StsClient) -> bool | None:
    """None when the call failed for another reason (network, throttling): not known."""
    try:
        sts.get_caller_identity()
    except Exception as exc:
        response = getattr(exc, "response", None)
        code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
        if code in INACTIVE_CODES:
            return False
        return None
    return True


def _without_secret(f: Finding, verified: bool | None) -> Finding:
    return replace(f, secret=None, verified=verified)
