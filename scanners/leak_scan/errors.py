"""The scanner's exception tree. Every one of these ends the run with exit code 2."""

from __future__ import annotations


class LeakScanError(Exception):
    """Root of every error leak-scan raises on purpose."""


class GitError(LeakScanError):
    """A git command failed (not a repository, bad revision range, git missing)."""


class BaselineError(LeakScanError):
    """The .secrets.baseline file cannot be read."""


class ReportError(LeakScanError):
    """Some scanner messages could not be sent to the queue, even after retries."""

    def __init__(self, message: str, failed_key_ids: list[str]) -> None:
        super().__init__(message)
        self.failed_key_ids = failed_key_ids


class MissingExtraError(LeakScanError):
    """A mode needs a package that is an optional extra of leak-responder."""
