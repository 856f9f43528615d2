"""One creator per CloudFormation resource type the template uses, mapped property by property.

Each creator takes every property it is given (or states why one has no local effect), makes
the boto3 calls CloudFormation would, and records what Ref and Fn::GetAtt return. SAM's types
and the resources SAM generates are in :mod:`.sam`.
"""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Mapping
from typing import Any

from leak_sandbox.provisioner.context import Context, Creator, Props, json_text, tag_list, tag_map
from leak_sandbox.provisioner.results import ProvisioningError

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


def _sqs_queue(ctx: Context, logical_id: str, props: Props) -> None:
    name = props.take("QueueName") or ctx.physical_name(logical_id, 80)
    if props.peek("FifoQueue") and not name.endswith(".fifo"):
        name += ".fifo"
    attributes: dict[str, str] = {}
    for attribute in _QUEUE_ATTRIBUTES:
        value = props.take(attribute)
        if value is not None:
            attributes[attribute] = str(value).lower() if isinstance(value, bool) else str(value)
    for attribute in ("RedrivePolicy", "RedriveAllowPolicy"):
        value = props.take(attribute)
        if value is not None:
            attributes[attribute] = json_text(value)
    tags = tag_map(props.take("Tags"))
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


def _sqs_queue_policy(ctx: Context, logical_id: str, props: Props) -> None:
    queues = props.require("Queues")
    policy = json_text(props.require("PolicyDocument"))
    props.done()
    for url in queues:
        ctx.clients("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})
    ctx.record(logical_id, ctx.physical_name(logical_id))


# -- DynamoDB -------------------------------------------------------------------------------


def _dynamodb_table(ctx: Context, logical_id: str, props: Props) -> None:
    name = props.take("TableName") or ctx.physical_name(logical_id, 255)
    billing = props.take("BillingMode", "PROVISIONED")
    kwargs: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props.require("AttributeDefinitions"),
        "KeySchema": props.require("KeySchema"),
        "BillingMode": billing,
    }
    props.take_into(
        kwargs, "ProvisionedThroughput", "GlobalSecondaryIndexes", "LocalSecondaryIndexes"
    )
    sse = props.take("SSESpecification")
    if sse:
        # CloudFormation's SSEEnabled is the API's Enabled; the other two keep their names.
        kwargs["SSESpecification"] = {
            "Enabled": bool(sse.get("SSEEnabled")),
            **({"SSEType": sse["SSEType"]} if "SSEType" in sse else {}),
            **({"KMSMasterKeyId": sse["KMSMasterKeyId"]} if "KMSMasterKeyId" in sse else {}),
        }
    stream = props.take("StreamSpecification")
    if stream:
        kwargs["StreamSpecification"] = {"StreamEnabled": True, **stream}
    tags = tag_list(props.take("Tags"))
    if tags:
        kwargs["Tags"] = tags
    deletion_protection = props.take("DeletionProtectionEnabled")
    if deletion_protection is not None:
        kwargs["DeletionProtectionEnabled"] = bool(deletion_protection)
    # These two are separate calls once the table exists; create_table does not take them.
    pitr = props.take("PointInTimeRecoverySpecification")
    ttl = props.take("TimeToLiveSpecification")
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


def _kms_key(ctx: Context, logical_id: str, props: Props) -> None:
    kwargs: dict[str, Any] = {}
    props.take_into(kwargs, "Description")
    policy = props.take("KeyPolicy")
    if policy:
        kwargs["Policy"] = json_text(policy)
    props.take_into(kwargs, "KeyUsage", "KeySpec")
    tags = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in tag_list(props.take("Tags"))]
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


def _kms_alias(ctx: Context, logical_id: str, props: Props) -> None:
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


def _secret(ctx: Context, logical_id: str, props: Props) -> None:
    name = props.take("Name") or ctx.physical_name(logical_id, 256)
    kwargs: dict[str, Any] = {"Name": name}
    props.take_into(kwargs, "Description", "KmsKeyId")
    value = props.take("SecretString")
    generate = props.take("GenerateSecretString")
    if value is not None and generate is not None:
        raise ProvisioningError(f"{logical_id}: SecretString and GenerateSecretString both set")
    kwargs["SecretString"] = value if value is not None else _generated_secret(generate or {})
    tags = tag_list(props.take("Tags"))
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


def _events_rule(ctx: Context, logical_id: str, props: Props) -> None:
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
    props.take_into(kwargs, "ScheduleExpression", "State", "Description", "RoleArn")
    targets = props.take("Targets") or []
    props.done()
    # Targets are passed to put_targets as they are, so their keys are checked here instead.
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


# -- CloudWatch Logs and alarms -------------------------------------------------------------


def _log_group(ctx: Context, logical_id: str, props: Props) -> None:
    name = props.take("LogGroupName") or ctx.physical_name(logical_id, 512)
    retention = props.take("RetentionInDays")
    kms_key = props.take("KmsKeyId")
    tags = tag_map(props.take("Tags"))
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


def _cloudwatch_alarm(ctx: Context, logical_id: str, props: Props) -> None:
    name = props.take("AlarmName") or ctx.physical_name(logical_id, 255)
    kwargs: dict[str, Any] = {"AlarmName": name}
    # keep_empty: a Threshold of 0 is a threshold.
    props.take_into(
        kwargs,
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
        keep_empty=True,
    )
    props.done()
    # Ref of a Number parameter is a string; the API wants numbers.
    for number in ("Period", "EvaluationPeriods"):
        kwargs[number] = int(kwargs[number])
    kwargs["Threshold"] = float(kwargs["Threshold"])
    ctx.clients("cloudwatch").put_metric_alarm(**kwargs)
    ctx.record(logical_id, name, Arn=ctx.arn("cloudwatch", f"alarm:{name}"))


CREATORS: dict[str, Creator] = {
    "AWS::SQS::Queue": _sqs_queue,
    "AWS::SQS::QueuePolicy": _sqs_queue_policy,
    "AWS::DynamoDB::Table": _dynamodb_table,
    "AWS::KMS::Key": _kms_key,
    "AWS::KMS::Alias": _kms_alias,
    "AWS::SecretsManager::Secret": _secret,
    "AWS::Events::Rule": _events_rule,
    "AWS::Logs::LogGroup": _log_group,
    "AWS::CloudWatch::Alarm": _cloudwatch_alarm,
}
