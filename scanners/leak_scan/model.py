"""What a scan reports. A Finding never holds a secret value unless a caller asked for one."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

AWS_DETECTOR = "leak-scan:aws-access-key"


@dataclass(frozen=True)
class Finding:
    """One sighting of a credential: an AWS key ID, or another secret type from detect-secrets."""

    path: str
    line: int
    detector: str = AWS_DETECTOR
    key_id: str | None = None
    account_id: str | None = None
    secret_present: bool = False
    column: int = 1
    commit: str | None = None
    # How the key was written: "plain", "base64" or "url".
    encoding: str = "plain"
    # detect-secrets' secret type for non-AWS findings ("Slack Token", ...).
    secret_type: str = "AWS Access Key ID"  # noqa: S105 (a label)
    # Only set when --verify asked for it; excluded from repr, equality and every output.
    secret: str | None = field(default=None, repr=False, compare=False)
    verified: bool | None = field(default=None, compare=False)

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of docs/interfaces.md, built field by field so no secret slips in."""
        out: dict[str, Any] = {
            "key_id": self.key_id,
            "account_id": self.account_id,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "commit": self.commit,
            "secret_present": self.secret_present,
            "detector": self.detector,
            "secret_type": self.secret_type,
            "encoding": self.encoding,
        }
        if self.verified is not None:
            out["verified"] = self.verified
        return out

    def at(self, *, path: str | None = None, commit: str | None = None) -> Finding:
        """The same finding, relocated (a decoded blob's hit keeps its outer file and commit)."""
        return replace(
            self,
            path=self.path if path is None else path,
            commit=self.commit if commit is None else commit,
        )


@dataclass
class ScanStats:
    """What a scan read and what it left out, counted as it goes; shared by every scan mode."""

    files: int = 0
    bytes: int = 0
    skipped_binary: int = 0
    skipped_large: int = 0
    skipped_unreadable: int = 0
    commits: int = 0
    skipped_paths: list[str] = field(default_factory=list)
