"""Run a template function's handler in-process, as Lambda would call it."""

from __future__ import annotations

import importlib.util
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from leak_sandbox.provisioner import LocalFunction, ProvisioningError

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class LocalContext:
    """The attributes of Lambda's context object that Powertools and our handlers read."""

    function_name: str
    invoked_function_arn: str
    timeout_s: int
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = "sandbox"
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def context_for(function: LocalFunction, arn: str) -> LocalContext:
    return LocalContext(function.name, arn, function.timeout)


def load_handler(function: LocalFunction) -> Handler:
    """Import ``CodeUri/<module>.py`` under a name unique to the function, and return the handler.

    Every function's module is called ``app``; loading each under its own name keeps them apart
    in one process, the way separate Lambda functions are.
    """
    module_name, _, attr = function.handler.rpartition(".")
    path = function.code_uri / (module_name.replace(".", "/") + ".py")
    if not path.is_file():
        raise ProvisioningError(f"{function.logical_id}: handler file {path} does not exist")
    unique = f"_sandbox_fn_{function.logical_id}_{module_name.replace('.', '_')}"
    module = sys.modules.get(unique)
    if module is None:
        spec = importlib.util.spec_from_file_location(unique, path)
        if spec is None or spec.loader is None:
            raise ProvisioningError(f"{function.logical_id}: cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[unique] = module
        spec.loader.exec_module(module)
    handler = getattr(module, attr, None)
    if not callable(handler):
        raise ProvisioningError(f"{function.logical_id}: {path} has no callable {attr!r}")
    return handler  # type: ignore[no-any-return]
