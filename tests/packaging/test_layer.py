"""The SharedLayer as `sam build` builds it, run in a fresh virtualenv as Lambda runs it.

The layer is built by its own Makefile, exactly as ``sam build`` calls it. Then a virtualenv
holding nothing but boto3 and botocore (pinned in constraints.txt, as the Lambda Python runtime
provides them) imports each handler of functions/ with the built layer on PYTHONPATH (Lambda
mounts it at /opt/python), and the responder contains a leaked key against a moto server. So a
module missing from the layer, a runtime dependency missing from layers/requirements.txt, or an
import of the local tooling (leak_sandbox, moto, PyYAML) fails here, not on the first leak.

Building the layer and the virtualenv needs pip and PyPI (or the configured index): without them
these tests fail, saying so; they never skip.
"""

from __future__ import annotations

import ast
import fcntl
import json
import os
import py_compile
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from leak_sandbox.provisioner import provision
from leak_sandbox.testkit import events
from leak_sandbox.testkit.lambda_shapes import sqs_event

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[2]
LAYER_DIR = ROOT / "layers"
LAYER_SOURCE = LAYER_DIR / "leak_responder"
FUNCTIONS = ROOT / "functions"
HANDLERS = ("responder", "approval", "reminder")
CONSTRAINTS = ROOT / "constraints.txt"
# Local tooling only: none of it may reach the layer or be imported by a handler.
TOOLING = ("leak_sandbox", "moto", "yaml")
TOOLING_DISTRIBUTIONS = ("pyyaml", "_yaml")  # PyYAML-*.dist-info, its C extension
REGION = "us-east-1"
HOME = "123456789012"  # moto's default account
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
PIP_TIMEOUT_S = 600
RESULT_MARK = "PACKAGING-DRIVER-RESULT "

# Runs in the fresh virtualenv. It imports what the layer and the runtime hold, nothing of this
# repository's tree: PYTHONPATH is the built layer, the current directory is not the repo.
DRIVER = r'''
import importlib
import importlib.util
import json
import os
import sys
import time
import uuid
from pathlib import Path

TOOLING = ("leak_sandbox", "moto", "yaml")


def tooling_loaded():
    return sorted(name for name in sys.modules if name.split(".")[0] in TOOLING)


REGION = os.environ["AWS_REGION"]
ACCOUNT = os.environ.get("HOME_ACCOUNT_ID") or "123456789012"


def import_handler(function_dir):
    # As Lambda does: the function's code directory first on sys.path, the module named "app".
    sys.path.insert(0, function_dir)
    try:
        return importlib.import_module("app")
    finally:
        sys.path.remove(function_dir)
        sys.modules.pop("app", None)  # each function's module is "app": keep them apart
        importlib.invalidate_caches()


class Context:
    """The attributes of Lambda's context object that Powertools and the handlers read."""

    def __init__(self, function_name, timeout_s):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function_name}"
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "packaging-test"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def origin(name):
    module = sys.modules.get(name)
    return getattr(module, "__file__", None) if module else None


request = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
handlers = {name: import_handler(path) for name, path in request["functions"].items()}
result = {
    "handler_files": {name: module.__file__ for name, module in handlers.items()},
    "tooling_after_import": tooling_loaded(),
    "tooling_importable": [name for name in TOOLING if importlib.util.find_spec(name)],
    "origins": {
        name: origin(name)
        for name in ("leak_responder", "aws_lambda_powertools", "boto3", "botocore")
    },
    "versions": {
        name: getattr(sys.modules.get(name), "__version__", None) for name in ("boto3", "botocore")
    },
    "prefix": sys.prefix,
}
invoke = request.get("invoke")
if invoke:
    handler = getattr(handlers[invoke["function"]], "lambda_handler")
    context = Context(invoke["function_name"], invoke["timeout_s"])
    result["response"] = handler(invoke["event"], context)
    result["tooling_after_invoke"] = tooling_loaded()
# Powertools logs and metrics go to stdout too: the result is the last line, marked.
print("PACKAGING-DRIVER-RESULT " + json.dumps(result, default=str), flush=True)
'''


# ------------------------------------------------------------------------------------ helpers


def _run(command: list[str], what: str, *, timeout: float, **kwargs: Any) -> str:
    """Run a build step; fail the test with its output (never skip) if it does not succeed."""
    hint = (
        " It needs pip to reach the package index (PyPI or the configured one): check the network,"
        " proxy and pip configuration."
        if "pip" in what
        else ""
    )
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
        )
    except FileNotFoundError as exc:
        pytest.fail(f"{what}: cannot run {command[0]!r}: {exc}", pytrace=False)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(
            f"{what}: no result after {timeout:.0f} s.{hint}\n{exc.stderr!r}", pytrace=False
        )
    if done.returncode != 0:
        pytest.fail(
            f"{what} failed (exit {done.returncode}).{hint}\n$ {' '.join(command)}\n"
            f"--- stdout\n{done.stdout[-4000:]}\n--- stderr\n{done.stderr[-4000:]}",
            pytrace=False,
        )
    return done.stdout


def _build_env() -> dict[str, str]:
    """The developer's environment, as `sam build` inherits it, minus a Python search path."""
    env = dict(os.environ)
    for name in ("PYTHONPATH", "PYTHONHOME", "PIP_TARGET", "PIP_PREFIX", "PIP_USER"):
        env.pop(name, None)
    return env


def _once(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], object]
) -> Path:
    """``build(directory)`` once per test session, even when pytest-xdist spreads this module
    over several workers: they share the parent of their base temporary directories."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    target = root / f"packaging-{name}"
    with (root / f"packaging-{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = root / f"packaging-{name}.done"
        if not done.exists():
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir()
            build(target)
            done.touch()
    return target


def build_layer(layer_dir: Path, artifacts: Path) -> Path:
    """What `sam build` does for SharedLayer (BuildMethod: makefile); the layer's python/ tree."""
    _run(
        ["make", "-C", str(layer_dir), "build-SharedLayer", f"ARTIFACTS_DIR={artifacts}"],
        "make build-SharedLayer (pip install -r requirements.txt, copy, compileall)",
        timeout=PIP_TIMEOUT_S,
        cwd=ROOT,
        env=_build_env(),
    )
    return artifacts / "python"


def pinned(name: str) -> str:
    """The version constraints.txt locks ``name`` at, whatever its spelling (PEP 503)."""
    for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==(\S+)", line.strip())
        if match and canonical(match.group(1)) == canonical(name):
            return match.group(2)
    raise AssertionError(f"{name} is not pinned in {CONSTRAINTS}")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def relative_files(root: Path, pattern: str) -> set[Path]:
    return {path.relative_to(root) for path in root.rglob(pattern)}


def top_level_imports(source: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"), str(source))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def assert_bytecode_only_of_shipped_sources(package: Path) -> None:
    """Every .pyc is compileall's, of a source the layer ships: none left over from the tree."""
    for pyc in package.rglob("*.py[co]"):
        where = pyc.relative_to(package)
        assert pyc.parent.name == "__pycache__", f"sourceless bytecode beside the sources: {where}"
        source = pyc.parent.parent / (pyc.name.split(".")[0] + ".py")
        assert source.is_file(), f"bytecode of no shipped source: {where}"
    for source in package.rglob("*.py"):
        compiled = list((source.parent / "__pycache__").glob(f"{source.stem}.*.pyc"))
        assert compiled, f"no bytecode for {source.relative_to(package)}: compileall did not run"


# ----------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built layer's python/ directory (Lambda's /opt/python)."""
    return _once(tmp_path_factory, "layer", lambda d: build_layer(LAYER_DIR, d)) / "python"


@pytest.fixture(scope="module")
def runtime_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv's python, with boto3 and botocore at their pinned versions only."""

    def create(directory: Path) -> None:
        venv = directory / "venv"
        _run([sys.executable, "-m", "venv", str(venv)], "python -m venv", timeout=120)
        pip = [str(venv / "bin" / "python"), "-m", "pip"]
        _run(
            [*pip, "install", "--quiet", "-c", str(CONSTRAINTS), "boto3"],
            "pip install -c constraints.txt boto3 into the fresh virtualenv",
            timeout=PIP_TIMEOUT_S,
            cwd=directory,
            env=_build_env(),
        )

    return _once(tmp_path_factory, "runtime", create) / "venv" / "bin" / "python"


@dataclass(frozen=True)
class Stack:
    endpoint: str
    queue_arn: str
    table: str
    environment: dict[str, str]  # the responder's, as template.yaml resolves it, minus Slack

    def client(self, service: str) -> Any:
        return boto3.session.Session(region_name=REGION).client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.endpoint,
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
        )


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """A moto server on loopback holding template.yaml's resources (the sandbox's provisioner)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        unprovisioned = Stack(endpoint, "", "", {})
        provisioned = provision(ROOT / "template.yaml", unprovisioned.client, stack_name="layer")
        environment = {
            name: value
            for name, value in provisioned.functions["ResponderFunction"].environment.items()
            if not name.startswith("SLACK_")
        }
        yield Stack(
            endpoint,
            provisioned.arn("LeakQueue"),
            provisioned.name("IncidentsTable"),
            environment,
        )
    finally:
        server.stop()


def run_driver(
    python: Path,
    layer: Path,
    workdir: Path,
    request: dict[str, Any],
    environment: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run DRIVER in the runtime virtualenv with the layer as Lambda mounts it; its result."""
    (workdir / "driver.py").write_text(DRIVER, encoding="utf-8")
    (workdir / "request.json").write_text(json.dumps(request), encoding="utf-8")
    # Built from nothing, so no variable of the developer's shell (AWS_PROFILE, PYTHONPATH, a
    # Slack token) reaches the handler, and no ~/.aws file either.
    env = {
        "PATH": os.defpath,
        "HOME": str(workdir),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(layer),
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",  # Lambda's file system is read-only
        "AWS_CONFIG_FILE": str(workdir / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(workdir / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        **FAKE_CREDENTIALS,
        **(environment or {}),
    }
    done = subprocess.run(
        [str(python), str(workdir / "driver.py"), str(workdir / "request.json")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=workdir,
        env=env,
    )
    output = f"--- stdout\n{done.stdout[-6000:]}\n--- stderr\n{done.stderr[-6000:]}"
    if done.returncode != 0:
        pytest.fail(f"the driver failed in the runtime virtualenv\n{output}", pytrace=False)
    marked = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if not marked:
        pytest.fail(f"the driver printed no result\n{output}", pytrace=False)
    result: dict[str, Any] = json.loads(marked[-1].removeprefix(RESULT_MARK))
    return result


def functions(*names: str) -> dict[str, str]:
    return {name: str(FUNCTIONS / name) for name in names}


def health_event(key_id: str, user: str, queue_arn: str) -> dict[str, Any]:
    """One SQS record carrying AWS Health's credentials-exposed event for ``key_id``."""
    return sqs_event([json.dumps(events.health_event(key_id, user, HOME))], queue_arn)


# -------------------------------------------------------------------------------------- tests


def test_layer_holds_no_local_tooling(layer: Path) -> None:
    shipped = [path.relative_to(layer) for path in layer.rglob("*")]
    tooling = [
        path
        for path in shipped
        if any(
            part.split(".")[0].split("-")[0].lower() in TOOLING_DISTRIBUTIONS + TOOLING
            for part in path.parts
        )
    ]
    assert tooling == [], f"local tooling in the layer: {tooling}"
    importers = {
        str(source.relative_to(layer)): sorted(found)
        for source in layer.joinpath("leak_responder").rglob("*.py")
        if (found := top_level_imports(source) & set(TOOLING))
    }
    assert importers == {}, f"layer modules importing local tooling: {importers}"


def test_every_distribution_in_the_layer_is_pinned_at_the_locked_version(layer: Path) -> None:
    shipped = {}
    for info in layer.glob("*.dist-info"):
        name, _, version = info.name.removesuffix(".dist-info").partition("-")
        shipped[name] = version
    assert shipped, "the layer holds no distributions"
    assert {name: pinned(name) for name in shipped} == shipped


def test_layer_ships_the_source_package_and_its_fresh_bytecode(layer: Path) -> None:
    package = layer / "leak_responder"
    built = relative_files(package, "*.py")
    source = relative_files(LAYER_SOURCE, "*.py")
    assert built - source == set(), "modules in the layer that layers/leak_responder lacks"
    assert source - built == set(), "modules of layers/leak_responder missing from the layer"
    assert_bytecode_only_of_shipped_sources(package)


def test_build_drops_bytecode_lying_in_the_developers_tree(tmp_path: Path) -> None:
    # A copy of layers/ (the real tree is left alone), with bytecode the tree may hold: of a
    # module since removed, and a sourceless .pyc beside the sources, which Python would import.
    layer_dir = tmp_path / "layers"
    layer_dir.mkdir()
    shutil.copy2(LAYER_DIR / "Makefile", layer_dir / "Makefile")
    shutil.copytree(LAYER_SOURCE, layer_dir / "leak_responder")
    # No dependencies: this is about the package's copy, not pip.
    (layer_dir / "requirements.txt").write_text("# none for this test\n", encoding="utf-8")
    stale_source = tmp_path / "gone.py"
    stale_source.write_text("import yaml\n", encoding="utf-8")
    planted = [
        layer_dir / "leak_responder" / "__pycache__" / "gone.cpython-311.pyc",
        layer_dir / "leak_responder" / "domain" / "__pycache__" / "gone.cpython-312.pyc",
        layer_dir / "leak_responder" / "gone.pyc",
    ]
    for pyc in planted:
        pyc.parent.mkdir(exist_ok=True)
        py_compile.compile(str(stale_source), cfile=str(pyc), doraise=True)

    package = build_layer(layer_dir, tmp_path / "artifacts") / "leak_responder"

    for pyc in planted:
        shipped = package / pyc.relative_to(layer_dir / "leak_responder")
        assert not shipped.exists(), f"the developer's bytecode was shipped: {shipped}"
    assert_bytecode_only_of_shipped_sources(package)


def test_handlers_import_from_the_layer_alone(
    layer: Path, runtime_python: Path, tmp_path: Path
) -> None:
    result = run_driver(runtime_python, layer, tmp_path, {"functions": functions(*HANDLERS)})

    assert result["tooling_after_import"] == []
    # Not merely unimported: absent from the runtime, so a handler that needed them would fail.
    assert result["tooling_importable"] == []
    assert set(result["handler_files"]) == set(HANDLERS)
    origins = result["origins"]
    for name in ("leak_responder", "aws_lambda_powertools"):
        assert Path(origins[name]).is_relative_to(layer), f"{name} not from the layer: {origins}"
    venv = Path(result["prefix"])
    assert venv == runtime_python.parent.parent
    for name in ("boto3", "botocore"):
        assert Path(origins[name]).is_relative_to(venv), f"{name} not the runtime's: {origins}"
        assert result["versions"][name] == pinned(name)


def test_responder_contains_a_key_from_the_layer_alone(
    layer: Path, runtime_python: Path, stack: Stack, tmp_path: Path
) -> None:
    iam = stack.client("iam")
    user = f"ci-deployer-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    key_id = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]

    result = run_driver(
        runtime_python,
        layer,
        tmp_path,
        {
            "functions": functions("responder"),
            "invoke": {
                "function": "responder",
                "function_name": "ResponderFunction",
                "timeout_s": 60,
                "event": health_event(key_id, user, stack.queue_arn),
            },
        },
        {**stack.environment, "AWS_ENDPOINT_URL": stack.endpoint},
    )

    assert result["response"] == {"batchItemFailures": []}
    assert result["tooling_after_import"] == []
    assert result["tooling_after_invoke"] == []
    keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    assert {k["AccessKeyId"]: k["Status"] for k in keys}[key_id] == "Inactive"
    item = stack.client("dynamodb").get_item(
        TableName=stack.table, Key={"pk": {"S": f"{HOME}#{key_id}"}}, ConsistentRead=True
    )
    assert "Item" in item, f"no incident recorded for {key_id}"
    assert item["Item"]["status"] == {"S": "contained"}
