"""Secrets Manager adapter: delivers the replacement secret (the SecretStore port).

One secret per user, readable only by that user and the security role: the resource policy
grants them by exact ARN and denies everyone else, whatever their identity policies say. The
policy is in place before the secret gets its value, so there is no moment at which the value
is readable by anyone else.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from leak_responder.adapters.aws.errors import error_code, translate, translated
from leak_responder.domain.ports import NewAccessKey, PrincipalRef, StoredSecret

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


def reader_policy(owner_arn: str, security_role_arn: str | None) -> str:
    readers = [owner_arn, *([security_role_arn] if security_role_arn else [])]
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "OwnerAndSecurityRead",
                    "Effect": "Allow",
                    "Principal": {"AWS": readers},
                    "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                    "Resource": "*",
                },
                {
                    "Sid": "NobodyElseReads",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "secretsmanager:GetSecretValue",
                    "Resource": "*",
                    "Condition": {"ArnNotEquals": {"aws:PrincipalArn": readers}},
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
        self, account_id: str, owner: PrincipalRef, key: NewAccessKey, incident_id: str
    ) -> StoredSecret:
        name = secret_name(self._prefix, account_id, owner.name)
        arn = self._create_empty(name, account_id, owner.name, incident_id)
        with translated("secretsmanager:PutResourcePolicy"):
            self._sm.put_resource_policy(
                SecretId=arn, ResourcePolicy=reader_policy(owner.arn, self._security_role)
            )
        value = json.dumps(
            {
                "AccessKeyId": key.key_id,
                "SecretAccessKey": key.secret.reveal(),
                "UserName": owner.name,
                "IncidentId": incident_id,
            }
        )
        with translated("secretsmanager:PutSecretValue"):
            self._sm.put_secret_value(SecretId=arn, SecretString=value)
        return StoredSecret(name=name, arn=arn)

    def _create_empty(self, name: str, account_id: str, user_name: str, incident_id: str) -> str:
        """The secret without a value (no version yet), or the user's existing one."""
        args: dict[str, Any] = {
            "Name": name,
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
        # An earlier incident's secret for this user: its policy and value are replaced below.
        with translated("secretsmanager:DescribeSecret"):
            return str(self._sm.describe_secret(SecretId=name)["ARN"])
