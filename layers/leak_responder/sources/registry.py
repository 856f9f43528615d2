"""Which normaliser reads which message: (source, detail-type) for EventBridge events, the
``schema`` value for scanner messages. A source module registers itself with a decorator."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from leak_responder.domain.model import Report
from leak_responder.sources._common import Envelope

EventNormaliser = Callable[[Envelope], list[Report]]
MessageNormaliser = Callable[[Mapping[str, Any], datetime], list[Report]]

_EVENTS: dict[tuple[str, str], EventNormaliser] = {}
_SCHEMAS: dict[str, MessageNormaliser] = {}


def event_normaliser(
    source: str, *detail_types: str
) -> Callable[[EventNormaliser], EventNormaliser]:
    def register(func: EventNormaliser) -> EventNormaliser:
        for detail_type in detail_types:
            if (source, detail_type) in _EVENTS:
                raise ValueError(f"two normalisers for {source} / {detail_type}")
            _EVENTS[(source, detail_type)] = func
        return func

    return register


def schema_normaliser(schema: str) -> Callable[[MessageNormaliser], MessageNormaliser]:
    def register(func: MessageNormaliser) -> MessageNormaliser:
        if schema in _SCHEMAS:
            raise ValueError(f"two normalisers for schema {schema}")
        _SCHEMAS[schema] = func
        return func

    return register


def for_event(source: str, detail_type: str) -> EventNormaliser | None:
    return _EVENTS.get((source, detail_type))


def for_schema(schema: str) -> MessageNormaliser | None:
    return _SCHEMAS.get(schema)


def event_types() -> frozenset[tuple[str, str]]:
    """Every (source, detail-type) understood: the EventBridge rules should route no other."""
    return frozenset(_EVENTS)


def schemas() -> frozenset[str]:
    return frozenset(_SCHEMAS)
