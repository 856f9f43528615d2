"""Create the resources template.yaml declares, on whatever endpoint a boto3 session points at.

The template is the only list of resources: each one is created from its own properties, in
dependency order, with intrinsic functions resolved by :mod:`leak_sandbox.template` against
the values the earlier resources returned. Every resource type the project uses is mapped here
explicitly, property by property. A type or a property that is not mapped is a
:class:`ProvisioningError` naming it, never a silent skip, so a template change either reaches
the sandbox or stops it loudly.

Serverless functions and layers are not created: they run locally (the sandbox invokes the
handlers in-process). They are recorded as :class:`LocalFunction` with their resolved
environment (Globals merged) and event sources, so the sandbox wires them as Lambda would.

Usable in-process too::

    with mock_aws():
        provisioned = provision(TEMPLATE, boto3.Session(region_name="us-east-1"))
        provisioned.url("LeakQueue"), provisioned.name("IncidentsTable")
"""

from __future__ import annotations

import json
import re
import secrets
import string
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from leak_responder.domain.errors import ConfigurationError
from leak_sandbox.template import (
    PSEUDO_PARAMETERS,
    Resolver,
    TemplateError,
    load_template,
    parameter_defaults,
    pseudo_parameters,
)

ClientFactory = Callable[[str], Any]

# Resources SAM's transform generates for a function; see with_sam_implicit_resources.
SAM_FUNCTION_ROLE = "SAM::Implicit::FunctionRole"
SAM_FUNCTION_URL = "SAM::Implicit::FunctionUrl"

_SUB_NAME = re.compile(r"\$\{([^}!][^}]*)\}")


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


# ------------------------------------------------------------------------------- entry point


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
    creator = _Creator(template, path, resolver, clients, result)
    for logical_id in _creation_order(template):
        creator.create(logical_id)
    return result


def _as_parameters(template: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
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


# ------------------------------------------------------------------------- dependency order


def _references(node: Any, resources: Mapping[str, Any]) -> Iterator[str]:
    if isinstance(node, list):
        for item in node:
            yield from _references(item, resources)
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
            for name in _SUB_NAME.findall(text):
                head = name.split(".")[0]
                if head in resources:
                    yield head
            if isinstance(value, list) and len(value) > 1:
                yield from _references(value[1], resources)
        else:
            yield from _references(value, resources)


def with_sam_implicit_resources(template: Mapping[str, Any]) -> dict[str, Any]:
    """The template's resources plus those SAM generates and a template may refer to.

    For a function without ``Role``, SAM creates ``<Function>Role``; for one with
    ``FunctionUrlConfig``, ``<Function>Url``. ``!Ref ResponderFunctionRole`` resolves only if
    they exist here too.
    """
    resources: dict[str, Any] = dict(template.get("Resources") or {})
    for logical_id, resource in list(resources.items()):
        if resource.get("Type") != "AWS::Serverless::Function":
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


def _creation_order(template: Mapping[str, Any]) -> list[str]:
    resources = with_sam_implicit_resources(template)
    globals_function = (template.get("Globals") or {}).get("Function") or {}
    deps: dict[str, set[str]] = {}
    for logical_id, resource in resources.items():
        found = set(_references(resource.get("Properties") or {}, resources))
        if resource.get("Type") == "AWS::Serverless::Function":
            found |= set(_references(globals_function, resources))
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


# ------------------------------------------------------------------------------- creation


class _Props:
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

    def ignore(self, *names: str) -> None:
        """Properties with no effect on a local emulation (stated per type, below)."""
        for name in names:
            self._props.pop(name, None)

    def done(self) -> None:
        if self._props:
            raise ProvisioningError(
                f"{self.logical_id} ({self.type}): properties not mapped by the sandbox: "
                f"{', '.join(sorted(self._props))}"
            )


Handler = Callable[["_Creator", str, _Props], None]


class _Creator:
    def __init__(
        self,
        template: Mapping[str, Any],
        path: Path,
        resolver: Resolver,
        clients: ClientFactory,
        result: Provisioned,
    ) -> None:
        self.template = template
        self.resources = with_sam_implicit_resources(template)
        self.root = path.parent
        self.resolver = resolver
        self.clients = clients
        self.result = result

    def create(self, logical_id: str) -> None:
        resource = self.resources[logical_id]
        resource_type = str(resource.get("Type"))
        condition = resource.get("Condition")
        if condition and not self.resolver.condition(condition):
            return  # CloudFormation semantics: a resource whose condition is false is not made
        handler = _HANDLERS.get(resource_type)
        if handler is None:
            raise ProvisioningError(
                f"{logical_id}: resource type {resource_type} is not mapped by the sandbox "
                f"(leak_responder/sandbox/provisioner.py)"
            )
        try:
            props = self.resolver.resolve(resource.get("Properties") or {})
        except TemplateError as exc:
            raise ProvisioningError(f"{logical_id}: {exc}") from exc
        self.result.types[logical_id] = resource_type
        handler(self, logical_id, _Props(resource_type, logical_id, props))

    def physical_name(self, logical_id: str, limit: int) -> str:
        return f"{self.result.stack_name}-{logical_id}"[:limit]

    def record(self, logical_id: str, ref: Any, **attributes: Any) -> None:
        self.result.refs[logical_id] = ref
        self.resolver.refs[logical_id] = ref
        for name, value in attributes.items():
            self.result.attributes[f"{logical_id}.{name}"] = value
            self.resolver.attributes[f"{logical_id}.{name}"] = value

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.result.region}:{self.result.account_id}:{resource}"


def _tags(raw: Any) -> list[dict[str, str]]:
    if not raw:
        return []
    if isinstance(raw, dict):  # SAM style
        return [{"Key": str(k), "Value": str(v)} for k, v in raw.items()]
    return [{"Key": str(t["Key"]), "Value": str(t["Value"])} for t in raw]


# -- SQS ------------------------------------------------------------------------------------

_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "SqsManagedSseEnabled",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "FifoQueue",
    "ContentBasedDeduplication",
)


def _sqs_queue(ctx: _Creator, logical_id: str, props: _Props) -> None:
    name = props.take("QueueName") or ctx.physical_name(logical_id, 80)
    if props._props.get("FifoQueue") and not name.endswith(".fifo"):
        name += ".fifo"
    attributes: dict[str, str] = {}
    for attribute in _QUEUE_ATTRIBUTES:
        value = props.take(attribute)
        if value is not None:
            attributes[attribute] = str(value).lower() if isinstance(value, bool) else str(value)
    for attribute in ("RedrivePolicy", "RedriveAllowPolicy"):
        value = props.take(attribute)
        if value is not None:
            attributes[attribute] = value if isinstance(value, str) else json.dumps(value)
    tags = {t["Key"]: t["Value"] for t in _tags(props.take("Tags"))}
    props.done()
    sqs = ctx.clients("sqs")
    kwargs: dict[str, Any] = {"QueueName": name, "Attributes": attributes}
    if tags:
        kwargs["tags"] = tags
    url = sqs.create_queue(**kwargs)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    ctx.record(logical_id, url, Arn=arn, QueueName=name, QueueUrl=url, Name=name)


def _sqs_queue_policy(ctx: _Creator, logical_id: str, props: _Props) -> None:
    queues = props.require("Queues")
    document = props.require("PolicyDocument")
    props.done()
    policy = document if isinstance(document, str) else json.dumps(document)
    for url in queues:
        ctx.clients("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})
    ctx.record(logical_id, f"{ctx.result.stack_name}-{logical_id}")


# -- DynamoDB -------------------------------------------------------------------------------


def _dynamodb_table(ctx: _Creator, logical_id: str, props: _Props) -> None:
    name = props.take("TableName") or ctx.physical_name(logical_id, 255)
    billing = props.take("BillingMode", "PROVISIONED")
    kwargs: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props.require("AttributeDefinitions"),
        "KeySchema": props.require("KeySchema"),
        "BillingMode": billing,
    }
    throughput = props.take("ProvisionedThroughput")
    if throughput:
        kwargs["ProvisionedThroughput"] = throughput
    gsis = props.take("GlobalSecondaryIndexes")
    if gsis:
        kwargs["GlobalSecondaryIndexes"] = gsis
    lsis = props.take("LocalSecondaryIndexes")
    if lsis:
        kwargs["LocalSecondaryIndexes"] = lsis
    sse = props.take("SSESpecification")
    if sse:
        kwargs["SSESpecification"] = {
            "Enabled": bool(sse.get("SSEEnabled")),
            **({"SSEType": sse["SSEType"]} if "SSEType" in sse else {}),
            **({"KMSMasterKeyId": sse["KMSMasterKeyId"]} if "KMSMasterKeyId" in sse else {}),
        }
    stream = props.take("StreamSpecification")
    if stream:
        kwargs["StreamSpecification"] = {"StreamEnabled": True, **stream}
    tags = _tags(props.take("Tags"))
    if tags:
        kwargs["Tags"] = tags
    pitr = props.take("PointInTimeRecoverySpecification")
    ttl = props.take("TimeToLiveSpecification")
    deletion_protection = props.take("DeletionProtectionEnabled")
    if deletion_protection is not None:
        kwargs["DeletionProtectionEnabled"] = bool(deletion_protection)
    props.done()
    dynamodb = ctx.clients("dynamodb")
    table = dynamodb.create_table(**kwargs)["TableDescription"]
    if pitr and pitr.get("PointInTimeRecoveryEnabled"):
        dynamodb.update_continuous_backups(
            TableName=name,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )
    if ttl:
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    ctx.record(
        logical_id,
        name,
        Arn=table["TableArn"],
        Name=name,
        StreamArn=table.get("LatestStreamArn"),
    )


# -- KMS ------------------------------------------------------------------------------------


def _kms_key(ctx: _Creator, logical_id: str, props: _Props) -> None:
    kwargs: dict[str, Any] = {}
    description = props.take("Description")
    if description:
        kwargs["Description"] = description
    policy = props.take("KeyPolicy")
    if policy:
        kwargs["Policy"] = policy if isinstance(policy, str) else json.dumps(policy)
    for cfn, api in (("KeyUsage", "KeyUsage"), ("KeySpec", "KeySpec")):
        value = props.take(cfn)
        if value:
            kwargs[api] = value
    tags = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in _tags(props.take("Tags"))]
    if tags:
        kwargs["Tags"] = tags
    rotation = props.take("EnableKeyRotation")
    enabled = props.take("Enabled", True)
    # No local effect: a sandbox key is never scheduled for deletion.
    props.ignore("PendingWindowInDays")
    props.done()
    kms = ctx.clients("kms")
    meta = kms.create_key(**kwargs)["KeyMetadata"]
    if rotation:
        kms.enable_key_rotation(KeyId=meta["KeyId"])
    if enabled is False or str(enabled).lower() == "false":
        kms.disable_key(KeyId=meta["KeyId"])
    ctx.record(logical_id, meta["KeyId"], Arn=meta["Arn"], KeyId=meta["KeyId"])


def _kms_alias(ctx: _Creator, logical_id: str, props: _Props) -> None:
    name = props.require("AliasName")
    target = props.require("TargetKeyId")
    props.done()
    ctx.clients("kms").create_alias(AliasName=name, TargetKeyId=target)
    ctx.record(logical_id, name, Name=name)


# -- Secrets Manager ------------------------------------------------------------------------


def _generated_secret(spec: Mapping[str, Any]) -> str:
    known = {
        "PasswordLength",
        "ExcludeCharacters",
        "ExcludeLowercase",
        "ExcludeUppercase",
        "ExcludeNumbers",
        "ExcludePunctuation",
        "IncludeSpace",
        "RequireEachIncludedType",
        "SecretStringTemplate",
        "GenerateStringKey",
    }
    unknown = set(spec) - known
    if unknown:
        raise ProvisioningError(f"GenerateSecretString: not mapped: {', '.join(sorted(unknown))}")
    alphabet = ""
    if not spec.get("ExcludeLowercase"):
        alphabet += string.ascii_lowercase
    if not spec.get("ExcludeUppercase"):
        alphabet += string.ascii_uppercase
    if not spec.get("ExcludeNumbers"):
        alphabet += string.digits
    if not spec.get("ExcludePunctuation"):
        alphabet += string.punctuation
    if spec.get("IncludeSpace"):
        alphabet += " "
    alphabet = "".join(c for c in alphabet if c not in str(spec.get("ExcludeCharacters", "")))
    if not alphabet:
        raise ProvisioningError("GenerateSecretString excludes every character")
    value = "".join(secrets.choice(alphabet) for _ in range(int(spec.get("PasswordLength", 32))))
    template = spec.get("SecretStringTemplate")
    if template:
        obj = json.loads(template)
        obj[str(spec["GenerateStringKey"])] = value
        return json.dumps(obj)
    return value


def _secret(ctx: _Creator, logical_id: str, props: _Props) -> None:
    name = props.take("Name") or ctx.physical_name(logical_id, 256)
    kwargs: dict[str, Any] = {"Name": name}
    description = props.take("Description")
    if description:
        kwargs["Description"] = description
    kms_key = props.take("KmsKeyId")
    if kms_key:
        kwargs["KmsKeyId"] = kms_key
    value = props.take("SecretString")
    generate = props.take("GenerateSecretString")
    if value is not None and generate is not None:
        raise ProvisioningError(f"{logical_id}: SecretString and GenerateSecretString both set")
    kwargs["SecretString"] = value if value is not None else _generated_secret(generate or {})
    tags = _tags(props.take("Tags"))
    if tags:
        kwargs["Tags"] = tags
    props.done()
    arn = ctx.clients("secretsmanager").create_secret(**kwargs)["ARN"]
    ctx.record(logical_id, arn, Id=arn, Name=name)


# -- EventBridge ----------------------------------------------------------------------------

_TARGET_KEYS = {
    "Id",
    "Arn",
    "RoleArn",
    "Input",
    "InputPath",
    "InputTransformer",
    "DeadLetterConfig",
    "RetryPolicy",
    "SqsParameters",
}


def _events_rule(ctx: _Creator, logical_id: str, props: _Props) -> None:
    name = props.take("Name") or ctx.physical_name(logical_id, 64)
    bus = props.take("EventBusName") or "default"
    kwargs: dict[str, Any] = {"Name": name, "EventBusName": bus}
    pattern = props.take("EventPattern")
    if pattern is not None:
        if isinstance(pattern, str):
            # A pattern written as a JSON string (a number from a Parameter) must be valid JSON.
            try:
                pattern = json.loads(pattern)
            except ValueError as exc:
                raise ProvisioningError(f"{logical_id}: EventPattern is not JSON") from exc
        kwargs["EventPattern"] = json.dumps(pattern)
    schedule = props.take("ScheduleExpression")
    if schedule:
        kwargs["ScheduleExpression"] = schedule
    for key in ("State", "Description", "RoleArn"):
        value = props.take(key)
        if value:
            kwargs[key] = value
    targets = props.take("Targets") or []
    props.done()
    for target in targets:
        unknown = set(target) - _TARGET_KEYS
        if unknown:
            raise ProvisioningError(
                f"{logical_id}: target properties not mapped: {', '.join(sorted(unknown))}"
            )
    events = ctx.clients("events")
    arn = events.put_rule(**kwargs)["RuleArn"]
    if targets:
        answer = events.put_targets(Rule=name, EventBusName=bus, Targets=targets)
        if answer.get("FailedEntryCount"):
            raise ProvisioningError(f"{logical_id}: targets refused: {answer['FailedEntries']}")
    ctx.record(logical_id, name, Arn=arn, Name=name)


# -- CloudWatch Logs ------------------------------------------------------------------------


def _log_group(ctx: _Creator, logical_id: str, props: _Props) -> None:
    name = props.take("LogGroupName") or ctx.physical_name(logical_id, 512)
    retention = props.take("RetentionInDays")
    kms_key = props.take("KmsKeyId")
    tags = {t["Key"]: t["Value"] for t in _tags(props.take("Tags"))}
    props.done()
    logs = ctx.clients("logs")
    kwargs: dict[str, Any] = {"logGroupName": name}
    if kms_key:
        kwargs["kmsKeyId"] = kms_key
    if tags:
        kwargs["tags"] = tags
    logs.create_log_group(**kwargs)
    if retention:
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(retention))
    ctx.record(logical_id, name, Arn=ctx.arn("logs", f"log-group:{name}:*"), Name=name)


def _cloudwatch_alarm(ctx: _Creator, logical_id: str, props: _Props) -> None:
    name = props.take("AlarmName") or ctx.physical_name(logical_id, 255)
    kwargs: dict[str, Any] = {"AlarmName": name}
    for name_ in (
        "AlarmDescription",
        "Namespace",
        "MetricName",
        "Dimensions",
        "Statistic",
        "Period",
        "EvaluationPeriods",
        "Threshold",
        "ComparisonOperator",
        "TreatMissingData",
        "AlarmActions",
    ):
        value = props.take(name_)
        if value is not None:
            kwargs[name_] = value
    props.done()
    for number in ("Period", "EvaluationPeriods"):
        kwargs[number] = int(kwargs[number])
    kwargs["Threshold"] = float(kwargs["Threshold"])
    ctx.clients("cloudwatch").put_metric_alarm(**kwargs)
    ctx.record(logical_id, name, Arn=ctx.arn("cloudwatch", f"alarm:{name}"))


# -- Serverless (run locally, not created) --------------------------------------------------


def _merged_function_properties(ctx: _Creator, props: _Props) -> dict[str, Any]:
    """SAM's Globals.Function merged under the function's own properties."""
    raw_globals = (ctx.template.get("Globals") or {}).get("Function") or {}
    merged: dict[str, Any] = dict(ctx.resolver.resolve(raw_globals))
    own = dict(props._props)
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
    "ReservedConcurrentExecutions",
    # The sandbox's handlers log to its stderr; Powertools already writes JSON lines.
    "LoggingConfig",
)


def _serverless_function(ctx: _Creator, logical_id: str, props: _Props) -> None:
    merged = _merged_function_properties(ctx, props)
    name = merged.get("FunctionName") or ctx.physical_name(logical_id, 64)
    code_uri = (ctx.root / str(merged.get("CodeUri") or ".")).resolve()
    handler = str(merged.get("Handler") or "")
    if "." not in handler:
        raise ProvisioningError(f"{logical_id}: Handler must be module.function, not {handler!r}")
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
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _serverless_layer(ctx: _Creator, logical_id: str, props: _Props) -> None:
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


def _sam_function_role(ctx: _Creator, logical_id: str, props: _Props) -> None:
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


def _sam_function_url(ctx: _Creator, logical_id: str, props: _Props) -> None:
    # Served by the sandbox on loopback (orchestrator); its address is known only once it runs.
    target = props.require("TargetFunctionArn")
    props.done()
    ctx.result.local[logical_id] = f"function URL of {target}, served locally"
    url = f"http://127.0.0.1/{target}/"
    ctx.record(logical_id, url, FunctionUrl=url, FunctionArn=target)


_HANDLERS: dict[str, Handler] = {
    SAM_FUNCTION_ROLE: _sam_function_role,
    SAM_FUNCTION_URL: _sam_function_url,
    "AWS::SQS::Queue": _sqs_queue,
    "AWS::SQS::QueuePolicy": _sqs_queue_policy,
    "AWS::DynamoDB::Table": _dynamodb_table,
    "AWS::KMS::Key": _kms_key,
    "AWS::KMS::Alias": _kms_alias,
    "AWS::SecretsManager::Secret": _secret,
    "AWS::Events::Rule": _events_rule,
    "AWS::Logs::LogGroup": _log_group,
    "AWS::CloudWatch::Alarm": _cloudwatch_alarm,
    "AWS::Serverless::Function": _serverless_function,
    "AWS::Serverless::LayerVersion": _serverless_layer,
}

MAPPED_TYPES = frozenset(_HANDLERS)

__all__ = [
    "MAPPED_TYPES",
    "PSEUDO_PARAMETERS",
    "LocalFunction",
    "Provisioned",
    "ProvisioningError",
    "provision",
]
