"""What :func:`~leak_sandbox.provisioner.provision` returns, and the error it raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leak_responder.domain.errors import ConfigurationError


class ProvisioningError(ConfigurationError):
    """The template declares something the sandbox cannot create, or a create call failed."""


@dataclass(frozen=True)
class LocalFunction:
    """A serverless function the sandbox runs in-process instead of creating."""

    logical_id: str
    name: str
    code_uri: Path
    handler: str  # "module.function", relative to code_uri
    environment: dict[str, str]
    events: dict[str, dict[str, Any]]  # event name -> {"Type": ..., "Properties": {...}}
    timeout: int
    function_url: dict[str, Any] | None

    def sqs_sources(self) -> list[dict[str, Any]]:
        return [e["Properties"] for e in self.events.values() if e.get("Type") == "SQS"]


@dataclass
class Provisioned:
    """What was created, by logical ID: what Ref and Fn::GetAtt return for each resource."""

    template_path: Path
    account_id: str
    region: str
    stack_name: str
    parameters: dict[str, Any]
    types: dict[str, str] = field(default_factory=dict)
    refs: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    functions: dict[str, LocalFunction] = field(default_factory=dict)
    # Resources that exist only as local code (layers), by logical ID -> what they stand for.
    local: dict[str, str] = field(default_factory=dict)

    def ref(self, logical_id: str) -> Any:
        try:
            return self.refs[logical_id]
        except KeyError:
            raise ProvisioningError(f"{logical_id!r} was not provisioned") from None

    def attr(self, logical_id: str, attribute: str) -> Any:
        try:
            return self.attributes[f"{logical_id}.{attribute}"]
        except KeyError:
            raise ProvisioningError(f"{logical_id!r} has no attribute {attribute!r}") from None

    def url(self, logical_id: str) -> str:
        """A queue's URL."""
        return str(self.attr(logical_id, "QueueUrl"))

    def arn(self, logical_id: str) -> str:
        return str(self.attr(logical_id, "Arn"))

    def name(self, logical_id: str) -> str:
        """The physical name: a table's, a queue's, a rule's, a secret's, a function's."""
        return str(self.attr(logical_id, "Name"))

    def of_type(self, resource_type: str) -> list[str]:
        return [lid for lid, t in self.types.items() if t == resource_type]
