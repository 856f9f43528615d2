"""Small helpers shared by every test tier."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS_DIR = Path(__file__).parent / "events"


def event_path(name: str) -> Path:
    """``tests/events/<name>.json``; the ``.json`` suffix is optional."""
    path = EVENTS_DIR / (name if name.endswith(".json") else f"{name}.json")
    if not path.is_file():
        raise FileNotFoundError(f"no sample event {name!r} in {EVENTS_DIR}")
    return path


def load_event(name: str) -> dict[str, Any]:
    """A sample event as a dict: an EventBridge event or a scanner message."""
    event: dict[str, Any] = json.loads(event_path(name).read_text(encoding="utf-8"))
    return event


def event_names() -> list[str]:
    """Every sample event, by name without ``.json``."""
    return sorted(path.stem for path in EVENTS_DIR.glob("*.json"))
