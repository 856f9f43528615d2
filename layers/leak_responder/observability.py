"""Logging and metrics, set up once in this neutral module. The domain never imports it."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "leak-responder")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "LeakResponder")

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
