"""Start the whole system on loopback and say so in a ready file (docs/interfaces.md).

Order: moto server, Slack stand-in, the template's resources (through the provisioner), the
Slack credentials into the template's own secrets, the functions' environment from the
template, the approval Function URL, a queue worker per SQS event source of each function
(the leak queue and the scanner queue for the responder). The ready file is written last, after
each part has answered a request, and removed again on stop.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3

from leak_sandbox.function_url import FunctionUrlServer
from leak_sandbox.lambda_local import context_for, load_handler
from leak_sandbox.provisioner import (
    LocalFunction,
    Provisioned,
    ProvisioningError,
    provision,
)
from leak_sandbox.slack_standin import SlackStandIn, channel_id_for, stable_id
from leak_sandbox.template import find_template
from leak_sandbox.worker import QueueWorker

log = logging.getLogger("leak_sandbox")

REGION = "us-east-1"
STACK_NAME = "leak-responder"
LEAK_QUEUE = "LeakQueue"
SCANNER_QUEUE = "ScannerQueue"
DEAD_LETTER_QUEUE = "LeakDLQ"
INCIDENTS_TABLE = "IncidentsTable"
BOT_TOKEN_SECRET = "SlackBotTokenSecret"  # noqa: S105 (logical IDs, not secrets)
SIGNING_SECRET = "SlackSigningSecret"  # noqa: S105
SECURITY_CHANNEL_NAME = "security-alerts"
# Fake, but shaped like what boto3 expects; moto accepts anything.
_FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
_ENV_TO_CLEAR = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_CONFIG_FILE")


def _install_moto_patches() -> None:
    # EventBridge matches a field inside arrays of objects against every element; moto's own
    # _flatten_dict stops at the first array, so the Security Hub rule (a pattern on
    # detail.findings.Resources.Type) never fires. Checked still needed with moto 5.1.22, 5.2.0
    # and 5.2.5: that rule delivers tests/events/securityhub_access_key.json only with this
    # patch; hence pyproject's moto<5.3. test_event_routing's
    # test_moto_alone_misses_fields_inside_arrays fails once moto matches inside arrays itself.
    from moto.events.models import EventPattern

    from leak_sandbox.template import flatten_event

    setattr(EventPattern, "_flatten_dict", staticmethod(flatten_event))  # noqa: B010


@dataclass
class Sandbox:
    """The running system. Use as a context manager, or call start() and stop()."""

    template_path: Path = field(default_factory=find_template)
    region: str = REGION
    stack_name: str = STACK_NAME
    retry_delay: int = 1
    approvers: tuple[str, ...] = ()
    # Demo only: the real Slack Web API instead of the stand-in (the token never leaves memory
    # except into the moto secret, exactly as a deployment stores it).
    real_slack_token: str | None = field(default=None, repr=False)
    real_slack_channel: str | None = None

    def __post_init__(self) -> None:
        self.signing_secret = secrets.token_hex(32)
        if not self.approvers:
            self.approvers = (stable_id("U", "sandbox:security-approver"),)
        self.moto: Any = None
        self.standin: SlackStandIn | None = None
        self.provisioned: Provisioned | None = None
        self.function_urls: dict[str, FunctionUrlServer] = {}
        # One per SQS event source, keyed "<function>:<queue>" (logical IDs), as Lambda runs
        # one event source mapping per queue.
        self.workers: dict[str, QueueWorker] = {}
        self.endpoint = ""
        self._saved_env: dict[str, str | None] = {}
        self._ready_file: Path | None = None
        self._session: boto3.session.Session | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, ready_file: Path | None = None) -> Sandbox:
        if ready_file is not None:
            # A stale file from an earlier run must not be mistaken for this one being ready.
            ready_file.unlink(missing_ok=True)
        try:
            self._start_aws()
            self._start_slack()
            self._provision()
            self._store_slack_credentials()
            self._configure_functions()
            self._start_functions()
            self._check_ready()
        except BaseException:
            self.stop()
            raise
        if ready_file is not None:
            self._write_ready_file(ready_file)
        return self

    def stop(self) -> None:
        for worker in self.workers.values():
            worker.stop()
        self.workers.clear()
        for server in self.function_urls.values():
            server.stop()
        self.function_urls.clear()
        if self.standin is not None:
            self.standin.stop()
            self.standin = None
        if self.moto is not None:
            self.moto.stop()
            inner = getattr(self.moto, "_server", None)
            if inner is not None:
                inner.server_close()
            self.moto = None
        self._restore_env()
        if self._ready_file is not None:
            self._ready_file.unlink(missing_ok=True)
            self._ready_file = None

    # -- parts ----------------------------------------------------------------------------------
    def _start_aws(self) -> None:
        from moto.server import ThreadedMotoServer

        _install_moto_patches()
        # werkzeug logs a line per request at INFO; the sandbox's own log is what matters.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.moto.start()
        host, port = self.moto.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        # The handlers build their clients from the standard chain, exactly as in Lambda.
        self._set_env(
            {
                "AWS_ENDPOINT_URL": self.endpoint,
                "AWS_DEFAULT_REGION": self.region,
                "AWS_REGION": self.region,
                **_FAKE_CREDENTIALS,
            }
        )
        for name in _ENV_TO_CLEAR:
            self._set_env({name: None})
        self._session = boto3.session.Session(region_name=self.region)

    def _start_slack(self) -> None:
        if self.real_slack_token:
            return
        self.standin = SlackStandIn().start()

    def _provision(self) -> None:
        assert self._session is not None
        channel = self.real_slack_channel or channel_id_for(SECURITY_CHANNEL_NAME)
        parameters = {
            "Approvers": ",".join(self.approvers),
            "SlackSecurityChannel": channel,
            "SlackTeamId": self.standin.team_id if self.standin else "",
        }
        self.provisioned = provision(
            self.template_path, self._session, parameters, stack_name=self.stack_name
        )

    def _store_slack_credentials(self) -> None:
        # As an operator does after deploying (README): the real values replace the template's
        # placeholders in the template's own secrets.
        p = self._require()
        client = self.client("secretsmanager")
        token = self.real_slack_token or "xoxb-sandbox-" + secrets.token_hex(12)
        client.put_secret_value(SecretId=p.ref(BOT_TOKEN_SECRET), SecretString=token)
        client.put_secret_value(SecretId=p.ref(SIGNING_SECRET), SecretString=self.signing_secret)

    def _configure_functions(self) -> None:
        p = self._require()
        env: dict[str, str] = {}
        for function in p.functions.values():
            for name, value in function.environment.items():
                if name in env and env[name] != value:
                    # All handlers share this process's environment.
                    raise ProvisioningError(
                        f"{function.logical_id}: {name} differs between functions; the sandbox "
                        "runs them in one process and cannot give each its own value"
                    )
                env[name] = value
        if self.standin is not None:
            env["SLACK_API_URL"] = self.standin.api_url
        env.setdefault("POWERTOOLS_LOG_LEVEL", os.environ.get("POWERTOOLS_LOG_LEVEL", "INFO"))
        self._set_env(env)

    def _start_functions(self) -> None:
        p = self._require()
        queues_by_arn = {p.arn(lid): lid for lid in p.of_type("AWS::SQS::Queue")}
        for function in p.functions.values():
            sources = function.sqs_sources()
            if not sources and not function.function_url:
                continue  # scheduled functions (the reminder) run only when asked
            handler = load_handler(function)
            arn = p.arn(function.logical_id)
            if function.function_url:
                self.function_urls[function.logical_id] = FunctionUrlServer(
                    handler, _context_factory(function, arn)
                ).start()
            for source in sources:
                queue = queues_by_arn.get(str(source.get("Queue")))
                if queue is None:
                    raise ProvisioningError(
                        f"{function.logical_id}: SQS source {source.get('Queue')} is not a "
                        "queue of the template"
                    )
                key = f"{function.logical_id}:{queue}"
                if key in self.workers:
                    raise ProvisioningError(f"{function.logical_id}: two SQS sources on {queue}")
                self.workers[key] = QueueWorker(
                    self.client("sqs"),
                    p.url(queue),
                    p.arn(queue),
                    handler,
                    _context_factory(function, arn),
                    region=self.region,
                    batch_size=int(source.get("BatchSize") or 10),
                    retry_delay=self.retry_delay,
                    report_batch_item_failures="ReportBatchItemFailures"
                    in (source.get("FunctionResponseTypes") or []),
                ).start()

    def _check_ready(self) -> None:
        p = self._require()
        for queue in (LEAK_QUEUE, SCANNER_QUEUE):
            self.client("sqs").get_queue_url(QueueName=p.name(queue))
        if self.standin is not None:
            _http_status(self.standin.base_url + "_health")
        for server in self.function_urls.values():
            _http_status(server.url)  # any HTTP answer means it accepts requests
        for name, worker in self.workers.items():
            if not worker.alive:
                raise ProvisioningError(f"the worker for {name} did not start")

    # -- what callers see -----------------------------------------------------------------------
    def client(self, service: str) -> Any:
        assert self._session is not None
        return self._session.client(service, endpoint_url=self.endpoint)  # type: ignore[call-overload]

    @property
    def approval_url(self) -> str:
        return self.function_urls["ApprovalFunction"].url

    def ready_document(self) -> dict[str, Any]:
        p = self._require()
        doc: dict[str, Any] = {
            "aws_endpoint": self.endpoint,
            "region": self.region,
            "account_id": p.account_id,
            "queue_url": p.url(LEAK_QUEUE),
            # Where CI's leak-scan --report sends in a deployment (the ScannerQueueUrl output):
            # the one queue scanner principals may write to, read for scanner findings only.
            "scanner_queue_url": p.url(SCANNER_QUEUE),
            "slack_api_url": self.standin.api_url if self.standin else "https://slack.com/api/",
            "slack_calls_url": self.standin.calls_url if self.standin else None,
            "approval_url": self.approval_url,
            "signing_secret": self.signing_secret,
            "incidents_table": p.name(INCIDENTS_TABLE),
            "approvers": list(self.approvers),
            # Extensions beyond the contract.
            "dlq_url": p.url(DEAD_LETTER_QUEUE),
            "security_channel": p.parameters.get("SlackSecurityChannel"),
            "team_id": self.standin.team_id if self.standin else None,
            "stack_name": self.stack_name,
            "event_bus": "default",
            "rules": {lid: p.name(lid) for lid in p.of_type("AWS::Events::Rule")},
            "pid": os.getpid(),
        }
        return doc

    def _write_ready_file(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        # It holds the signing secret: readable by this user only.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(self.ready_document(), handle, indent=2)
        tmp.replace(path)
        self._ready_file = path

    # -- helpers --------------------------------------------------------------------------------
    def _require(self) -> Provisioned:
        if self.provisioned is None:
            raise ProvisioningError("the sandbox is not provisioned yet")
        return self.provisioned

    def _set_env(self, values: Mapping[str, str | None]) -> None:
        for name, value in values.items():
            if name not in self._saved_env:
                self._saved_env[name] = os.environ.get(name)
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def _restore_env(self) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()


def _context_factory(function: LocalFunction, arn: str) -> Any:
    return lambda: context_for(function, arn)


def _http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 (loopback URL)
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
