"""Progress of a history scan: commits and bytes read, as a bar when the total is known."""

from __future__ import annotations

import time
from typing import IO


class Progress:
    """A one-line progress bar; silent unless enabled (the CLI enables it on a terminal only)."""

    def __init__(self, stream: IO[str], total: int | None, enabled: bool) -> None:
        self.stream = stream
        self.total = total
        self.enabled = enabled
        self._last = 0.0

    def update(self, done: int, nbytes: int, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        mb = nbytes / 1e6
        if self.total:
            width = 30
            filled = min(width, width * done // max(self.total, 1))
            bar = "#" * filled + "-" * (width - filled)
            self.stream.write(f"\r[{bar}] {done}/{self.total} commits, {mb:.1f} MB")
        else:
            self.stream.write(f"\r{done} commits, {mb:.1f} MB")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
