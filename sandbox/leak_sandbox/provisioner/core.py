"""The run: read the template, settle its parameters, and create each resource in order.

Each resource goes to the creator registered for its type (:mod:`.creators` for CloudFormation
types, :mod:`.sam` for SAM's), with its properties resolved against the values the resources
before it recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3

from leak_sandbox.provisioner import creators, sam
from leak_sandbox.provisioner.context import ClientFactory, Context, Creator, Props
from leak_sandbox.provisioner.ordering import creation_order
from leak_sandbox.provisioner.results import Provisioned, ProvisioningError
from leak_sandbox.template import (
    Resolver,
    TemplateError,
    load_template,
    parameter_defaults,
    pseudo_parameters,
)

_CREATORS: dict[str, Creator] = {**sam.CREATORS, **creators.CREATORS}

MAPPED_TYPES = frozenset(_CREATORS)


def provision(
    template_path: str | Path,
    session_or_client_factory: boto3.session.Session | ClientFactory,
    parameters: Mapping[str, Any] | None = None,
    *,
    stack_name: str = "leak-responder",
    account_id: str | None = None,
) -> Provisioned:
    """Create every resource of the template; return their names, URLs and ARNs by logical ID.

    ``session_or_client_factory`` is a boto3 Session (its endpoint and credentials are used as
    they are, so ``AWS_ENDPOINT_URL`` or ``mock_aws`` decide where), or any callable
    ``service -> client``. ``parameters`` override the template's parameter defaults.
    """
    path = Path(template_path)
    template = load_template(path)
    clients = _client_cache(session_or_client_factory)
    region = _region_of(session_or_client_factory, clients)
    account = account_id or str(clients("sts").get_caller_identity()["Account"])
    params = {**parameter_defaults(template), **_as_parameters(template, parameters or {})}
    missing = [
        name
        for name in (template.get("Parameters") or {})
        if name not in params  # a parameter with no default and no value
    ]
    if missing:
        raise ProvisioningError(f"template parameters without a value: {', '.join(missing)}")
    pseudo = pseudo_parameters(account_id=account, region=region, stack_name=stack_name)
    resolver = Resolver(template, {**pseudo, **params})
    result = Provisioned(path, account, region, stack_name, params)
    ctx = Context(template, path.parent, resolver, clients, result)
    resources = sam.with_sam_implicit_resources(template)
    for logical_id in creation_order(resources, sam.function_globals(template)):
        _create(ctx, logical_id, resources[logical_id])
    return result


def _create(ctx: Context, logical_id: str, resource: Mapping[str, Any]) -> None:
    resource_type = str(resource.get("Type"))
    condition = resource.get("Condition")
    if condition and not ctx.resolver.condition(condition):
        return  # CloudFormation semantics: a resource whose condition is false is not made
    creator = _CREATORS.get(resource_type)
    if creator is None:
        raise ProvisioningError(
            f"{logical_id}: resource type {resource_type} is not mapped by the sandbox "
            f"(add a creator in sandbox/leak_sandbox/provisioner/creators.py)"
        )
    try:
        props = ctx.resolver.resolve(resource.get("Properties") or {})
    except TemplateError as exc:
        raise ProvisioningError(f"{logical_id}: {exc}") from exc
    ctx.result.types[logical_id] = resource_type
    creator(ctx, logical_id, Props(resource_type, logical_id, props))


def _as_parameters(template: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    # The caller's values, in the shapes Ref of each parameter type yields (see
    # template.parameter_defaults).
    declared = template.get("Parameters") or {}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ProvisioningError(f"not parameters of the template: {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name, value in given.items():
        if declared[name].get("Type") == "CommaDelimitedList" and isinstance(value, str):
            values[name] = [p.strip() for p in value.split(",")]
        elif isinstance(value, list):
            values[name] = [str(v) for v in value]
        else:
            values[name] = str(value)
    return values


def _client_cache(source: boto3.session.Session | ClientFactory) -> ClientFactory:
    cache: dict[str, Any] = {}
    build: ClientFactory
    if isinstance(source, boto3.session.Session):
        session = source

        def build_from_session(service: str) -> Any:
            return session.client(service)  # type: ignore[call-overload]

        build = build_from_session
    else:
        build = source

    def get(service: str) -> Any:
        if service not in cache:
            cache[service] = build(service)
        return cache[service]

    return get


def _region_of(source: boto3.session.Session | ClientFactory, clients: ClientFactory) -> str:
    if isinstance(source, boto3.session.Session) and source.region_name:
        return str(source.region_name)
    return str(clients("sqs").meta.region_name)
