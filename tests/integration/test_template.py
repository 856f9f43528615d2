"""template.yaml, samplesconfig.toml and the Slack manifest agree with the code and with AWS.

The template is read as data (leak_sandbox.template), never by string search, so a test
sees what CloudFormation would.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from cfnlint.api import lint_file  # type: ignore[import-untyped]
from moto.events.models import EventPattern

from leak_responder.adapters.permissions import FUNCTION_PERMISSIONS, permissions_for
from leak_responder.settings import Settings
from leak_sandbox.template import (
    Resolver,
    event_rules,
    flatten_event,
    load_template,
    parameter_defaults,
    pseudo_parameters,
)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"
FUNCTIONS = ("ResponderFunction", "ApprovalFunction", "ReminderFunction")

# What SAM attaches on its own (basic execution role, the SQS poller of the event source) or
# what a policy template would add. None is counted as a grant of ours; anything else in
# Policies that is not an inline Statement list fails the test.
SAM_MANAGED_POLICIES = frozenset(
    {"AWSLambdaBasicExecutionRole", "AWSLambdaSQSQueueExecutionRole", "SQSPollerPolicy"}
)

# Actions with no resource-level permissions in IAM: they alone may use Resource "*".
UNSCOPABLE_ACTIONS = frozenset({"sts:GetAccessKeyInfo", "cloudtrail:LookupEvents"})


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE_PATH)


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    resources: dict[str, Any] = template["Resources"]
    return resources


@pytest.fixture(scope="module")
def resolver(template: dict[str, Any]) -> Resolver:
    return Resolver(template, _refs(template), attributes=_fake_attributes(template))


def _refs(template: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """Parameter defaults, sandbox pseudo parameters, and a stand-in Ref for each resource."""
    resources = {logical_id: f"ref:{logical_id}" for logical_id in template["Resources"]}
    return {**resources, **pseudo_parameters(), **parameter_defaults(template), **overrides}


def _fake_attributes(template: dict[str, Any]) -> dict[str, str]:
    resources = template["Resources"]
    # SAM creates "<Function>Role" for a function that names no role of its own.
    generated = [
        f"{logical_id}Role"
        for logical_id, r in resources.items()
        if r["Type"] == "AWS::Serverless::Function" and "Role" not in r.get("Properties", {})
    ]
    return {f"{i}.Arn": f"arn:test:{i}" for i in [*resources, *generated]}


def _matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    # moto's matcher, given EventBridge's view of arrays (see flatten_event).
    matcher = EventPattern.load(json.dumps(pattern))
    original = EventPattern.__dict__["_flatten_dict"]
    setattr(EventPattern, "_flatten_dict", staticmethod(flatten_event))  # noqa: B010
    try:
        return bool(matcher.matches_event(cast(Any, event)))
    finally:
        setattr(EventPattern, "_flatten_dict", original)  # noqa: B010


# ------------------------------------------------------------------------- cfn-lint


def test_cfn_lint_reports_nothing() -> None:
    # Given the template, When cfn-lint runs with its default rules (errors and warnings),
    matches = lint_file(TEMPLATE_PATH)
    # Then it finds nothing.
    assert [str(m) for m in matches] == []


# ------------------------------------------------------------------------- permissions


def _policy_statements(function: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for entry in function["Properties"].get("Policies", []):
        if isinstance(entry, str):
            assert entry in SAM_MANAGED_POLICIES, f"unexpected managed policy {entry}"
            continue
        if "Statement" not in entry:
            (name,) = entry
            assert name in SAM_MANAGED_POLICIES, f"unexpected SAM policy template {name}"
            continue
        yield from entry["Statement"]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def _granted(function: dict[str, Any]) -> set[str]:
    # A Deny narrows what an Allow grants; it is never a grant itself.
    return {
        action
        for statement in _policy_statements(function)
        if statement["Effect"] == "Allow"
        for action in _actions(statement)
    }


def _allows(function: dict[str, Any]) -> Iterator[dict[str, Any]]:
    return (s for s in _policy_statements(function) if s["Effect"] == "Allow")


def _denies(function: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in _policy_statements(function) if s["Effect"] == "Deny"]


def test_deny_statements_are_not_counted_as_grants() -> None:
    # Given a function whose only statement on an action is a Deny
    function = {
        "Properties": {
            "Policies": [
                {
                    "Statement": [
                        {"Effect": "Allow", "Action": "iam:ListAccessKeys", "Resource": "x"},
                        {"Effect": "Deny", "Action": ["iam:PutRolePolicy"], "Resource": "y"},
                    ]
                }
            ]
        }
    }
    # Then the Deny is no grant, and it is seen as a Deny
    assert _granted(function) == {"iam:ListAccessKeys"}
    assert [_actions(s) for s in _denies(function)] == [["iam:PutRolePolicy"]]


def test_every_function_has_declared_permissions(resources: dict[str, Any]) -> None:
    functions = {k for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function"}
    assert functions == set(FUNCTION_PERMISSIONS) == set(FUNCTIONS)


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_granted_actions_equal_the_adapters_declared_actions(
    resources: dict[str, Any], logical_id: str
) -> None:
    # Given what the function's adapters call, and what its role is granted,
    declared = set(permissions_for(logical_id))
    granted = _granted(resources[logical_id])
    # Then neither has anything the other lacks.
    missing = sorted(declared - granted)
    extra = sorted(granted - declared)
    assert not missing and not extra, (
        f"{logical_id}: declared by adapters but not granted: {missing}; "
        f"granted but no adapter declares it: {extra}"
    )


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_policies_are_scoped(
    resources: dict[str, Any], resolver: Resolver, logical_id: str
) -> None:
    function = resources[logical_id]
    assert "Role" not in function["Properties"], "a Role would bypass the checked Policies"
    for statement in _policy_statements(function):
        actions = _actions(statement)
        assert statement["Effect"] in ("Allow", "Deny"), statement
        assert all("*" not in a for a in actions), f"wildcard action in {statement}"
        if statement["Effect"] == "Deny":
            continue  # a Deny only narrows; test_responder_may_not_write_to_its_own_roles
        resource = resolver.resolve(statement["Resource"])
        targets = [resource] if isinstance(resource, str) else resource
        if "*" in targets:
            assert set(actions) <= UNSCOPABLE_ACTIONS, f"Resource * for {actions}"


def test_iam_actions_are_scoped_to_users_and_roles_of_the_account(
    resources: dict[str, Any], resolver: Resolver
) -> None:
    account = pseudo_parameters()["AWS::AccountId"]
    for logical_id in FUNCTIONS:
        for statement in _allows(resources[logical_id]):
            if not any(a.startswith("iam:") for a in _actions(statement)):
                continue
            resource = resolver.resolve(statement["Resource"])
            assert resource in (
                f"arn:aws:iam::{account}:user/*",
                f"arn:aws:iam::{account}:role/*",
            ), resource


def _role_name(stack: str, function: str, limit: int = 64) -> str:
    """A name CloudFormation may give SAM's role of ``function``: ``<stack>-<Function>Role-<id>``.

    Too long for IAM's 64 characters, the stack name is what gets cut (the worst case for a
    deny by name prefix).
    """
    rest = f"-{function}Role-A1B2C3D4E5F6"
    return stack[: limit - len(rest)] + rest


def _resources(statement: dict[str, Any]) -> list[str]:
    resource = statement["Resource"]
    return [resource] if isinstance(resource, str) else list(resource)


def _denied(statement: dict[str, Any], action: str, arn: str, tags: dict[str, str]) -> bool:
    """Whether this resolved Deny applies; its only condition may be StringEquals on tags."""
    if action not in _actions(statement):
        return False
    if not any(fnmatch.fnmatchcase(arn, pattern) for pattern in _resources(statement)):
        return False
    condition = statement.get("Condition") or {}
    assert set(condition) <= {"StringEquals"}, condition
    return all(
        key.startswith("aws:ResourceTag/")
        and tags.get(key.removeprefix("aws:ResourceTag/")) == value
        for key, value in (condition.get("StringEquals") or {}).items()
    )


def _resolved_responder(template: dict[str, Any], stack: str) -> dict[str, Any]:
    refs = {**_refs(template), **pseudo_parameters(stack_name=stack)}
    resolver = Resolver(template, refs, attributes=_fake_attributes(template))
    policies = template["Resources"]["ResponderFunction"]["Properties"]["Policies"]
    return {"Properties": {"Policies": resolver.resolve(policies)}}


@pytest.mark.parametrize("stack", ["leak-responder", "security-account-leak-responder-production"])
def test_responder_may_not_write_to_this_stacks_roles(template: dict[str, Any], stack: str) -> None:
    # Given the responder may put inline policies on roles (to revoke leaked ASIA sessions),
    account = pseudo_parameters()["AWS::AccountId"]
    responder = _resolved_responder(template, stack)
    on_roles = {
        action
        for statement in _allows(responder)
        if any(":role/" in r for r in _resources(statement))
        for action in _actions(statement)
        if action.startswith("iam:")
    }
    # (and read a role's real ARN, path included, and the revoke policy there before writing
    # it, which change nothing)
    reads = {"iam:GetRole", "iam:GetRolePolicy"}
    assert on_roles == {"iam:PutRolePolicy", *reads}
    writes = on_roles - reads
    # and SAM puts each function's tags, Globals included, on the role it makes for it,
    refs = {**_refs(template), **pseudo_parameters(stack_name=stack)}
    tags = Resolver(template, refs).resolve(template["Globals"]["Function"]["Tags"])
    assert tags == {"leak-responder:stack": stack}
    # Then each such action is denied on every role of this stack, even when CloudFormation cut
    # a long stack name short to fit the role name,
    for function in FUNCTIONS:
        arn = f"arn:aws:iam::{account}:role/{_role_name(stack, function)}"
        for action in writes:
            assert any(_denied(d, action, arn, tags) for d in _denies(responder)), (action, arn)
    # And on no other role of the account.
    other = f"arn:aws:iam::{account}:role/ci-deployer"
    assert not any(_denied(d, "iam:PutRolePolicy", other, {}) for d in _denies(responder))
    assert not any(
        _denied(d, "iam:PutRolePolicy", other, {"leak-responder:stack": "another-stack"})
        for d in _denies(responder)
    )


def test_responder_denies_role_writes_by_stack_name_prefix(template: dict[str, Any]) -> None:
    # The deny by name, as CloudFormation resolves it for the default stack name.
    responder = _resolved_responder(template, "leak-responder")
    by_name = [d for d in _denies(responder) if "Condition" not in d]
    assert [(_actions(d), _resources(d)) for d in by_name] == [
        (["iam:PutRolePolicy"], ["arn:aws:iam::123456789012:role/leak-responder-*"])
    ]


def test_secrets_are_written_only_under_the_prefix(
    resources: dict[str, Any], resolver: Resolver
) -> None:
    statements = [
        s
        for s in _policy_statements(resources["ResponderFunction"])
        if "secretsmanager:CreateSecret" in _actions(s)
    ]
    (statement,) = statements
    assert resolver.resolve(statement["Resource"]) == (
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:leak-responder/*"
    )


def test_assume_role_targets_only_the_member_role(template: dict[str, Any]) -> None:
    # With a member role configured the grant names it in any account; without one it names
    # a role this stack never creates, so the action set stays the same in both modes.
    base = {**pseudo_parameters(), **parameter_defaults(template)}
    with_role = Resolver(template, {**base, "MemberRoleName": "LeakResponderMember"})
    without = Resolver(template, base)
    for logical_id in FUNCTIONS:
        (statement,) = [
            s
            for s in _policy_statements(template["Resources"][logical_id])
            if "sts:AssumeRole" in _actions(s)
        ]
        assert with_role.resolve(statement["Resource"]) == (
            "arn:aws:iam::*:role/LeakResponderMember"
        )
        assert without.resolve(statement["Resource"]) == (
            "arn:aws:iam::123456789012:role/leak-responder-no-member-role"
        )


# ------------------------------------------------------------------------- functions


@pytest.mark.parametrize(
    ("logical_id", "directory"),
    [
        ("ResponderFunction", "responder"),
        ("ApprovalFunction", "approval"),
        ("ReminderFunction", "reminder"),
    ],
)
def test_handlers_point_at_functions_app(
    resources: dict[str, Any], logical_id: str, directory: str
) -> None:
    props = resources[logical_id]["Properties"]
    assert props["CodeUri"] == f"functions/{directory}/"
    assert props["Handler"] == "app.lambda_handler"
    assert (ROOT / "functions" / directory).is_dir()


def test_runtime_is_a_current_python_and_layer_builds_the_package(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    runtime = template["Globals"]["Function"]["Runtime"]
    assert re.fullmatch(r"python3\.(1[2-9]|[2-9]\d)", runtime)
    layer = resources["SharedLayer"]
    assert layer["Properties"]["ContentUri"] == "layers/"
    assert layer["Properties"]["CompatibleRuntimes"] == [runtime]
    # A makefile build, so the layer ships the package's bytecode (layers/Makefile).
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    plan = subprocess.run(
        ["make", "-n", "-C", str(ROOT / "layers"), "build-SharedLayer", "ARTIFACTS_DIR=/out"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert 'pip install --quiet -r requirements.txt -t "/out/python"' in plan
    assert 'cp -R leak_responder "/out/python/"' in plan
    assert 'compileall -q "/out/python/leak_responder"' in plan
    assert (ROOT / "layers" / "leak_responder" / "__init__.py").is_file()
    requirements = (ROOT / "layers" / "requirements.txt").read_text(encoding="utf-8")
    pinned = {
        line.split("==")[0].lower().replace("_", "-")
        for line in requirements.splitlines()
        if "==" in line and not line.startswith("#")
    }
    assert {"aws-lambda-powertools", "slack-sdk"} <= pinned


def test_responder_consumes_every_queue_with_partial_batch_failures(
    resources: dict[str, Any],
) -> None:
    # Given the responder's event sources, Then there is one per queue, with the same settings
    events = list(resources["ResponderFunction"]["Properties"]["Events"].values())
    assert [e["Type"] for e in events] == ["SQS", "SQS", "SQS"]
    queues = sorted(e["Properties"]["Queue"]["Fn::GetAtt"][0] for e in events)
    assert queues == ["LeakQueue", "ResumeQueue", "ScannerQueue"]
    for event in events:
        props = event["Properties"]
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert props["BatchSize"] == 10
        assert props["MaximumBatchingWindowInSeconds"] == 0


def test_responder_knows_which_queue_is_the_scanners(
    resources: dict[str, Any], resolver: Resolver
) -> None:
    # The responder holds records from this ARN to scanner findings (Settings.scanner_queue_arn).
    env = resources["ResponderFunction"]["Properties"]["Environment"]["Variables"]
    assert resolver.resolve(env["SCANNER_QUEUE_ARN"]) == "arn:test:ScannerQueue"
    settings = Settings.from_env({"INCIDENTS_TABLE": "t", "SCANNER_QUEUE_ARN": "arn:q"})
    assert settings.scanner_queue_arn == "arn:q"
    assert Settings.from_env({"INCIDENTS_TABLE": "t"}).scanner_queue_arn is None


def test_approval_function_has_an_unauthenticated_url(resources: dict[str, Any]) -> None:
    # Slack cannot sign AWS requests: the handler checks Slack's signature instead.
    props = resources["ApprovalFunction"]["Properties"]
    assert props["FunctionUrlConfig"]["AuthType"] == "NONE"


def test_reminder_runs_on_the_schedule_parameter(resources: dict[str, Any]) -> None:
    (event,) = resources["ReminderFunction"]["Properties"]["Events"].values()
    assert event["Type"] == "Schedule"
    assert event["Properties"]["Schedule"] == {"Ref": "ReminderSchedule"}


@pytest.mark.parametrize(
    "schedule",
    [
        "rate(1 minute)",
        "rate(1 hour)",
        "rate(1 day)",
        "rate(2 minutes)",
        "rate(15 minutes)",
        "rate(12 hours)",
        "rate(10 days)",
        "rate(100 hours)",
        "cron(0 * * * ? *)",
        "cron(0/15 8-18 ? * MON-FRI *)",
        "cron(30 9 1,15 * ? 2026-2030)",
        "cron(0 12 L * ? *)",
        "cron(0 10 ? * 6#3 *)",
        "cron(0 10 ? JAN,JUL 2L *)",
        "cron(0 7 3W * ? *)",
    ],
)
def test_reminder_schedule_accepts_what_eventbridge_accepts(
    template: dict[str, Any], schedule: str
) -> None:
    assert re.fullmatch(template["Parameters"]["ReminderSchedule"]["AllowedPattern"], schedule)


@pytest.mark.parametrize(
    "schedule",
    [
        # EventBridge: the unit is singular for 1 and plural for anything more.
        "rate(1 hours)",
        "rate(1 minutes)",
        "rate(1 days)",
        "rate(5 hour)",
        "rate(2 minute)",
        "rate(10 day)",
        "rate(0 minutes)",
        "rate(01 hour)",
        "rate(1.5 hours)",
        "rate(-5 minutes)",
        "rate(1 week)",
        "rate(2 seconds)",
        "rate(1hour)",
        "rate( 1 hour)",
        "Rate(1 hour)",
        "rate(1 hour) ",
        "",
        "1 hour",
        # cron: six fields, and a ? in day-of-month or in day-of-week (not both, not neither).
        "cron(0 * * * *)",
        "cron(0 * * * ? * *)",
        "cron(0 * * * * *)",
        "cron(0 * ? * ? *)",
        "cron(0 10 * * MON *)",
        "cron(0 MON * * ? *)",
        "cron(0 * * * ? *",
        "cron()",
    ],
)
def test_reminder_schedule_refuses_what_eventbridge_refuses(
    template: dict[str, Any], schedule: str
) -> None:
    assert not re.fullmatch(template["Parameters"]["ReminderSchedule"]["AllowedPattern"], schedule)


def test_reminder_schedule_default_is_allowed(template: dict[str, Any]) -> None:
    spec = template["Parameters"]["ReminderSchedule"]
    assert re.fullmatch(spec["AllowedPattern"], spec["Default"])


def test_responder_queue_sources_cap_their_concurrency(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    # Given the responder's two SQS sources, Then each is capped by the one parameter,
    events = resources["ResponderFunction"]["Properties"]["Events"].values()
    for event in events:
        scaling = event["Properties"]["ScalingConfig"]
        assert scaling == {"MaximumConcurrency": {"Ref": "ResponderMaximumConcurrency"}}
    # whose range is Lambda's (2 to 1000 for an SQS event source).
    spec = template["Parameters"]["ResponderMaximumConcurrency"]
    assert spec["Type"] == "Number"
    assert (spec["MinValue"], spec["MaxValue"]) == (2, 1000)
    assert 2 <= int(spec["Default"]) <= 1000


def test_the_public_approval_function_has_reserved_concurrency(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    # Its URL takes requests from anyone: a flood is throttled at this many, and can neither
    # use up the account's concurrency nor run up the bill.
    props = resources["ApprovalFunction"]["Properties"]
    assert props["ReservedConcurrentExecutions"] == {"Ref": "ApprovalReservedConcurrency"}
    spec = template["Parameters"]["ApprovalReservedConcurrency"]
    assert spec["Type"] == "Number"
    assert spec["MinValue"] == 1  # 0 would throttle every click
    assert 1 <= int(spec["Default"]) <= 10


def test_every_parameter_is_in_a_console_group(template: dict[str, Any]) -> None:
    groups = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    grouped = [name for group in groups for name in group["Parameters"]]
    assert sorted(grouped) == sorted(template["Parameters"])


class _RecordingEnv(dict[str, str]):
    """An environment that remembers every name Settings.from_env asks for."""

    def __init__(self) -> None:
        super().__init__(INCIDENTS_TABLE="t")
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)


def test_environment_matches_what_settings_reads(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    env = _RecordingEnv()
    Settings.from_env(env)
    # Set by the Lambda runtime, or only by the sandbox and tests.
    not_from_template = {"AWS_REGION", "AWS_DEFAULT_REGION", "SLACK_API_URL", "CONSOLE_URL"}
    wanted = env.asked - not_from_template
    shared = set(template["Globals"]["Function"]["Environment"]["Variables"])
    responder = shared | set(
        resources["ResponderFunction"]["Properties"]["Environment"]["Variables"]
    )
    powertools = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"}
    assert powertools <= shared
    assert responder - powertools == wanted, (
        f"missing: {sorted(wanted - responder)}; unread: {sorted(responder - powertools - wanted)}"
    )


def test_home_account_is_the_stack_account(template: dict[str, Any]) -> None:
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["HOME_ACCOUNT_ID"] == {"Ref": "AWS::AccountId"}


# ------------------------------------------------------------------------- queue and table


def test_redrive_count_is_the_responders_max_receive_count(
    resources: dict[str, Any], resolver: Resolver
) -> None:
    env = resources["ResponderFunction"]["Properties"]["Environment"]["Variables"]
    max_receive = resolver.resolve(env["MAX_RECEIVE_COUNT"])
    for queue in ("LeakQueue", "ScannerQueue"):
        redrive = resolver.resolve(resources[queue]["Properties"]["RedrivePolicy"])
        assert 3 <= int(redrive["maxReceiveCount"]) <= 10
        assert str(redrive["maxReceiveCount"]) == str(max_receive), queue
        assert redrive["deadLetterTargetArn"] == "arn:test:LeakDLQ", queue
    assert resolver.resolve(env["DLQ_URL"]) == "ref:LeakDLQ"


def test_queues_keep_messages_14_days_encrypted(resources: dict[str, Any]) -> None:
    for name in ("LeakQueue", "ScannerQueue", "LeakDLQ"):
        props = resources[name]["Properties"]
        assert props["MessageRetentionPeriod"] == 14 * 24 * 3600
        assert props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props


def test_visibility_timeout_is_six_times_the_responder_timeout(
    resources: dict[str, Any],
) -> None:
    timeout = resources["ResponderFunction"]["Properties"]["Timeout"]
    for queue in ("LeakQueue", "ScannerQueue"):
        assert resources[queue]["Properties"]["VisibilityTimeout"] >= 6 * timeout, queue


def _queue_policy(
    template: dict[str, Any],
    logical_id: str,
    scanners: list[str],
    operators: list[str] | None = None,
) -> list[dict[str, Any]]:
    base = {**_refs(template), **pseudo_parameters(), **parameter_defaults(template)}
    given = {"ScannerPrincipalArns": scanners, "OperatorRoleArns": operators or [""]}
    resolver = Resolver(template, {**base, **given}, _fake_attributes(template))
    props = template["Resources"][logical_id]["Properties"]
    document = resolver.resolve(props["PolicyDocument"])
    statements: list[dict[str, Any]] = document["Statement"]
    return statements


def _tls_only(statements: list[dict[str, Any]], queue: str) -> bool:
    return any(
        s["Effect"] == "Deny"
        and s["Principal"] == "*"
        and s["Action"] == "sqs:*"
        and s["Resource"] == f"arn:test:{queue}"
        and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements
    )


@pytest.mark.parametrize("scanners", [[""], ["arn:aws:iam::111111111111:role/ci-leak-scan"]])
def test_only_this_stacks_rules_may_send_to_the_leak_queue(
    template: dict[str, Any], scanners: list[str]
) -> None:
    # Given the leak queue's policy, whether or not scanner principals are configured,
    statements = _queue_policy(template, "LeakQueuePolicy", scanners)
    assert template["Resources"]["LeakQueuePolicy"]["Properties"]["Queues"] == [
        {"Ref": "LeakQueue"}
    ]
    # Then its one Allow is EventBridge, for this stack's rules only, over TLS only
    (allow,) = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Action"] == "sqs:SendMessage"
    source_arns = allow["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert sorted(source_arns) == sorted(f"arn:test:{r}" for r in event_rules(template))
    assert _tls_only(statements, "LeakQueue")


OPERATOR = "arn:aws:iam::123456789012:role/ops/LeakResponderOperator"
CI_ROLE = "arn:aws:iam::123456789012:role/ci-deploy"


def _condition_holds(operator: str, key: str, wanted: Any, context: dict[str, str]) -> bool:
    """IAM's rule for the few condition operators these queue policies use. moto does not
    evaluate queue policies, so this small stand-in does, with IAM's semantics: values of one
    key are ORed; a key missing from the request makes a negated operator true and any other
    false."""
    values = wanted if isinstance(wanted, list) else [wanted]
    if key not in context:
        return operator.startswith(("ArnNot", "StringNot"))
    if operator == "Bool":
        return context[key] in [str(v).lower() for v in values]
    matched = context[key] in values
    return not matched if operator == "ArnNotEquals" else matched


def _queue_denies(statements: list[dict[str, Any]], context: dict[str, str]) -> bool:
    """Whether an explicit Deny for sqs:SendMessage applies (operators and keys are ANDed)."""
    return any(
        s["Effect"] == "Deny"
        and s["Action"] in ("sqs:SendMessage", "sqs:*")
        and all(
            _condition_holds(operator, key, wanted, context)
            for operator, keys in s.get("Condition", {}).items()
            for key, wanted in keys.items()
        )
        for s in statements
    )


def _send(source_arn: str | None = None, principal_arn: str | None = None) -> dict[str, str]:
    """The request context of a SendMessage over TLS: EventBridge sets only aws:SourceArn, an
    IAM principal (a role's session too: its role's ARN) only aws:PrincipalArn."""
    context = {"aws:SecureTransport": "true"}
    if source_arn:
        context["aws:SourceArn"] = source_arn
    if principal_arn:
        context["aws:PrincipalArn"] = principal_arn
    return context


@pytest.mark.parametrize("operators", [[""], [OPERATOR], [OPERATOR, CI_ROLE.replace("ci", "o")]])
def test_the_leak_queue_denies_every_other_sender(
    template: dict[str, Any], operators: list[str]
) -> None:
    # Given the leak queue's policy, with or without operator roles
    statements = _queue_policy(template, "LeakQueuePolicy", [""], operators)
    (deny,) = [s for s in statements if s.get("Sid") == "NobodyElseSends"]
    assert deny["Principal"] == "*"
    assert deny["Action"] == "sqs:SendMessage"
    assert deny["Resource"] == "arn:test:LeakQueue"
    rules = sorted(f"arn:test:{r}" for r in event_rules(template))
    (allow,) = [s for s in statements if s["Effect"] == "Allow"]
    # Then the Deny spares exactly the rules the Allow names, and the operators if any
    expected: dict[str, Any] = {"aws:SourceArn": rules}
    if operators != [""]:
        expected["aws:PrincipalArn"] = operators
    deny["Condition"]["ArnNotEquals"]["aws:SourceArn"].sort()
    assert deny["Condition"] == {"ArnNotEquals": expected}
    assert sorted(allow["Condition"]["ArnEquals"]["aws:SourceArn"]) == rules
    # And so a CI role with sqs:SendMessage on "*" is refused, as is another stack's rule
    assert _queue_denies(statements, _send(principal_arn=CI_ROLE))
    assert _queue_denies(statements, _send(source_arn="arn:aws:events:us-east-1:1:rule/other"))
    # While this stack's rules get through, and operators only when configured
    for rule in rules:
        assert not _queue_denies(statements, _send(source_arn=rule)), rule
    assert _queue_denies(statements, _send(principal_arn=OPERATOR)) is (operators == [""])
    # And an operator cannot lend its carve-out to a forged source, nor a rule to a caller
    assert _queue_denies(statements, _send(source_arn="arn:x:rule/forged", principal_arn=CI_ROLE))
    # Plain HTTP is refused to everyone
    assert _queue_denies(statements, {**_send(source_arn=rules[0]), "aws:SecureTransport": "false"})


def test_operator_roles_appear_only_in_the_queue_denies(template: dict[str, Any]) -> None:
    uses = {path[:2] for path in _paths_to(template, {"Ref": "OperatorRoleArns"})}
    assert uses == {
        ("Resources", "LeakQueuePolicy"),
        ("Resources", "ResumeQueuePolicy"),
        ("Conditions", "HasOperatorRoles"),
    }


@pytest.mark.parametrize("operators", [[""], [OPERATOR], [OPERATOR, CI_ROLE.replace("ci", "o")]])
def test_only_the_responder_sends_to_the_resume_queue(
    template: dict[str, Any], operators: list[str]
) -> None:
    # Given the resume queue's policy, with or without operator roles
    statements = _queue_policy(template, "ResumeQueuePolicy", [""], operators)
    responder = "arn:test:ResponderFunctionRole"
    # Then the responder's role sends, and operators only when configured
    assert not _queue_denies(statements, _send(principal_arn=responder))
    assert _queue_denies(statements, _send(principal_arn=OPERATOR)) is (operators == [""])
    # And a CI role allowed sqs:SendMessage on "*", or an EventBridge rule, is refused
    assert _queue_denies(statements, _send(principal_arn=CI_ROLE))
    assert _queue_denies(statements, _send(source_arn="arn:aws:events:us-east-1:1:rule/x"))
    # And plain HTTP is refused to everyone
    assert _queue_denies(
        statements, {**_send(principal_arn=responder), "aws:SecureTransport": "false"}
    )
    assert _tls_only(statements, "ResumeQueue")


ROLE_ARN_PARAMETERS = ("SecurityRoleArn", "OperatorRoleArns")


@pytest.mark.parametrize("parameter", ROLE_ARN_PARAMETERS)
@pytest.mark.parametrize(
    "value",
    [
        "",
        "arn:aws:iam::222222222222:role/SecurityIncidentResponder",
        "arn:aws-us-gov:iam::222222222222:role/path/to/Role+=,.@_-1",
        "arn:aws:iam::222222222222:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Sec_0a1b",
    ],
)
def test_role_arn_parameters_accept_exact_role_arns(
    template: dict[str, Any], parameter: str, value: str
) -> None:
    assert re.fullmatch(template["Parameters"][parameter]["AllowedPattern"], value)


@pytest.mark.parametrize("parameter", ROLE_ARN_PARAMETERS)
@pytest.mark.parametrize(
    "value",
    [
        "*",
        "arn:aws:iam::222222222222:role/*",
        "arn:aws:iam::*:role/SecurityIncidentResponder",
        "arn:aws:iam::222222222222:role/Sec?",
        "arn:aws:iam::222222222222:root",
        "arn:aws:iam::222222222222:user/alice",
        "arn:aws:sts::222222222222:assumed-role/SecurityIncidentResponder/s",
        "arn:aws:iam::22222222222:role/ShortAccount",
        "SecurityIncidentResponder",
        " arn:aws:iam::222222222222:role/Padded",
    ],
)
def test_role_arn_parameters_refuse_wildcards_and_other_arns(
    template: dict[str, Any], parameter: str, value: str
) -> None:
    # A Principal with a wildcard is invalid in the secret's resource policy, and either one
    # would widen who may read secrets or send to the leak queue.
    assert not re.fullmatch(template["Parameters"][parameter]["AllowedPattern"], value)


def test_operator_role_arns_default_to_none(template: dict[str, Any]) -> None:
    spec = template["Parameters"]["OperatorRoleArns"]
    assert spec["Type"] == "CommaDelimitedList"
    assert spec["Default"] == ""


def _alarm(resolver: Resolver, resources: dict[str, Any], logical_id: str) -> dict[str, Any]:
    assert resources[logical_id]["Type"] == "AWS::CloudWatch::Alarm"
    props: dict[str, Any] = resolver.resolve(resources[logical_id]["Properties"])
    return props


@pytest.mark.parametrize(
    ("logical_id", "metric", "statistic", "period"),
    [
        # Stays in ALARM while anything sits in the DLQ (a move by RedrivePolicy included)...
        ("DeadLetterAlarm", "ApproximateNumberOfMessagesVisible", "Maximum", 60),
        # ...so each new message sent there meanwhile fires this one again.
        ("NewDeadLettersAlarm", "NumberOfMessagesSent", "Sum", 300),
    ],
)
def test_dead_letter_alarms_watch_the_dlq(
    template: dict[str, Any],
    resources: dict[str, Any],
    logical_id: str,
    metric: str,
    statistic: str,
    period: int,
) -> None:
    alarm = _alarm(
        Resolver(template, _refs(template), _dlq_attributes(template)), resources, logical_id
    )
    assert alarm["Namespace"] == "AWS/SQS"
    assert alarm["MetricName"] == metric
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": "dlq-name"}]
    assert (alarm["Statistic"], alarm["Period"]) == (statistic, period)
    assert alarm["EvaluationPeriods"] == 1
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1)
    assert alarm["TreatMissingData"] == "notBreaching"
    # No topic configured: no actions. A topic: both alarms tell it.
    assert "AlarmActions" not in alarm
    topic = "arn:aws:sns:us-east-1:222222222222:security-oncall"
    with_topic = Resolver(template, _refs(template, AlarmTopicArn=topic), _dlq_attributes(template))
    assert _alarm(with_topic, resources, logical_id)["AlarmActions"] == [topic]


def _dlq_attributes(template: dict[str, Any]) -> dict[str, str]:
    return {**_fake_attributes(template), "LeakDLQ.QueueName": "dlq-name"}


def test_scanner_principals_may_send_to_the_scanner_queue_only(template: dict[str, Any]) -> None:
    scanner = "arn:aws:iam::111111111111:role/ci-leak-scan"
    assert template["Resources"]["ScannerQueuePolicy"]["Properties"]["Queues"] == [
        {"Ref": "ScannerQueue"}
    ]
    # Given scanner principals, Then the scanner queue lets exactly them send, over TLS only
    statements = _queue_policy(template, "ScannerQueuePolicy", [scanner])
    (allow,) = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"AWS": [scanner]}
    assert allow["Action"] == "sqs:SendMessage"
    assert allow["Resource"] == "arn:test:ScannerQueue"
    assert _tls_only(statements, "ScannerQueue")
    # Given none, Then nobody may send to it, and it is still TLS only
    statements = _queue_policy(template, "ScannerQueuePolicy", [""])
    assert [s for s in statements if s["Effect"] == "Allow"] == []
    assert _tls_only(statements, "ScannerQueue")


def _paths_to(node: Any, target: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if node == target:
        yield path
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _paths_to(value, target, (*path, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths_to(value, target, (*path, str(index)))


def test_scanner_principals_appear_only_in_the_scanner_queue_policy(
    template: dict[str, Any],
) -> None:
    # Anywhere else, a CI role could send an AWS-shaped event that names any user or role.
    uses = {path[:2] for path in _paths_to(template, {"Ref": "ScannerPrincipalArns"})}
    assert uses == {("Resources", "ScannerQueuePolicy"), ("Conditions", "HasScannerPrincipals")}
    # And the condition that guards their statement is used there alone.
    guarded = {path[0] for path in _paths_to(template["Resources"], "HasScannerPrincipals")}
    assert guarded == {"ScannerQueuePolicy"}


def test_outputs_give_ci_the_scanner_queue(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert outputs["ScannerQueueUrl"]["Value"] == {"Ref": "ScannerQueue"}
    assert outputs["ScannerQueueArn"]["Value"] == {"Fn::GetAtt": ["ScannerQueue", "Arn"]}
    assert "leak-scan --report" in outputs["ScannerQueueUrl"]["Description"]
    assert "--report" not in outputs["LeakQueueUrl"].get("Description", "")


def test_incidents_table_has_the_adapters_keys_and_indexes(resources: dict[str, Any]) -> None:
    props = resources["IncidentsTable"]["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    indexes = {
        index["IndexName"]: (index["KeySchema"], index["Projection"]["ProjectionType"])
        for index in props["GlobalSecondaryIndexes"]
    }
    assert indexes == {
        "by-incident-id": ([{"AttributeName": "incident_id", "KeyType": "HASH"}], "ALL"),
        "by-status": ([{"AttributeName": "status", "KeyType": "HASH"}], "ALL"),
    }
    types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    assert types == {"pk": "S", "incident_id": "S", "status": "S"}


def test_secrets_key_rotates(resources: dict[str, Any]) -> None:
    assert resources["SecretsKey"]["Properties"]["EnableKeyRotation"] is True


def test_slack_secrets_hold_no_usable_value(resources: dict[str, Any]) -> None:
    token = resources["SlackBotTokenSecret"]["Properties"]
    assert not token["SecretString"].startswith("xox")
    signing = resources["SlackSigningSecret"]["Properties"]
    # Random until the operator stores the real one, so no one can forge a click meanwhile.
    assert "GenerateSecretString" in signing and "SecretString" not in signing


# ------------------------------------------------------------------------- event patterns


def test_every_rule_targets_the_leak_queue(template: dict[str, Any]) -> None:
    rules = event_rules(template)
    assert len(rules) == 5
    for rule in rules.values():
        assert rule["State"] == "ENABLED"
        assert rule["EventBusName"] == "default"
        (target,) = rule["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": ["LeakQueue", "Arn"]}


def test_health_rule_lists_all_five_risk_codes(template: dict[str, Any]) -> None:
    pattern = event_rules(template)["HealthRiskRule"]["EventPattern"]
    assert pattern["source"] == ["aws.health"]
    assert sorted(pattern["detail"]["eventTypeCode"]) == sorted(
        [
            "AWS_RISK_CREDENTIALS_EXPOSED",
            "AWS_RISK_CREDENTIALS_EXPOSURE_SUSPECTED",
            "AWS_RISK_CREDENTIALS_COMPROMISED",
            "AWS_RISK_CREDENTIALS_COMPROMISE_SUSPECTED",
            "AWS_RISK_IAM_QUARANTINE",
        ]
    )


def _attach(policy_arn: str, **extra: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "source": "aws.iam",
        "detail-type": "AWS API Call via CloudTrail",
        "region": "us-east-1",
        "detail": {
            "eventSource": "iam.amazonaws.com",
            "eventName": "AttachUserPolicy",
            "requestParameters": {"userName": "alice", "policyArn": policy_arn},
            **extra,
        },
    }


@pytest.mark.parametrize(
    ("policy_arn", "matches"),
    [
        ("arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantine", True),
        ("arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV2", True),
        ("arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3", True),
        ("arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV4", True),
        ("arn:aws:iam::aws:policy/AdministratorAccess", False),
        ("arn:aws:iam::aws:policy/AWSDenyAll", False),
        # A customer policy that borrows the name is not AWS's quarantine.
        ("arn:aws:iam::123456789012:policy/AWSCompromisedKeyQuarantineV2", False),
        ("arn:aws:iam::aws:policy/service-role/AWSCompromisedKeyQuarantineV2", False),
    ],
)
def test_quarantine_rule_matches_every_version_and_nothing_else(
    template: dict[str, Any], policy_arn: str, matches: bool
) -> None:
    pattern = event_rules(template)["QuarantinePolicyAttachedRule"]["EventPattern"]
    assert _matches(pattern, _attach(policy_arn)) is matches


def test_quarantine_rule_follows_the_partition(template: dict[str, Any]) -> None:
    refs = {**pseudo_parameters(partition="aws-cn"), **parameter_defaults(template)}
    pattern = event_rules(template, refs)["QuarantinePolicyAttachedRule"]["EventPattern"]
    assert _matches(pattern, _attach("arn:aws-cn:iam::aws:policy/AWSCompromisedKeyQuarantineV3"))
    assert not _matches(pattern, _attach("arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3"))


def test_quarantine_rule_ignores_failed_attach_calls(template: dict[str, Any]) -> None:
    pattern = event_rules(template)["QuarantinePolicyAttachedRule"]["EventPattern"]
    failed = _attach(
        "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3", errorCode="AccessDenied"
    )
    assert not _matches(pattern, failed)


@pytest.mark.parametrize(
    ("severity", "matches"), [(3.9, False), (4, True), (4.0, True), (8.5, True)]
)
def test_guardduty_threshold_is_numeric(
    template: dict[str, Any], severity: float, matches: bool
) -> None:
    pattern = event_rules(template)["GuardDutyAccessKeyRule"]["EventPattern"]
    event = {
        "source": "aws.guardduty",
        "detail-type": "GuardDuty Finding",
        "detail": {"severity": severity, "resource": {"resourceType": "AccessKey"}},
    }
    assert _matches(pattern, event) is matches


def test_guardduty_threshold_comes_from_the_parameter(template: dict[str, Any]) -> None:
    refs = {
        **pseudo_parameters(),
        **parameter_defaults(template),
        "GuardDutySeverityThreshold": "7",
    }
    pattern = event_rules(template, refs)["GuardDutyAccessKeyRule"]["EventPattern"]
    # A JSON number, not the string Ref would give: numeric matching needs a number.
    assert pattern["detail"]["severity"] == [{"numeric": [">=", 7]}]


# ------------------------------------------------------------------------- samplesconfig


def _overrides(value: str | list[str]) -> dict[str, str]:
    text = value if isinstance(value, str) else " ".join(value)
    pairs = (item.partition("=") for item in shlex.split(text))
    return {key: val for key, _, val in pairs}


def _samplesconfig() -> dict[str, Any]:
    with (ROOT / "samplesconfig.toml").open("rb") as fh:
        return tomllib.load(fh)


def test_samplesconfig_has_default_dev_and_prod_in_us_east_1() -> None:
    config = _samplesconfig()
    assert config["version"] == 0.1
    for env in ("default", "dev", "prod"):
        deploy = config[env]["deploy"]["parameters"]
        assert deploy["region"] == "us-east-1"
        assert "CAPABILITY_IAM" in deploy["capabilities"]
        assert deploy["resolve_s3"] is True
        assert isinstance(deploy["confirm_changeset"], bool)
        assert deploy["stack_name"]


@pytest.mark.parametrize("env", ["default", "dev", "prod"])
def test_samplesconfig_overrides_name_exactly_the_template_parameters(
    template: dict[str, Any], env: str
) -> None:
    overrides = _overrides(_samplesconfig()[env]["deploy"]["parameters"]["parameter_overrides"])
    parameters = template["Parameters"]
    assert set(overrides) == set(parameters), (
        f"missing: {sorted(set(parameters) - set(overrides))}; "
        f"unknown: {sorted(set(overrides) - set(parameters))}"
    )
    # And each value is one CloudFormation would accept.
    for name, value in overrides.items():
        spec = parameters[name]
        if "AllowedValues" in spec:
            assert value in spec["AllowedValues"], (name, value)
        if "AllowedPattern" in spec:
            # CloudFormation matches each item of a list against the pattern.
            items = value.split(",") if spec["Type"] == "CommaDelimitedList" else [value]
            for item in items:
                assert re.fullmatch(spec["AllowedPattern"], item), (name, item)
        if spec["Type"] == "Number":
            number = float(value)
            assert spec.get("MinValue", number) <= number <= spec.get("MaxValue", number)


# ------------------------------------------------------------------------- Slack manifest


def test_slack_manifest_asks_for_exactly_the_scopes_used() -> None:
    manifest = yaml.safe_load((ROOT / "slack-app-manifest.yaml").read_text(encoding="utf-8"))
    # chat.postMessage and chat.update; conversations.open; users.lookupByEmail.
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == sorted(
        ["chat:write", "im:write", "users:read", "users:read.email"]
    )
    interactivity = manifest["settings"]["interactivity"]
    assert interactivity["is_enabled"] is True
    assert interactivity["request_url"].startswith("https://")
    assert "bot_user" in manifest["features"]
