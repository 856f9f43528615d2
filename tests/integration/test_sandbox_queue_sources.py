"""The sandbox takes the template's SQS event sources property by property, as it does resources."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

from leak_sandbox.provisioner import ProvisioningError, provision

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


@pytest.fixture
def session() -> Iterator[boto3.session.Session]:
    with mock_aws():
        yield boto3.session.Session(
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # pragma: allowlist secret
        )


def test_the_responders_sources_carry_their_maximum_concurrency(
    session: boto3.session.Session,
) -> None:
    default = provision(TEMPLATE, session).functions["ResponderFunction"].sqs_sources()
    assert [int(s["ScalingConfig"]["MaximumConcurrency"]) for s in default] == [10, 10, 10]


def test_the_maximum_concurrency_follows_the_parameter(session: boto3.session.Session) -> None:
    provisioned = provision(TEMPLATE, session, {"ResponderMaximumConcurrency": "25"})
    sources = provisioned.functions["ResponderFunction"].sqs_sources()
    assert [int(s["ScalingConfig"]["MaximumConcurrency"]) for s in sources] == [25, 25, 25]


def _function_with_sqs_source(tmp_path: Path, **source: Any) -> Path:
    path = tmp_path / "template.yaml"
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": "fn/",
                    "Handler": "app.lambda_handler",
                    "Events": {
                        "Q": {
                            "Type": "SQS",
                            "Properties": {"Queue": {"Fn::GetAtt": ["Queue", "Arn"]}, **source},
                        }
                    },
                },
            },
        },
    }
    path.write_text(yaml.safe_dump(template))
    return path


def test_every_sqs_source_property_the_template_uses_is_taken(
    tmp_path: Path, session: boto3.session.Session
) -> None:
    path = _function_with_sqs_source(
        tmp_path,
        BatchSize=10,
        MaximumBatchingWindowInSeconds=0,
        FunctionResponseTypes=["ReportBatchItemFailures"],
        ScalingConfig={"MaximumConcurrency": 2},
    )
    (source,) = provision(path, session).functions["Fn"].sqs_sources()
    assert source["ScalingConfig"] == {"MaximumConcurrency": 2}


def test_an_unmapped_sqs_source_property_is_an_error_naming_it(
    tmp_path: Path, session: boto3.session.Session
) -> None:
    # A worker that silently ignored a new property (a filter, say) would run what Lambda never
    # would: the sandbox follows the template or stops loudly.
    path = _function_with_sqs_source(tmp_path, FilterCriteria={"Filters": []})
    with pytest.raises(ProvisioningError, match=r"Fn.*Q.*FilterCriteria"):
        provision(path, session)
