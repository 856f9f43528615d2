"""The submodules of the shipped dependencies that the runtime names import with what the layer
ships, and nothing else.

The layer ships Powertools and slack_sdk without their extras, so some of their modules cannot
import in Lambda: ``aws_lambda_powertools.utilities.parser`` (pydantic), ``...validation``
(fastjsonschema), ``slack_sdk.web.async_client`` (aiohttp). test_boundaries.py allows any module
of these packages; this imports each one the runtime names in a fresh interpreter that can see
only the standard library and the shipped distributions.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib.metadata import distribution, packages_distributions

import pytest

from tests.architecture.test_boundaries import (
    HANDLERS,
    RUNTIME,
    RUNTIME_DEPENDENCIES,
    imports_of,
    lambda_stdlib,
    package_of,
    python_files,
)

SHIPPED = ("boto3", "aws-lambda-powertools", "slack_sdk")  # the runtime's boto3, requirements.txt


def shipped_distributions() -> set[str]:
    """SHIPPED and everything they require without extras, as normalised distribution names."""
    seen: set[str] = set()
    todo = list(SHIPPED)
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in seen:
            continue
        seen.add(name)
        for requirement in distribution(name).requires or []:
            if "extra ==" in requirement:
                continue
            if ";" in requirement and "python_version" not in requirement:
                continue
            todo.append(re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0])
    return seen


def shipped_top_level() -> frozenset[str]:
    shipped = shipped_distributions()
    return frozenset(
        top
        for top, dists in packages_distributions().items()
        if any(re.sub(r"[-_.]+", "-", d).lower() in shipped for d in dists)
    )


_IMPORT_ALL = """
import importlib, importlib.abc, json, sys
allowed = set(json.loads(sys.argv[1]))

class OnlyTheLayer(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] not in allowed:
            raise ModuleNotFoundError(f"No module named {name!r} (not in the layer)", name=name)
        return None

sys.meta_path.insert(0, OnlyTheLayer())
failed = {}
for module in json.loads(sys.argv[2]):
    try:
        importlib.import_module(module)
    except ImportError as exc:
        failed[module] = f"{type(exc).__name__}: {exc}"
print(json.dumps(failed))
"""


def import_with_only_the_layer(modules: list[str]) -> dict[str, str]:
    allowed = sorted(shipped_top_level() | lambda_stdlib())
    out = subprocess.run(
        [sys.executable, "-I", "-c", _IMPORT_ALL, json.dumps(allowed), json.dumps(modules)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    failed: dict[str, str] = json.loads(out.stdout)
    return failed


def test_every_dependency_module_the_layer_names_imports_without_extras() -> None:
    named = sorted(
        {
            module
            for path in [*python_files(RUNTIME), *HANDLERS]
            for _, module in imports_of(
                path, package_of(path) if path.is_relative_to(RUNTIME) else ""
            )
            if module.split(".")[0] in RUNTIME_DEPENDENCIES
        }
    )
    assert "slack_sdk.signature" in named
    assert import_with_only_the_layer(named) == {}


@pytest.mark.parametrize(
    "module",
    [
        "aws_lambda_powertools.utilities.parser",
        "aws_lambda_powertools.utilities.validation",
        "slack_sdk.web.async_client",
    ],
)
def test_a_module_that_needs_an_extra_is_caught(module: str) -> None:
    assert module in import_with_only_the_layer([module])
