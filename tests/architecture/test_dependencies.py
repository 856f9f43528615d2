"""The dependency lists say the same thing: what runs in Lambda, and at which versions."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)")
_NAME = re.compile(r"^([A-Za-z0-9_.\-]+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line.strip())
        if match:
            found[canonical(match[1])] = match[2]
    return found


def name_of(requirement: str) -> str:
    match = _NAME.match(requirement)
    assert match, requirement
    return canonical(match[1])


def project() -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return data


def test_the_layer_pins_what_the_runtime_needs_at_the_locked_versions() -> None:
    runtime = {name_of(d) for d in project()["dependencies"]}
    layer = pins(ROOT / "layers" / "requirements.txt")
    locked = pins(ROOT / "constraints.txt")
    # boto3 and botocore come with the Lambda Python runtime; the layer ships the rest, and pins
    # what they require too (tests/packaging checks that the build installs nothing else).
    assert set(layer) >= runtime - {"boto3"}
    for name, version in layer.items():
        assert locked.get(name) == version, f"{name}: layer {version}, lock {locked.get(name)}"


def test_every_dependency_of_every_extra_is_locked() -> None:
    locked = pins(ROOT / "constraints.txt")
    extras = project()["optional-dependencies"]
    wanted = {name_of(d) for group in extras.values() for d in group}
    wanted |= {name_of(d) for d in project()["dependencies"]}
    wanted.discard("leak-responder")  # the dev extra names the project's own extras
    assert sorted(wanted - set(locked)) == []
