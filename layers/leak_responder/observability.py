"""Logging and metrics, set up once in this neutral module. The domain never imports it."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

__all__ = ["LambdaContext", "log_step", "logger", "metrics"]

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "leak-responder")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "LeakResponder")

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def log_step(event: str, /, **fields: Any) -> None:
    """The domain's Observer for the Lambda functions: each step is one structured log line."""
    logger.info(event, extra=fields)
