"""The order to create resources in: each one after every resource it refers to.

A reference is whatever the resolver will need a value for (``Ref``, ``Fn::GetAtt``, a name in
``Fn::Sub``) plus ``DependsOn``. A cycle or a reference to no resource is a
:class:`ProvisioningError` naming the chain, before anything is created.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from leak_sandbox.provisioner.results import ProvisioningError
from leak_sandbox.provisioner.sam import SERVERLESS_FUNCTION
from leak_sandbox.template import SUB_VARIABLE


def references(node: Any, resources: Mapping[str, Any]) -> Iterator[str]:
    """The logical IDs of ``resources`` that ``node`` refers to (parameters are not resources)."""
    if isinstance(node, list):
        for item in node:
            yield from references(item, resources)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key == "Ref" and isinstance(value, str):
            if value in resources:
                yield value
        elif key == "Fn::GetAtt":
            target = value[0] if isinstance(value, list) else str(value).split(".")[0]
            if target in resources:
                yield target
        elif key == "Fn::Sub":
            text = value if isinstance(value, str) else value[0]
            for name in SUB_VARIABLE.findall(text):
                head = name.split(".")[0]
                if head in resources:
                    yield head
            if isinstance(value, list) and len(value) > 1:
                yield from references(value[1], resources)
        else:
            yield from references(value, resources)


def creation_order(resources: Mapping[str, Any], function_globals: Mapping[str, Any]) -> list[str]:
    """Every logical ID of ``resources``, each after its dependencies, else in template order.

    ``function_globals`` (SAM's ``Globals.Function``) is part of every serverless function, so
    what it refers to is created before any function.
    """
    deps: dict[str, set[str]] = {}
    for logical_id, resource in resources.items():
        found = set(references(resource.get("Properties") or {}, resources))
        if resource.get("Type") == SERVERLESS_FUNCTION:
            found |= set(references(function_globals, resources))
        depends_on = resource.get("DependsOn") or []
        found |= {depends_on} if isinstance(depends_on, str) else set(depends_on)
        found.discard(logical_id)
        deps[logical_id] = found
    order: list[str] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(logical_id: str, chain: tuple[str, ...]) -> None:
        if state.get(logical_id) == 2:
            return
        if state.get(logical_id) == 1:
            raise ProvisioningError(f"dependency cycle: {' -> '.join((*chain, logical_id))}")
        if logical_id not in resources:
            raise ProvisioningError(f"{chain[-1]} depends on unknown resource {logical_id!r}")
        state[logical_id] = 1
        for dep in sorted(deps[logical_id]):
            visit(dep, (*chain, logical_id))
        state[logical_id] = 2
        order.append(logical_id)

    for logical_id in resources:
        visit(logical_id, ())
    return order
