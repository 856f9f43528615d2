"""Acting in a second (moto) account through a role, as the member-role set-up does."""

from __future__ import annotations

from typing import Any

import boto3


def client_as(service: str, role_arn: str, region: str, session_name: str = "setup") -> Any:
    """A ``service`` client with the credentials of ``role_arn``'s session (AssumeRole)."""
    creds = boto3.client("sts", region_name=region).assume_role(
        RoleArn=role_arn, RoleSessionName=session_name
    )["Credentials"]
    return boto3.client(  # type: ignore[call-overload]
        service,
        region_name=region,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
