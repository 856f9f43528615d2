"""Record the AWS API calls a Lambda handler makes, as IAM actions, to compare with its grants.

Every botocore client call in the process goes through ``BaseClient._make_api_call``, whoever
built the client (our ClientFactory, Powertools Parameters). Only calls made while a wrapped
handler runs are recorded, so a test's own set-up calls do not count.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from botocore.client import BaseClient


class ActionRecorder:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.actions: dict[str, set[str]] = defaultdict(set)
        # (function, action, names of the parameters): never their values, which may be secret
        self.sequence: list[tuple[str, str, frozenset[str]]] = []
        self._function: str | None = None
        original = BaseClient._make_api_call
        recorder = self

        def record(client: BaseClient, operation: str, params: Any) -> Any:
            if recorder._function is not None:
                action = f"{client.meta.service_model.signing_name}:{operation}"
                recorder.actions[recorder._function].add(action)
                recorder.sequence.append((recorder._function, action, frozenset(params)))
            return original(client, operation, params)

        monkeypatch.setattr(BaseClient, "_make_api_call", record)
        self._monkeypatch = monkeypatch

    def wrap(self, module: ModuleType, function_logical_id: str) -> None:
        """Record what ``module.lambda_handler`` calls, as ``function_logical_id``."""
        handler: Callable[..., Any] = module.lambda_handler

        @functools.wraps(handler)
        def recorded(*args: Any, **kwargs: Any) -> Any:
            self._function = function_logical_id
            try:
                return handler(*args, **kwargs)
            finally:
                self._function = None

        self._monkeypatch.setattr(module, "lambda_handler", recorded)
