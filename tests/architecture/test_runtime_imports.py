"""What test_boundaries.py lets through and Lambda would still refuse.

- Dynamic imports: ``importlib.import_module("yaml")`` and ``__import__("moto")`` are imports too.
- The standard library of the Lambda runtime (template.yaml: python3.12), not of the interpreter
  running the tests: ``distutils``, ``imp``, ``asyncore``... are gone in 3.12.
- Submodules of the shipped dependencies that need their extras, which the layer does not ship:
  ``aws_lambda_powertools.utilities.parser`` (pydantic), ``...validation`` (fastjsonschema),
  ``slack_sdk.web.async_client`` (aiohttp). Each such module the layer names is imported in a
  fresh interpreter that can see only the standard library and the shipped distributions.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import distribution, packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "layers" / "leak_responder"
FILES = sorted(RUNTIME.rglob("*.py")) + sorted((ROOT / "functions").glob("*/app.py"))

# Removed from the standard library, by the version that removed them (PEP 594, PEP 632, ...).
REMOVED_FROM_STDLIB = {
    (3, 12): {"asynchat", "asyncore", "distutils", "imp", "smtpd"},
    (3, 13): {
        "aifc", "audioop", "cgi", "cgitb", "chunk", "crypt", "imghdr", "lib2to3", "mailcap",
        "msilib", "nis", "nntplib", "ossaudiodev", "pipes", "sndhdr", "spwd", "sunau",
        "telnetlib", "uu", "xdrlib",
    },
}  # fmt: skip
SHIPPED = ("boto3", "aws-lambda-powertools", "slack_sdk")  # the runtime's boto3, requirements.txt
# The one dynamic import the runtime package makes: the add-on commands of `leak-responder`
# (entry points), which a layer, holding no distribution metadata, does not have.
DYNAMIC_ALLOWED = {("cli.py", "entry_points")}


def lambda_runtime() -> tuple[int, int]:
    found = re.findall(r"Runtime:\s*python(\d+)\.(\d+)", (ROOT / "template.yaml").read_text())
    assert found, "template.yaml names no python runtime"
    versions = {(int(major), int(minor)) for major, minor in found}
    assert len(versions) == 1, versions
    return versions.pop()


def lambda_stdlib() -> frozenset[str]:
    runtime = lambda_runtime()
    gone = set().union(
        *(names for version, names in REMOVED_FROM_STDLIB.items() if version <= runtime)
    )
    return (frozenset(sys.stdlib_module_names) | {"__future__"}) - gone


def _call_name(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def every_import(source: str) -> Iterator[tuple[int, str | None, str]]:
    """(line, absolute module or None when not a literal, how) for static and dynamic imports.
    Relative imports are the package's own and are not reported."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, "import"
        elif isinstance(node, ast.ImportFrom) and not node.level:
            yield node.lineno, node.module or "", "from"
        elif isinstance(node, ast.Call):
            name = _call_name(node)
            if name in {"import_module", "__import__", "find_spec", "entry_points"}:
                arg = node.args[0] if node.args else None
                literal = arg.value if isinstance(arg, ast.Constant) else None
                yield node.lineno, literal if isinstance(literal, str) else None, name


def runtime_violations(files: list[Path], allowed_top: frozenset[str]) -> list[str]:
    found = []
    for path in files:
        for line, module, how in every_import(path.read_text(encoding="utf-8")):
            where = f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{line}"
            if module is None:
                if (path.name, how) not in DYNAMIC_ALLOWED:
                    found.append(f"{where} {how}(...) of a module it does not name")
            elif module.split(".")[0] not in allowed_top | {"leak_responder"}:
                found.append(f"{where} {how} {module}")
    return found


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


def test_the_runtime_package_imports_nothing_lambda_lacks_even_dynamically() -> None:
    allowed = lambda_stdlib() | {"boto3", "botocore", "aws_lambda_powertools", "slack_sdk"}
    assert runtime_violations(FILES, allowed) == []


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
    dependency_tops = {"boto3", "botocore", "aws_lambda_powertools", "slack_sdk"}
    named = sorted(
        {
            module
            for path in FILES
            for _, module, _how in every_import(path.read_text(encoding="utf-8"))
            if module and module.split(".")[0] in dependency_tops
        }
    )
    assert "slack_sdk.signature" in named
    assert import_with_only_the_layer(named) == {}


@pytest.mark.parametrize(
    "source",
    [
        "import importlib\nyaml = importlib.import_module('yaml')\n",
        "moto = __import__('moto')\n",
        "from importlib import import_module\ndef f(name):\n    return import_module(name)\n",
        "from distutils.util import strtobool\n",
        "import imp\n",
    ],
)
def test_the_check_sees_what_test_boundaries_does_not(tmp_path: Path, source: str) -> None:
    path = tmp_path / "probe.py"
    path.write_text(source, encoding="utf-8")
    allowed = lambda_stdlib() | {"boto3", "botocore", "aws_lambda_powertools", "slack_sdk"}
    assert runtime_violations([path], allowed) != []


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
