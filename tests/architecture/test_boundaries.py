"""What may import what: the layout's promises, checked on every import statement in the tree.

- The domain imports only the standard library and itself: no SDK, no adapter, no settings.
- The runtime package (the Lambda layer) imports only the standard library, itself and the
  runtime dependencies the layer ships; never the local tooling, moto, PyYAML or the scanner.
- The handlers import only the standard library and the runtime package.

Every import counts, including those inside functions and under TYPE_CHECKING: a lazy import
of moto would still fail in Lambda, only later.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "layers" / "leak_responder"
DOMAIN = RUNTIME / "domain"
HANDLERS = sorted((ROOT / "functions").glob("*/app.py"))

STDLIB = frozenset(sys.stdlib_module_names) | {"__future__"}
# What the layer ships (layers/requirements.txt) plus what the Lambda runtime provides.
RUNTIME_DEPENDENCIES = frozenset({"boto3", "botocore", "aws_lambda_powertools", "slack_sdk"})


def imports_of(path: Path, package: str) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) for every import in ``path``; relative imports are resolved
    against ``package``, the dotted package the file belongs to."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                yield node.lineno, ".".join([*base, node.module] if node.module else base)
            else:
                yield node.lineno, node.module or ""


def package_of(path: Path) -> str:
    """The dotted package a file of the runtime package belongs to: its folder."""
    return ".".join(path.relative_to(RUNTIME.parent).parts[:-1])


def violations(files: list[Path], allowed: frozenset[str], own: tuple[str, ...]) -> list[str]:
    found = []
    for path in files:
        package = package_of(path) if path.is_relative_to(RUNTIME) else ""
        for line, module in imports_of(path, package):
            top = module.split(".")[0]
            if top in allowed or module == own[0] or module.startswith(own):
                continue
            found.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return found


def python_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def test_the_domain_imports_only_the_standard_library_and_itself() -> None:
    assert python_files(DOMAIN), "no domain modules found: the layout moved"
    assert violations(python_files(DOMAIN), STDLIB, ("leak_responder.domain",)) == []


def test_the_runtime_package_imports_only_what_the_layer_ships() -> None:
    allowed = STDLIB | RUNTIME_DEPENDENCIES
    assert violations(python_files(RUNTIME), allowed, ("leak_responder",)) == []


def test_handlers_import_only_the_runtime_package() -> None:
    assert len(HANDLERS) == 3
    assert violations(HANDLERS, STDLIB, ("leak_responder",)) == []


@pytest.mark.parametrize(
    ("source", "module"),
    [
        ("import moto\n", "moto"),
        ("from yaml import safe_load\n", "yaml"),
        ("def f():\n    from leak_sandbox.demo import run_demo\n", "leak_sandbox.demo"),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import leak_scan\n",
            "leak_scan",
        ),
        ("from ..adapters.aws import iam\n", "leak_responder.adapters.aws"),
    ],
)
def test_the_check_sees_every_kind_of_import(tmp_path: Path, source: str, module: str) -> None:
    # The rule for the domain, applied to a file placed as if in leak_responder/domain/.
    path = tmp_path / "leak_responder" / "domain" / "probe.py"
    path.parent.mkdir(parents=True)
    path.write_text(source, encoding="utf-8")
    found = [
        name
        for _, name in imports_of(path, "leak_responder.domain")
        if name.split(".")[0] not in STDLIB and not name.startswith("leak_responder.domain")
    ]
    assert found == [module]
