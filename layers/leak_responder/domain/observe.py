"""How workflows report their steps: ``observe("deactivated", key_id=..., user_name=...)``.

The domain never logs; the edge passes an observer that logs (Lambda), prints (the CLI) or
records (tests).
"""

from __future__ import annotations

from typing import Any, Protocol


class Observer(Protocol):
    def __call__(self, event: str, /, **fields: Any) -> None: ...


def ignore(event: str, /, **fields: Any) -> None:
    return None
