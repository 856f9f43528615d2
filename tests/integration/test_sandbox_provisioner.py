"""The sandbox provisioner builds template.yaml in moto, and refuses what it cannot map."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import yaml
from moto import mock_aws

from leak_sandbox.provisioner import (
    MAPPED_TYPES,
    Provisioned,
    ProvisioningError,
    provision,
)
from leak_sandbox.template import load_template

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


@pytest.fixture
def session() -> Iterator[boto3.session.Session]:
    with mock_aws():
        yield boto3.session.Session(
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # pragma: allowlist secret
        )


@pytest.fixture
def provisioned(session: boto3.session.Session) -> Provisioned:
    return provision(TEMPLATE, session)


def test_every_resource_type_of_the_template_is_mapped() -> None:
    types = {r["Type"] for r in load_template(TEMPLATE)["Resources"].values()}
    assert types <= MAPPED_TYPES, types - MAPPED_TYPES


def test_every_resource_is_provisioned_or_run_locally(provisioned: Provisioned) -> None:
    declared = set(load_template(TEMPLATE)["Resources"])
    implicit = set(provisioned.refs) - declared
    assert declared <= set(provisioned.refs)
    # Only what SAM's transform generates: each function's role, the approval function's URL.
    assert implicit == {f"{f}Role" for f in provisioned.functions} | {"ApprovalFunctionUrl"}


def test_sam_roles_exist_and_the_functions_know_their_names(
    provisioned: Provisioned, session: boto3.session.Session
) -> None:
    role = session.client("iam").get_role(RoleName=provisioned.ref("ResponderFunctionRole"))
    assert role["Role"]["Arn"] == provisioned.arn("ResponderFunctionRole")
    env = provisioned.functions["ResponderFunction"].environment
    assert provisioned.ref("ResponderFunctionRole") in env.get("OWN_ROLE_NAMES", "")


@pytest.mark.parametrize("queue", ["LeakQueue", "ScannerQueue"])
def test_the_queues_redrive_to_the_dlq_after_the_templates_count(
    provisioned: Provisioned, session: boto3.session.Session, queue: str
) -> None:
    template = load_template(TEMPLATE)
    expected = template["Mappings"]["Queue"]["Leaks"]["MaxReceiveCount"]
    attrs = session.client("sqs").get_queue_attributes(
        QueueUrl=provisioned.url(queue), AttributeNames=["All"]
    )["Attributes"]
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == provisioned.arn("LeakDLQ")
    assert int(redrive["maxReceiveCount"]) == int(expected)
    assert "Policy" in attrs


@pytest.mark.parametrize(
    ("alarm_id", "metric", "statistic", "period"),
    [
        ("DeadLetterAlarm", "ApproximateNumberOfMessagesVisible", "Maximum", 60),
        ("NewDeadLettersAlarm", "NumberOfMessagesSent", "Sum", 300),
    ],
)
def test_the_dead_letter_alarms_watch_the_dlq(
    provisioned: Provisioned,
    session: boto3.session.Session,
    alarm_id: str,
    metric: str,
    statistic: str,
    period: int,
) -> None:
    (alarm,) = session.client("cloudwatch").describe_alarms(AlarmNames=[provisioned.ref(alarm_id)])[
        "MetricAlarms"
    ]
    dlq_name = provisioned.url("LeakDLQ").rsplit("/", 1)[-1]
    assert alarm["Namespace"] == "AWS/SQS"
    assert alarm["MetricName"] == metric
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": dlq_name}]
    assert (alarm["Statistic"], alarm["Period"], alarm["EvaluationPeriods"]) == (
        statistic,
        period,
        1,
    )
    assert alarm["Threshold"] == 1.0
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"
    # No AlarmTopicArn by default: the alarm exists, with nobody subscribed yet.
    assert alarm.get("AlarmActions", []) == []


def test_with_a_topic_and_operators_both_alarms_tell_the_topic_and_the_queue_spares_them(
    session: boto3.session.Session,
) -> None:
    topic = session.client("sns").create_topic(Name="security-oncall")["TopicArn"]
    operator = "arn:aws:iam::123456789012:role/LeakResponderOperator"
    provisioned = provision(
        TEMPLATE, session, {"AlarmTopicArn": topic, "OperatorRoleArns": operator}
    )
    names = [provisioned.ref(a) for a in ("DeadLetterAlarm", "NewDeadLettersAlarm")]
    alarms = session.client("cloudwatch").describe_alarms(AlarmNames=names)["MetricAlarms"]
    assert sorted(a["AlarmName"] for a in alarms) == sorted(names)
    assert all(a["AlarmActions"] == [topic] for a in alarms)
    # And the leak queue's policy, as the sandbox set it, spares that operator alone
    policy = json.loads(
        session.client("sqs").get_queue_attributes(
            QueueUrl=provisioned.url("LeakQueue"), AttributeNames=["Policy"]
        )["Attributes"]["Policy"]
    )
    (deny,) = [s for s in policy["Statement"] if s.get("Sid") == "NobodyElseSends"]
    assert deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"] == [operator]


def test_the_incidents_table_has_its_indexes(
    provisioned: Provisioned, session: boto3.session.Session
) -> None:
    table = session.client("dynamodb").describe_table(TableName=provisioned.name("IncidentsTable"))
    indexes = {i["IndexName"] for i in table["Table"]["GlobalSecondaryIndexes"]}
    assert indexes == {"by-incident-id", "by-status"}


def test_rules_target_the_leak_queue(
    provisioned: Provisioned, session: boto3.session.Session
) -> None:
    events = session.client("events")
    rules = provisioned.of_type("AWS::Events::Rule")
    assert len(rules) >= 5
    for logical_id in rules:
        targets = events.list_targets_by_rule(Rule=provisioned.name(logical_id))["Targets"]
        assert [t["Arn"] for t in targets] == [provisioned.arn("LeakQueue")], logical_id


def test_functions_run_locally_with_the_templates_environment(provisioned: Provisioned) -> None:
    responder = provisioned.functions["ResponderFunction"]
    assert responder.environment["INCIDENTS_TABLE"] == provisioned.name("IncidentsTable")
    assert responder.environment["DLQ_URL"] == provisioned.url("LeakDLQ")
    assert responder.environment["SLACK_BOT_TOKEN_SECRET"] == provisioned.ref("SlackBotTokenSecret")
    assert (responder.code_uri / "app.py").is_file()
    sources = responder.sqs_sources()
    assert sorted(s["Queue"] for s in sources) == sorted(
        [provisioned.arn(q) for q in ("LeakQueue", "ScannerQueue", "ResumeQueue")]
    )
    assert all("ReportBatchItemFailures" in s["FunctionResponseTypes"] for s in sources)
    assert responder.environment["SCANNER_QUEUE_ARN"] == provisioned.arn("ScannerQueue")
    assert provisioned.functions["ApprovalFunction"].function_url == {"AuthType": "NONE"}


def test_parameters_override_defaults(session: boto3.session.Session) -> None:
    provisioned = provision(TEMPLATE, session, {"Approvers": "U1,U2"})
    assert provisioned.functions["ApprovalFunction"].environment["APPROVERS"] == "U1,U2"


def _write(tmp_path: Path, resources: dict[str, object]) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(
        yaml.safe_dump({"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources})
    )
    return path


def test_an_unmapped_type_is_an_error_naming_it(
    tmp_path: Path, session: boto3.session.Session
) -> None:
    path = _write(tmp_path, {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {}}})
    with pytest.raises(ProvisioningError, match=r"Topic: resource type AWS::SNS::Topic"):
        provision(path, session)


def test_an_unmapped_property_is_an_error_naming_it(
    tmp_path: Path, session: boto3.session.Session
) -> None:
    path = _write(tmp_path, {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"SomethingNew": 1}}})
    with pytest.raises(ProvisioningError, match="SomethingNew"):
        provision(path, session)


def test_an_unknown_parameter_is_an_error(session: boto3.session.Session) -> None:
    with pytest.raises(ProvisioningError, match="NoSuchParameter"):
        provision(TEMPLATE, session, {"NoSuchParameter": "x"})


def test_resources_are_created_in_dependency_order(
    tmp_path: Path, session: boto3.session.Session
) -> None:
    # The queue refers to the DLQ declared after it.
    path = _write(
        tmp_path,
        {
            "Main": {
                "Type": "AWS::SQS::Queue",
                "Properties": {
                    "RedrivePolicy": {
                        "deadLetterTargetArn": {"Fn::GetAtt": ["Dead", "Arn"]},
                        "maxReceiveCount": 2,
                    }
                },
            },
            "Dead": {"Type": "AWS::SQS::Queue", "Properties": {}},
        },
    )
    provisioned = provision(path, session)
    assert provisioned.arn("Dead").endswith("-Dead")
