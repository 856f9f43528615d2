"""What every creator is handed: its resource's properties, and the state of the run.

A creator (:mod:`.creators`, :mod:`.sam`) consumes the resolved properties through
:class:`Props`, which refuses to finish while one is left over, so that a property the sandbox
does not map stops it instead of being dropped. It records what Ref and Fn::GetAtt return
through :class:`Context`, so that the resources created after it resolve against real values.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leak_sandbox.provisioner.results import Provisioned, ProvisioningError
from leak_sandbox.template import Resolver

ClientFactory = Callable[[str], Any]


class Props:
    """Resolved properties that must each be consumed; leftovers are an unmapped property."""

    def __init__(self, resource_type: str, logical_id: str, props: Mapping[str, Any]):
        self.type = resource_type
        self.logical_id = logical_id
        self._props = dict(props)

    def take(self, name: str, default: Any = None) -> Any:
        return self._props.pop(name, default)

    def require(self, name: str) -> Any:
        if name not in self._props:
            raise ProvisioningError(f"{self.logical_id} ({self.type}): {name} is required")
        return self._props.pop(name)

    def take_into(self, kwargs: dict[str, Any], *names: str, keep_empty: bool = False) -> None:
        """Take each property into ``kwargs`` under its own name, when it is set.

        "Set" means truthy; with ``keep_empty``, anything but None, for values where 0 counts.
        """
        for name in names:
            value = self._props.pop(name, None)
            is_set = value is not None if keep_empty else bool(value)
            if is_set:
                kwargs[name] = value

    def ignore(self, *names: str) -> None:
        """Properties with no effect on a local emulation (stated per type, by each creator)."""
        for name in names:
            self._props.pop(name, None)

    def peek(self, name: str) -> Any:
        """A property's value, still to be taken."""
        return self._props.get(name)

    def remaining(self) -> dict[str, Any]:
        return dict(self._props)

    def done(self) -> None:
        if self._props:
            raise ProvisioningError(
                f"{self.logical_id} ({self.type}): properties not mapped by the sandbox: "
                f"{', '.join(sorted(self._props))}"
            )


@dataclass
class Context:
    """One provisioning run: where to create, and what has been created so far."""

    template: Mapping[str, Any]
    root: Path  # the template's folder, which CodeUri and ContentUri are relative to
    resolver: Resolver
    clients: ClientFactory
    result: Provisioned

    def physical_name(self, logical_id: str, limit: int | None = None) -> str:
        return f"{self.result.stack_name}-{logical_id}"[:limit]

    def record(self, logical_id: str, ref: Any, **attributes: Any) -> None:
        # The resolver gets the same values, so later resources' !Ref and !GetAtt resolve.
        self.result.refs[logical_id] = ref
        self.resolver.refs[logical_id] = ref
        for name, value in attributes.items():
            self.result.attributes[f"{logical_id}.{name}"] = value
            self.resolver.attributes[f"{logical_id}.{name}"] = value

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.result.region}:{self.result.account_id}:{resource}"


Creator = Callable[[Context, str, Props], None]


def tag_list(raw: Any) -> list[dict[str, str]]:
    """Tags as ``[{"Key": ..., "Value": ...}]``, from either CloudFormation's list or SAM's map."""
    if not raw:
        return []
    if isinstance(raw, dict):  # SAM style
        return [{"Key": str(k), "Value": str(v)} for k, v in raw.items()]
    return [{"Key": str(t["Key"]), "Value": str(t["Value"])} for t in raw]


def tag_map(raw: Any) -> dict[str, str]:
    """Tags as ``{key: value}``, the shape SQS and CloudWatch Logs take."""
    return {t["Key"]: t["Value"] for t in tag_list(raw)}


def json_text(value: Any) -> str:
    """A policy document as the API takes it; the template may give it as JSON text already."""
    return value if isinstance(value, str) else json.dumps(value)
