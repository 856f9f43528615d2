"""Small helpers shared by every test tier: the sample events of tests/events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from leak_sandbox.testkit.events import SampleEvents

SAMPLES = SampleEvents(Path(__file__).parent / "events")


def event_path(name: str) -> Path:
    """``tests/events/<name>.json``; the ``.json`` suffix is optional."""
    return SAMPLES.path(name)


def load_event(name: str) -> dict[str, Any]:
    """A sample event as a dict: an EventBridge event or a scanner message."""
    return SAMPLES.load(name)


def event_names() -> list[str]:
    """Every sample event, by name without ``.json``."""
    return SAMPLES.names()
