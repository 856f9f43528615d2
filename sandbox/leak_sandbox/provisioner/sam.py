"""What SAM's transform makes of the template, as far as the sandbox needs it.

A ``AWS::Serverless::Function`` stands for more than a function: SAM generates an execution role
``<Function>Role`` when it names none, and a ``<Function>Url`` for ``FunctionUrlConfig``. The
template may refer to those (``!Ref ResponderFunctionRole``), so :func:`with_sam_implicit_resources`
adds them to the resources to create, and the creators here make them.

Functions and layers themselves are not created: the sandbox runs the handlers in-process. A
function is recorded as a :class:`LocalFunction` with ``Globals.Function`` merged in, its
environment resolved and its event sources kept, so that the sandbox wires it as Lambda would
(its SQS event sources become queue workers, its Function URL a local server).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from leak_sandbox.provisioner.context import Context, Creator, Props
from leak_sandbox.provisioner.results import LocalFunction, ProvisioningError

SERVERLESS_FUNCTION = "AWS::Serverless::Function"
# Types of the resources SAM generates; they exist only inside the sandbox.
SAM_FUNCTION_ROLE = "SAM::Implicit::FunctionRole"
SAM_FUNCTION_URL = "SAM::Implicit::FunctionUrl"


def function_globals(template: Mapping[str, Any]) -> Mapping[str, Any]:
    """``Globals.Function``: what every serverless function inherits, unresolved."""
    return (template.get("Globals") or {}).get("Function") or {}


def with_sam_implicit_resources(template: Mapping[str, Any]) -> dict[str, Any]:
    """The template's resources plus those SAM generates and a template may refer to.

    For a function without ``Role``, SAM creates ``<Function>Role``; for one with
    ``FunctionUrlConfig``, ``<Function>Url``. ``!Ref ResponderFunctionRole`` resolves only if
    they exist here too.
    """
    resources: dict[str, Any] = dict(template.get("Resources") or {})
    for logical_id, resource in list(resources.items()):
        if resource.get("Type") != SERVERLESS_FUNCTION:
            continue
        props = resource.get("Properties") or {}
        if "Role" not in props:
            resources.setdefault(
                f"{logical_id}Role",
                {
                    "Type": SAM_FUNCTION_ROLE,
                    "Properties": {"Function": logical_id, "Policies": props.get("Policies")},
                },
            )
        if props.get("FunctionUrlConfig"):
            resources.setdefault(
                f"{logical_id}Url",
                {
                    "Type": SAM_FUNCTION_URL,
                    "Properties": {"TargetFunctionArn": {"Ref": logical_id}},
                },
            )
    return resources


# -- functions and layers (run locally, not created) ----------------------------------------


def _merged_function_properties(ctx: Context, props: Props) -> dict[str, Any]:
    """SAM's Globals.Function merged under the function's own properties."""
    merged: dict[str, Any] = dict(ctx.resolver.resolve(function_globals(ctx.template)))
    own = props.remaining()
    # Only the variables are merged key by key, as SAM does; any other property the function
    # sets replaces the global one, which is all that LocalFunction's fields need.
    env = {
        **((merged.get("Environment") or {}).get("Variables") or {}),
        **((own.get("Environment") or {}).get("Variables") or {}),
    }
    merged.update(own)
    merged["Environment"] = {"Variables": env}
    return merged


_FUNCTION_PROPERTIES = (
    "FunctionName",
    "CodeUri",
    "Handler",
    "Environment",
    "Events",
    "Timeout",
    "FunctionUrlConfig",
    # Meaningless in-process: the sandbox runs the handler with this Python and package, and
    # moto does not enforce IAM, so Policies are checked by tests/integration instead.
    "Description",
    "Runtime",
    "Architectures",
    "MemorySize",
    "Layers",
    "Policies",
    "Tags",
    # The local Function URL serves every request on its own thread: there is no pool of
    # instances to reserve or cap, and no one but the tests and the demo calls it.
    "ReservedConcurrentExecutions",
    # The sandbox's handlers log to its stderr; Powertools already writes JSON lines.
    "LoggingConfig",
)

# An SQS event source becomes one worker per queue (leak_sandbox.worker), started by the
# orchestrator from the function's record, where each property below is kept as written.
_SQS_SOURCE_PROPERTIES = frozenset(
    {
        # What the worker follows: its queue, its batch size, partial-batch responses.
        "Queue",
        "BatchSize",
        "FunctionResponseTypes",
        # Ignored: the worker hands a batch over as soon as its long poll returns one,
        "MaximumBatchingWindowInSeconds",
        # and invokes the handler one batch at a time, which is below any MaximumConcurrency
        # Lambda accepts (2 at least).
        "ScalingConfig",
    }
)


def _check_sqs_sources(logical_id: str, events: Mapping[str, Any]) -> None:
    # A property the worker neither follows nor may ignore (a filter, say) would make the
    # sandbox run what Lambda never would.
    for name, event in events.items():
        if event.get("Type") != "SQS":
            continue
        unmapped = set(event.get("Properties") or {}) - _SQS_SOURCE_PROPERTIES
        if unmapped:
            raise ProvisioningError(
                f"{logical_id}: SQS event {name}: properties not mapped by the sandbox: "
                f"{', '.join(sorted(unmapped))}"
            )


def _serverless_function(ctx: Context, logical_id: str, props: Props) -> None:
    merged = _merged_function_properties(ctx, props)
    name = merged.get("FunctionName") or ctx.physical_name(logical_id, 64)
    code_uri = (ctx.root / str(merged.get("CodeUri") or ".")).resolve()
    handler = str(merged.get("Handler") or "")
    if "." not in handler:
        raise ProvisioningError(f"{logical_id}: Handler must be module.function, not {handler!r}")
    _check_sqs_sources(logical_id, merged.get("Events") or {})
    function = LocalFunction(
        logical_id=logical_id,
        name=name,
        code_uri=code_uri,
        handler=handler,
        environment={k: _env_value(v) for k, v in merged["Environment"]["Variables"].items()},
        events=dict(merged.get("Events") or {}),
        timeout=int(merged.get("Timeout") or 3),
        function_url=merged.get("FunctionUrlConfig"),
    )
    for prop in _FUNCTION_PROPERTIES:
        props.take(prop)  # carried by LocalFunction above, or meaningless in-process
    props.done()
    ctx.result.functions[logical_id] = function
    arn = ctx.arn("lambda", f"function:{name}")
    ctx.record(logical_id, name, Arn=arn, Name=name)


def _env_value(value: Any) -> str:
    # Lambda's environment holds strings only; these are the strings CloudFormation would pass.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _serverless_layer(ctx: Context, logical_id: str, props: Props) -> None:
    # The layer's content is this installed package; nothing to create.
    content = props.take("ContentUri")
    props.ignore(
        "Description",
        "CompatibleRuntimes",
        "CompatibleArchitectures",
        "RetentionPolicy",
        "LayerName",
        "LicenseInfo",
    )
    props.done()
    ctx.result.local[logical_id] = f"layer from {content}"
    arn = ctx.arn("lambda", f"layer:{ctx.physical_name(logical_id, 64)}:1")
    ctx.record(logical_id, arn, Arn=arn)


# -- what SAM generates for a function ------------------------------------------------------

_LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def _sam_function_role(ctx: Context, logical_id: str, props: Props) -> None:
    # The role exists, so that names and ARNs that refer to it (protected principals) are real.
    # moto does not enforce IAM; the grants are checked against the adapters by
    # tests/integration/test_template.py instead. Inline statements are attached as SAM does;
    # managed-policy names and SAM policy templates have no local effect.
    function = props.require("Function")
    policies = props.take("Policies") or []
    props.done()
    name = ctx.physical_name(logical_id, 64)
    iam = ctx.clients("iam")
    role = iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=json.dumps(_LAMBDA_TRUST),
        Description=f"SAM execution role of {function} (sandbox)",
    )["Role"]
    for index, policy in enumerate(policies if isinstance(policies, list) else [policies]):
        if isinstance(policy, dict) and "Statement" in policy:
            document = {"Version": "2012-10-17", **policy}
            iam.put_role_policy(
                RoleName=name,
                PolicyName=f"{function}RolePolicy{index}",
                PolicyDocument=json.dumps(document),
            )
    ctx.record(logical_id, name, Arn=role["Arn"], RoleId=role["RoleId"], Name=name)


def _sam_function_url(ctx: Context, logical_id: str, props: Props) -> None:
    # Served by the sandbox on loopback (orchestrator); its address is known only once it runs.
    target = props.require("TargetFunctionArn")
    props.done()
    ctx.result.local[logical_id] = f"function URL of {target}, served locally"
    url = f"http://127.0.0.1/{target}/"
    ctx.record(logical_id, url, FunctionUrl=url, FunctionArn=target)


CREATORS: dict[str, Creator] = {
    SERVERLESS_FUNCTION: _serverless_function,
    "AWS::Serverless::LayerVersion": _serverless_layer,
    SAM_FUNCTION_ROLE: _sam_function_role,
    SAM_FUNCTION_URL: _sam_function_url,
}
