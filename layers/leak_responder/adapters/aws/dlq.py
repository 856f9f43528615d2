"""Dead-letter adapter: rejected messages go straight to the DLQ with a reason."""

from __future__ import annotations

PERMISSIONS: tuple[str, ...] = ("sqs:SendMessage",)
