"""Secrets Manager adapter: delivers the replacement secret (the SecretStore port).

One secret per user, readable only by that user and the security role: a resource policy denies
every other principal, whatever their identity policies say.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from leak_responder.adapters.aws.errors import error_code, translate, translated
from leak_responder.domain.ports import NewAccessKey, StoredSecret

PERMISSIONS: tuple[str, ...] = (
    "secretsmanager:CreateSecret",
    "secretsmanager:PutSecretValue",
    "secretsmanager:PutResourcePolicy",
    "secretsmanager:DescribeSecret",
    "secretsmanager:TagResource",
    "kms:GenerateDataKey",
    "kms:Decrypt",
)


def secret_name(prefix: str, account_id: str, user_name: str) -> str:
    return f"{prefix}/{account_id}/{user_name}"


def reader_policy(account_id: str, user_name: str, security_role_arn: str | None) -> str:
    # A user may have a path (user/team/alice): match both forms of its ARN.
    readers = [
        f"arn:aws:iam::{account_id}:user/{user_name}",
        f"arn:aws:iam::{account_id}:user/*/{user_name}",
    ]
    if security_role_arn:
        readers.append(security_role_arn)
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "OwnerAndSecurityRead",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                    "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                    "Resource": "*",
                    "Condition": {"ArnLike": {"aws:PrincipalArn": readers}},
                },
                {
                    "Sid": "NobodyElseReads",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "secretsmanager:GetSecretValue",
                    "Resource": "*",
                    "Condition": {"ArnNotLike": {"aws:PrincipalArn": readers}},
                },
            ],
        }
    )


class SecretsManagerStore:
    def __init__(
        self,
        client: Any,
        prefix: str = "leak-responder",
        kms_key_id: str | None = None,
        security_role_arn: str | None = None,
    ) -> None:
        self._sm = client
        self._prefix = prefix
        self._kms = kms_key_id
        self._security_role = security_role_arn

    def store(
        self, account_id: str, user_name: str, key: NewAccessKey, incident_id: str
    ) -> StoredSecret:
        name = secret_name(self._prefix, account_id, user_name)
        value = json.dumps(
            {
                "AccessKeyId": key.key_id,
                "SecretAccessKey": key.secret.reveal(),
                "UserName": user_name,
                "IncidentId": incident_id,
            }
        )
        arn = self._create_or_update(name, value, account_id, user_name, incident_id)
        with translated("secretsmanager:PutResourcePolicy"):
            self._sm.put_resource_policy(
                SecretId=arn,
                ResourcePolicy=reader_policy(account_id, user_name, self._security_role),
            )
        return StoredSecret(name=name, arn=arn)

    def _create_or_update(
        self, name: str, value: str, account_id: str, user_name: str, incident_id: str
    ) -> str:
        args: dict[str, Any] = {
            "Name": name,
            "SecretString": value,
            "Description": f"Replacement access key for {user_name} (leak-responder)",
            "Tags": [
                {"Key": "leak-responder:account", "Value": account_id},
                {"Key": "leak-responder:user", "Value": user_name},
                {"Key": "leak-responder:incident", "Value": incident_id},
            ],
        }
        if self._kms:
            args["KmsKeyId"] = self._kms
        try:
            return str(self._sm.create_secret(**args)["ARN"])
        except ClientError as exc:
            if error_code(exc) != "ResourceExistsException":
                raise translate(exc, "secretsmanager:CreateSecret") from exc
        except BotoCoreError as exc:
            raise translate(exc, "secretsmanager:CreateSecret") from exc
        # The user's secret exists from an earlier incident: a new version replaces it.
        with translated("secretsmanager:PutSecretValue"):
            return str(self._sm.put_secret_value(SecretId=name, SecretString=value)["ARN"])
