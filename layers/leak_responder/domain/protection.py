"""Protected principals: users and roles that automation never touches, only alerts about.

Operators name them (``PROTECTED_PRINCIPALS``, plus the stack's own roles) by name or by ARN,
with wildcards. IAM names are unique regardless of case, so matching ignores case.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from leak_responder.domain.ports import KeyAdmin


@dataclass(frozen=True)
class Policy:
    """What the operator configured: dry-run and principals that are never touched."""

    dry_run: bool = False
    protected_principals: frozenset[str] = frozenset()

    def protects(self, account_id: str, kind: str, name: str, arn: str | None = None) -> bool:
        """A configured name or ARN (wildcards allowed) matches the principal.

        An ARN pattern with
        a path (``user/breakglass/*``) is matched against the principal's real ARN: pass it as
        ``arn`` whenever :meth:`needs_arn` says so, or the pattern cannot match.
        """
        name = name.lower()
        full = (arn or f"arn:aws:iam::{account_id}:{kind}/{name}").lower()
        for pattern in (p.lower() for p in self.protected_principals):
            if pattern.startswith("arn:"):
                if fnmatch.fnmatchcase(full, pattern):
                    return True
            elif fnmatch.fnmatchcase(name, pattern):
                return True
        return False

    def needs_arn(self, kind: str) -> bool:
        """Whether some ARN pattern for ``kind`` has a path, which only the real ARN shows."""
        return any(
            _resource_of(pattern).startswith(f"{kind}/") and _resource_of(pattern).count("/") > 1
            for pattern in (p.lower() for p in self.protected_principals)
            if pattern.startswith("arn:")
        )


def is_protected(policy: Policy, admin: KeyAdmin, account_id: str, kind: str, name: str) -> bool:
    """Whether ``policy`` protects the principal, reading its real ARN from IAM only when an ARN
    pattern with a path needs it (a read, never a change)."""
    if not policy.protected_principals:
        return False
    arn = admin.principal_arn(kind, name) if policy.needs_arn(kind) else None
    return policy.protects(account_id, kind, name, arn)


def _resource_of(arn: str) -> str:
    return arn.split(":", 5)[5] if arn.count(":") >= 5 else ""
