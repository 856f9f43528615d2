"""Slack credentials from Secrets Manager, through Powertools Parameters with caching.

The bot token and the signing secret are read by the *name* of their secret (Settings holds
names, never values) and come back wrapped in ``Secret`` so they cannot be logged by accident.
A secret may hold the bare value, or a JSON object with one of the keys in ``_VALUE_KEYS``
(what CloudFormation's ``GenerateSecretString`` with a template produces).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import BotoCoreError, ClientError

from leak_responder.domain.errors import ConfigurationError, TransientError
from leak_responder.domain.ports import Secret

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

PERMISSIONS: tuple[str, ...] = ("secretsmanager:GetSecretValue",)

# Long enough that a warm Lambda reads each secret a few times an hour, short enough that a
# rotated token is picked up without a redeploy.
MAX_AGE_SECONDS = 300

_VALUE_KEYS = ("token", "bot_token", "signing_secret", "value", "secret")

# Codes that retrying will not fix: a missing secret or a missing permission is a deployment bug.
_PERMANENT_CODES = frozenset(
    {
        "ResourceNotFoundException",
        "AccessDeniedException",
        "DecryptionFailure",
        "InvalidRequestException",
        "InvalidParameterException",
    }
)


def read_slack_secret(
    name: str | None,
    *,
    provider: SecretsProvider | None = None,
    max_age: int = MAX_AGE_SECONDS,
) -> Secret:
    """The value of the Secrets Manager secret ``name``, cached for ``max_age`` seconds.

    ``provider`` lets the edge pass a ``SecretsProvider`` built on a client with short timeouts
    (the approval path); without it Powertools' default provider is used.
    """
    if not name:
        raise ConfigurationError("the Slack secret name is not configured")
    raw: object
    try:
        if provider is None:
            raw = parameters.get_secret(name, max_age=max_age)
        else:
            raw = provider.get(name, max_age=max_age)
    except GetParameterError as exc:
        # Powertools wraps the SDK error without chaining it as the cause; it is the context.
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, ClientError):
            code = cause.response.get("Error", {}).get("Code", "")
            if code in _PERMANENT_CODES:
                raise ConfigurationError(f"cannot read Slack secret {name!r}: {code}") from exc
            raise TransientError(f"cannot read Slack secret {name!r}: {code}") from exc
        if isinstance(cause, BotoCoreError):
            raise TransientError(
                f"cannot read Slack secret {name!r}: {type(cause).__name__}"
            ) from exc
        raise ConfigurationError(f"cannot read Slack secret {name!r}") from exc
    return Secret(_unwrap(name, raw))


def _unwrap(name: str, raw: object) -> str:
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    if not isinstance(raw, str) or not raw.strip():
        raise ConfigurationError(f"Slack secret {name!r} is empty")
    value = raw.strip()
    if value.startswith("{"):
        try:
            obj = json.loads(value)
        except ValueError:
            # Not JSON after all; the message names the secret, never its content.
            raise ConfigurationError(f"Slack secret {name!r} is not valid JSON") from None
        if isinstance(obj, dict):
            for key in _VALUE_KEYS:
                inner = obj.get(key)
                if isinstance(inner, str) and inner.strip():
                    return inner.strip()
        raise ConfigurationError(f"Slack secret {name!r} has none of the keys {_VALUE_KEYS}")
    return value
