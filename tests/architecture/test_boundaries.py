"""What may import what: the layout's promises, checked on every import statement in the tree.

- The domain imports only the standard library and itself: no SDK, no adapter, no settings.
- The runtime package (the Lambda layer) imports only the standard library, itself and the
  runtime dependencies the layer ships; never the local tooling, moto, PyYAML or the scanner.
- The handlers import only the standard library and the runtime package.

Every import counts, including those inside functions, under TYPE_CHECKING and by name
(``importlib.import_module``, ``__import__``): a lazy import of moto would still fail in Lambda,
only later. The standard library is the Lambda runtime's (template.yaml), not the one running
the tests: a module gone from it would import here and fail there.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "layers" / "leak_responder"
DOMAIN = RUNTIME / "domain"
HANDLERS = sorted((ROOT / "functions").glob("*/app.py"))

# Removed from the standard library, by the version that removed them (PEP 594, PEP 632).
REMOVED_FROM_STDLIB = {
    (3, 12): {"asynchat", "asyncore", "distutils", "imp", "smtpd"},
    (3, 13): {
        "aifc", "audioop", "cgi", "cgitb", "chunk", "crypt", "imghdr", "lib2to3", "mailcap",
        "msilib", "nis", "nntplib", "ossaudiodev", "pipes", "sndhdr", "spwd", "sunau",
        "telnetlib", "uu", "xdrlib",
    },
}  # fmt: skip
# Calls that import a module by name; a name that is not a literal cannot be checked at all.
IMPORT_CALLS = frozenset({"import_module", "__import__", "find_spec"})
NOT_A_LITERAL = "<a name computed at run time>"


def lambda_runtime() -> tuple[int, int]:
    found = re.findall(r"Runtime:\s*python(\d+)\.(\d+)", (ROOT / "template.yaml").read_text())
    versions = {(int(major), int(minor)) for major, minor in found}
    assert len(versions) == 1, f"template.yaml names python runtimes {versions}"
    return versions.pop()


def lambda_stdlib() -> frozenset[str]:
    runtime = lambda_runtime()
    gone = set().union(
        *(names for version, names in REMOVED_FROM_STDLIB.items() if version <= runtime)
    )
    return (frozenset(sys.stdlib_module_names) | {"__future__"}) - gone


STDLIB = lambda_stdlib()
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
        elif isinstance(node, ast.Call) and _called(node) in IMPORT_CALLS:
            arg = node.args[0] if node.args else None
            name = arg.value if isinstance(arg, ast.Constant) else None
            yield node.lineno, name if isinstance(name, str) else NOT_A_LITERAL


def _called(node: ast.Call) -> str:
    if isinstance(node.func, ast.Name):
        return node.func.id
    return node.func.attr if isinstance(node.func, ast.Attribute) else ""


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
        ("import importlib\nyaml = importlib.import_module('yaml')\n", "yaml"),
        ("moto = __import__('moto')\n", "moto"),
        (
            "from importlib import import_module\ndef f(n):\n    return import_module(n)\n",
            NOT_A_LITERAL,
        ),
        ("from distutils.util import strtobool\n", "distutils.util"),
        ("import imp\n", "imp"),
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
