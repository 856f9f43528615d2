"""leak_sandbox.template: short tags become data; intrinsics resolve as CloudFormation does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from leak_sandbox.template import (
    Resolver,
    TemplateError,
    event_rules,
    flatten_event,
    load_template,
    parameter_defaults,
)

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Name: {Type: String, Default: alice}
  Threshold: {Type: Number, Default: 4}
  Principals: {Type: CommaDelimitedList, Default: "a,b"}
  Empty: {Type: String, Default: ""}
Mappings:
  Queue: {Leaks: {MaxReceiveCount: 5}}
Conditions:
  HasEmpty: !Not [!Equals [!Ref Empty, ""]]
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      Version: 2012-10-17
      Ref: !Ref Name
      Att: !GetAtt Db.Endpoint.Address
      AttList: !GetAtt [Db, Arn]
      Sub: !Sub "arn:${AWS::Partition}:iam::${AWS::AccountId}:user/${Name}"
      SubMap: !Sub ["${X}-${Name}", {X: !Ref Threshold}]
      Escaped: !Sub "${!Literal}-${Name}"
      Join: !Join [",", [!Ref Name, b]]
      Split: !Select [1, !Split [",", "x,y,z"]]
      Map: !FindInMap [Queue, Leaks, MaxReceiveCount]
      Maybe: !If [HasEmpty, yes, !Ref AWS::NoValue]
      List: [one, !If [HasEmpty, two, !Ref AWS::NoValue]]
  Rule:
    Type: AWS::Events::Rule
    Properties:
      EventPattern: !Sub '{"detail": {"severity": [{"numeric": [">=", ${Threshold}]}]}}'
"""


@pytest.fixture
def template(tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE, encoding="utf-8")
    return load_template(path)


def test_short_forms_become_long_forms(template: dict[str, Any]) -> None:
    props = template["Resources"]["Bucket"]["Properties"]
    assert props["Ref"] == {"Ref": "Name"}
    # The short GetAtt splits on the first dot only.
    assert props["Att"] == {"Fn::GetAtt": ["Db", "Endpoint.Address"]}
    assert props["AttList"] == {"Fn::GetAtt": ["Db", "Arn"]}
    assert props["Sub"] == {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:user/${Name}"}
    assert template["Conditions"]["HasEmpty"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "Empty"}, ""]}]
    }


def test_dates_stay_strings(template: dict[str, Any]) -> None:
    assert template["Resources"]["Bucket"]["Properties"]["Version"] == "2012-10-17"


def test_resolver_evaluates_intrinsics(template: dict[str, Any]) -> None:
    refs = {
        "AWS::Partition": "aws",
        "AWS::AccountId": "123456789012",
        **parameter_defaults(template),
    }
    resolver = Resolver(template, refs, {"Db.Endpoint.Address": "db.local", "Db.Arn": "arn:db"})
    props = resolver.resolve(template["Resources"]["Bucket"]["Properties"])
    assert props["Ref"] == "alice"
    assert props["Att"] == "db.local"
    assert props["Sub"] == "arn:aws:iam::123456789012:user/alice"
    assert props["SubMap"] == "4-alice"
    assert props["Escaped"] == "${Literal}-alice"
    assert props["Join"] == "alice,b"
    assert props["Split"] == "y"
    assert props["Map"] == 5
    # AWS::NoValue removes the key, or the list item.
    assert "Maybe" not in props
    assert props["List"] == ["one"]


def test_parameter_defaults_follow_ref_types(template: dict[str, Any]) -> None:
    defaults = parameter_defaults(template)
    assert defaults["Threshold"] == "4"
    assert defaults["Principals"] == ["a", "b"]


def test_unknown_ref_raises_instead_of_guessing(template: dict[str, Any]) -> None:
    with pytest.raises(TemplateError, match="Nope"):
        Resolver(template, {}).resolve({"Ref": "Nope"})


def test_json_string_patterns_are_decoded_with_numbers(template: dict[str, Any]) -> None:
    rules = event_rules(template, {"Threshold": "7"})
    assert rules["Rule"]["EventPattern"] == {"detail": {"severity": [{"numeric": [">=", 7]}]}}
    assert rules["Rule"]["State"] == "ENABLED"


def test_flatten_event_collects_values_through_arrays() -> None:
    event = {
        "source": "aws.securityhub",
        "detail": {
            "findings": [
                {"Resources": [{"Type": "AwsEc2Instance"}, {"Type": "AwsIamAccessKey"}]},
                {"Resources": [{"Type": "AwsS3Bucket"}]},
            ],
            "severity": 5,
            "tags": ["a", "b"],
        },
    }
    assert flatten_event(event) == {
        "source": "aws.securityhub",
        "detail.findings.Resources.Type": ["AwsEc2Instance", "AwsIamAccessKey", "AwsS3Bucket"],
        "detail.severity": 5,
        "detail.tags": ["a", "b"],
    }


def test_not_a_template(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(TemplateError):
        load_template(path)
