"""``make demo``: the whole story on the sandbox, with real components only.

1. IAM user alice (Slack and e-mail tags) gets an access key.
2. The key is committed to a temporary git repository, then removed in a later commit.
3. ``leak-scan --history --report SCANNER_QUEUE_URL`` (a subprocess) finds it and reports it to
   the scanner queue, the one queue a deployment lets CI's scanner roles write to.
4. The responder (the real handler, invoked by the sandbox's worker) contains it: key Inactive,
   replacement key, secret in Secrets Manager, a Slack DM.
5. A second leak, bob's key, arrives from AWS Health, twice, and from Trusted Advisor: one
   incident, one replacement, every sighting recorded.
6. alice clicks "Delete old key": a signed POST to the approval Function URL deletes the old key
   and updates the message; a forged click is refused.
7. A summary table per key.

Every step checks what it claims and the demo exits 1 at the first one that did not happen.
API calls before Inactive are counted with botocore's ``before-call`` hook on every session the
responder creates in this process.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from leak_sandbox.testkit import events, probes, slack

T = TypeVar("T")

STEP_TIMEOUT_S = 20.0
BURST_KEYS = 20
# Where the demo says bob's key was found.
EXPOSED_URL = "https://gist.github.com/example/5d41402abc4b2a76"


class DemoStepError(Exception):
    """A step of the story did not happen."""


# ------------------------------------------------------------------------- API call counting


@dataclass(frozen=True)
class ApiCall:
    at: float
    thread: str
    service: str
    operation: str
    key_id: str | None
    status: str | None


@dataclass
class ApiCallRecorder:
    """Records every AWS API call made in this process, through botocore's event hooks.

    boto3 creates a new botocore session per ``boto3.session.Session``; the responder makes its
    own, so the hook is registered on every session created while the recorder is installed.
    """

    calls: list[ApiCall] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _before_call(self, **kwargs: Any) -> None:
        model, params = kwargs["model"], kwargs["params"]
        # ``params`` is the serialised request; IAM's query protocol keeps the API's parameter
        # names in a dict body, which is all the attribution below needs.
        body = params.get("body")
        body = body if isinstance(body, dict) else {}
        call = ApiCall(
            at=time.time(),
            thread=threading.current_thread().name,
            service=str(model.service_model.service_name),
            operation=str(model.name),
            key_id=body.get("AccessKeyId"),
            status=body.get("Status"),
        )
        with self._lock:
            self.calls.append(call)

    @contextmanager
    def installed(self) -> Iterator[ApiCallRecorder]:
        import botocore.session

        original = botocore.session.get_session

        def get_session(env_vars: Any = None) -> Any:
            session = original(env_vars)
            session.register("before-call", self._before_call)
            return session

        botocore.session.get_session = get_session
        try:
            yield self
        finally:
            botocore.session.get_session = original

    def since(self, at: float) -> list[ApiCall]:
        """The calls made at or after ``at`` (``time.time()``), in order."""
        with self._lock:
            return [c for c in self.calls if c.at >= at]

    def calls_before_inactive(self, key_id: str) -> int | None:
        """Calls the responder made for a batch, from its receipt to UpdateAccessKey(Inactive)."""
        with self._lock:
            calls = list(self.calls)
        for index, call in enumerate(calls):
            if (
                call.operation == "UpdateAccessKey"
                and call.key_id == key_id
                and call.status == "Inactive"
            ):
                same_thread = [c for c in calls[: index + 1] if c.thread == call.thread]
                count = 0
                for earlier in reversed(same_thread):
                    if earlier.operation == "ReceiveMessage":
                        return count
                    count += 1
                return count
        return None


# ---------------------------------------------------------------------------------- output


class Timeline:
    def __init__(self, color: bool) -> None:
        self.started = time.monotonic()
        self.color = color

    def _c(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def step(self, number: int, title: str) -> None:
        print()
        print(self._c("1", f"[{self.elapsed()}] Step {number}. {title}"))

    def say(self, text: str) -> None:
        print(f"{' ' * 11}{text}")

    def ok(self, text: str) -> None:
        print(f"{' ' * 11}{self._c('32', '✔')} {text}")

    def fail(self, text: str) -> None:
        print(self._c("31", f"[{self.elapsed()}] FAILED: {text}"))

    def elapsed(self) -> str:
        return f"+{time.monotonic() - self.started:6.2f}s"

    def box(self, title: str, lines: list[str]) -> None:
        width = min(96, max([len(title) + 4, *(len(line) + 2 for line in lines)]))
        print(f"{' ' * 11}┌─ {title} " + "─" * max(0, width - len(title) - 3) + "┐")
        for line in lines:
            print(f"{' ' * 11}│ {line:<{width - 1}}│")
        print(f"{' ' * 11}└" + "─" * (width + 1) + "┘")


def _mrkdwn(text: str) -> str:
    text = re.sub(r"<([^|>]+)\|([^>]+)>", r"\2", text)
    text = re.sub(r"<([^>]+)>", r"\1", text)
    return text.replace("\\n", "\n")


def render_message(blocks: list[dict[str, Any]], width: int = 90) -> list[str]:
    """A Block Kit message as readable lines of text."""
    lines: list[str] = []

    def add(text: str, indent: str = "") -> None:
        for raw in _mrkdwn(text).splitlines() or [""]:
            while len(raw) > width:
                cut = raw.rfind(" ", 0, width)
                cut = cut if cut > 20 else width
                lines.append(indent + raw[:cut])
                raw = raw[cut:].lstrip()
            lines.append(indent + raw)

    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            add(str(block.get("text", {}).get("text", "")).upper())
        elif kind == "section":
            if block.get("text"):
                add(str(block["text"].get("text", "")))
            for item in block.get("fields") or []:
                label, _, value = str(item.get("text", "")).partition("\n")
                add(f"{label.strip('*')}: {value}", "  ")
        elif kind == "context":
            for element in block.get("elements") or []:
                add(str(element.get("text", "")), "  ")
        elif kind == "actions":
            buttons = [
                f"[ {e.get('text', {}).get('text', '?')} ]"
                for e in block.get("elements") or []
                if e.get("type") == "button"
            ]
            add("  ".join(buttons))
        elif kind == "divider":
            lines.append("-" * 20)
    return lines


# ----------------------------------------------------------------------------------- the story


def wait_for(what: str, check: Callable[[], T | None], timeout: float = STEP_TIMEOUT_S) -> T:
    return probes.wait_for(what, check, timeout, error=DemoStepError)


@dataclass
class KeyRow:
    user: str
    key_id: str
    incident: dict[str, Any] = field(default_factory=dict)
    calls: int | None = None


class Demo:
    def __init__(self, timeline: Timeline, recorder: ApiCallRecorder) -> None:
        from leak_sandbox.orchestrator import Sandbox
        from leak_sandbox.slack_standin import stable_id

        self.t = timeline
        self.recorder = recorder
        self.real_slack = bool(os.environ.get("SLACK_BOT_TOKEN"))
        self.alice_slack_id = (
            os.environ.get("SLACK_DEMO_USER_ID") if self.real_slack else stable_id("U", "alice")
        )
        self.sandbox = Sandbox(
            real_slack_token=os.environ.get("SLACK_BOT_TOKEN") or None,
            real_slack_channel=os.environ.get("SLACK_SECURITY_CHANNEL") or None,
        )
        self.rows: dict[str, KeyRow] = {}
        self.burst: tuple[int, float] | None = None
        self.workdir = Path(tempfile.mkdtemp(prefix="leak-responder-demo-"))

    # -- helpers ------------------------------------------------------------------------------
    def iam(self) -> Any:
        return self.sandbox.client("iam")

    def key_status(self, user: str, key_id: str) -> str:
        return probes.key_status(self.iam(), user, key_id)

    def incident(self, key_id: str) -> dict[str, Any] | None:
        doc = self.sandbox.ready_document()
        dynamodb = self.sandbox.client("dynamodb")
        return probes.incident_item(dynamodb, doc["incidents_table"], doc["account_id"], key_id)

    def incident_where(
        self, key_id: str, condition: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any] | None:
        found = self.incident(key_id)
        return found if found is not None and condition(found) else None

    def slack_calls(self) -> list[dict[str, Any]]:
        return self.sandbox.standin.calls() if self.sandbox.standin else []

    def show_containment(self, row: KeyRow) -> None:
        inc = wait_for(
            f"the incident of {row.key_id} to be notified",
            lambda: self.incident_where(row.key_id, lambda i: "notified" in i.get("steps", {})),
        )
        row.incident = inc
        status = self.key_status(row.user, row.key_id)
        if status != "Inactive":
            raise DemoStepError(f"{row.key_id} is {status}, not Inactive")
        self.t.ok(f"old key {row.key_id} is Inactive (IAM says so)")
        new_key = inc.get("new_key_id")
        if not new_key or self.key_status(row.user, new_key) != "Active":
            raise DemoStepError(f"no active replacement key for {row.user}")
        self.t.ok(f"replacement key {new_key} is Active (its secret is never shown)")
        secret_name = inc.get("secret_name")
        described = self.sandbox.client("secretsmanager").describe_secret(SecretId=secret_name)
        self.t.ok(f"secret stored in Secrets Manager: {described['Name']}")
        self.t.say(
            f"incident {inc['incident_id']}: status={inc['status']}, "
            f"steps: {', '.join(inc.get('steps', {}))}"
        )

    # -- steps --------------------------------------------------------------------------------
    def step0_start(self) -> None:
        self.t.step(0, "Start the sandbox (moto server from template.yaml, Slack, approval URL)")
        self.sandbox.start()
        p = self.sandbox.provisioned
        assert p is not None
        self.t.ok(f"moto at {self.sandbox.endpoint}: {len(p.types)} template resources")
        self.t.say(
            "rules: "
            + ", ".join(p.name(r) for r in p.of_type("AWS::Events::Rule")).replace(
                f"{self.sandbox.stack_name}-", ""
            )
        )
        where = "real Slack (SLACK_BOT_TOKEN)" if self.real_slack else "the Slack stand-in"
        self.t.ok(f"notices go to {where}; approval URL {self.sandbox.approval_url}")

    def step1_user(self) -> None:
        self.t.step(1, "Create IAM user alice, with Slack and e-mail tags, and an access key")
        tags = [{"Key": "email", "Value": "alice@example.com"}]
        if self.alice_slack_id:
            tags.append({"Key": "slack-user-id", "Value": self.alice_slack_id})
        self.iam().create_user(UserName="alice", Tags=tags)
        key = self.iam().create_access_key(UserName="alice")["AccessKey"]
        self.alice_secret = key["SecretAccessKey"]
        self.rows["alice"] = KeyRow("alice", key["AccessKeyId"])
        self.t.ok(f"alice has key {key['AccessKeyId']} (Active); tags: " + _tag_text(tags))

    def step2_commit(self) -> None:
        self.t.step(2, "Commit the key to a git repository, then remove it in a later commit")
        repo = self.workdir / "repo"
        repo.mkdir()
        git = _git(repo)
        git("init", "-q", "-b", "main")
        (repo / "config").mkdir()
        env_file = repo / "config" / "app.env"
        env_file.write_text(
            "APP_NAME=payments\n"
            f"AWS_ACCESS_KEY_ID={self.rows['alice'].key_id}\n"
            f"AWS_SECRET_ACCESS_KEY={self.alice_secret}\n"
        )
        git("add", ".")
        git("commit", "-q", "-m", "Add app config")
        env_file.write_text("APP_NAME=payments\n")
        git("commit", "-q", "-am", "Remove credentials")
        log = git("log", "--oneline").strip().splitlines()
        self.t.ok(f"repository {repo} ({len(log)} commits); the key is gone from HEAD:")
        for line in log:
            self.t.say(f"  {line}")
        self.repo = repo

    def step3_scan(self) -> None:
        self.t.step(
            3, "leak-scan --history --report SCANNER_QUEUE_URL finds it in history, reports it"
        )
        # As CI does in a deployment: the stack's ScannerQueueUrl output, the only queue its
        # scanner roles may write to.
        queue_url = self.sandbox.ready_document()["scanner_queue_url"]
        out = self.workdir / "findings.json"
        cmd = [
            sys.executable,
            "-m",
            "leak_scan",
            "--history",
            "--format",
            "json",
            "--output",
            str(out),
            "--no-progress",
            "--report",
            queue_url,
        ]
        self.t.say("$ leak-scan --history --format json --report " + queue_url)
        proc = subprocess.run(
            cmd, cwd=self.repo, capture_output=True, text=True, timeout=60, check=False
        )
        if proc.returncode != 1:
            raise DemoStepError(
                f"leak-scan exited {proc.returncode} (1 = findings expected): "
                f"{proc.stderr.strip()[-500:]}"
            )
        findings = json.loads(out.read_text())
        ours = [f for f in findings if f.get("key_id") == self.rows["alice"].key_id]
        if not ours:
            raise DemoStepError("leak-scan did not find alice's key")
        for f in ours:
            self.t.ok(
                f"found {f['key_id']} at {f['path']}:{f['line']} in commit "
                f"{str(f.get('commit'))[:12]} (secret present: {f['secret_present']})"
            )
        for line in proc.stderr.strip().splitlines()[-3:]:
            self.t.say(f"leak-scan: {line}")

    def step4_contained(self) -> None:
        self.t.step(4, "The responder contains alice's key")
        row = self.rows["alice"]
        wait_for(
            "alice's key to become Inactive",
            lambda: self.key_status("alice", row.key_id) == "Inactive",
        )
        self.show_containment(row)
        self.show_dm(row)

    def show_dm(self, row: KeyRow) -> None:
        inc = row.incident
        if self.real_slack:
            self.t.ok(
                f"Slack message posted to {inc.get('slack_channel')} at {inc.get('slack_ts')}"
            )
            return
        posts = [
            c
            for c in self.slack_calls()
            if c["method"] == "chat.postMessage" and row.key_id in json.dumps(c["params"])
        ]
        if not posts:
            raise DemoStepError(f"no Slack message about {row.key_id}")
        dm = posts[0]
        blocks = dm["params"].get("blocks")
        blocks = json.loads(blocks) if isinstance(blocks, str) else blocks or []
        self.t.box(f"Slack DM to {dm['params'].get('channel')}", render_message(blocks))
        copies = len(posts) - 1
        self.t.ok(f"DM sent, and {copies} copy to the security channel")
        if self.alice_secret in json.dumps(self.slack_calls()):
            raise DemoStepError("a secret value reached Slack")

    def step5_health(self) -> None:
        self.t.step(
            5, "A second leak: bob's key, from AWS Health (delivered twice) and Trusted Advisor"
        )
        self.iam().create_user(UserName="bob", Tags=[{"Key": "email", "Value": "bob@example.com"}])
        key_id = self.iam().create_access_key(UserName="bob")["AccessKey"]["AccessKeyId"]
        row = self.rows["bob"] = KeyRow("bob", key_id)
        self.t.ok(f"bob has key {key_id}; tagged with e-mail only (Slack lookup by e-mail)")
        account = self.sandbox.ready_document()["account_id"]
        health = events.put_events_entry(
            events.health_event(key_id, "bob", account, exposed_url=EXPOSED_URL)
        )
        advisor = events.put_events_entry(
            events.trusted_advisor_event(key_id, "bob", account, location=EXPOSED_URL)
        )
        bus = self.sandbox.client("events")
        for label, event in (
            ("Health", health),
            ("Health again", health),
            ("Trusted Advisor", advisor),
        ):
            answer = bus.put_events(Entries=[event])
            if answer.get("FailedEntryCount"):
                raise DemoStepError(f"put_events refused the {label} event: {answer}")
            self.t.say(f"put_events on the default bus: {label} ({event['Source']})")
        wait_for(
            "bob's key to become Inactive", lambda: self.key_status("bob", key_id) == "Inactive"
        )
        self.show_containment(row)
        inc = wait_for(
            "all three sightings of bob's key",
            lambda: self.incident_where(key_id, lambda i: int(i.get("sighting_count", 0)) >= 3),
        )
        row.incident = inc
        keys = self.iam().list_access_keys(UserName="bob")["AccessKeyMetadata"]
        sources = sorted({s["source"] for s in inc.get("sightings", [])})
        if len(keys) != 2:
            raise DemoStepError(f"bob has {len(keys)} keys; one replacement expected")
        self.t.ok(
            f"deduplicated: one incident, {int(inc['sighting_count'])} sightings from "
            f"{', '.join(sources)}; bob has exactly 2 keys (old Inactive, one replacement)"
        )
        self.show_dm(row)

    def step6_delete(self) -> None:
        from leak_responder.adapters.slack.messages import DELETE_ACTION_ID

        self.t.step(6, 'alice clicks "Delete old key" (a signed POST to the approval URL)')
        row = self.rows["alice"]
        inc = row.incident
        clicker = self.alice_slack_id or self.sandbox.approvers[0]
        body = slack.form_body(
            slack.click_payload(
                DELETE_ACTION_ID,
                inc["incident_id"],
                clicker,
                team_id=self.sandbox.standin.team_id if self.sandbox.standin else None,
                response_url=(
                    self.sandbox.standin.response_url("demo") if self.sandbox.standin else None
                ),
                channel=inc.get("slack_channel"),
                message_ts=inc.get("slack_ts"),
            )
        )
        url = self.sandbox.approval_url
        forged = _post(url, body, "0" * 64)
        if forged[0] != 401:
            raise DemoStepError(f"a forged click was answered {forged[0]}, not 401")
        self.t.ok("a click with a forged signature is refused: HTTP 401")
        status, answer = _post(url, body, self.sandbox.signing_secret)
        if status != 200:
            raise DemoStepError(f"the signed click was answered {status}: {answer}")
        self.t.ok(f"signed click accepted: HTTP {status}: {json.loads(answer).get('text')}")
        wait_for(
            "the old key to be deleted",
            lambda: self.key_status("alice", row.key_id) == "Deleted",
        )
        self.t.ok(f"old key {row.key_id} is deleted; {row.incident.get('new_key_id')} stays Active")
        if not self.real_slack:
            updates = wait_for(
                "the Slack message to be updated",
                lambda: [
                    c
                    for c in self.slack_calls()
                    if c["method"] == "chat.update" and c["params"].get("ts") == inc.get("slack_ts")
                ],
            )
            blocks = updates[-1]["params"].get("blocks")
            blocks = json.loads(blocks) if isinstance(blocks, str) else blocks or []
            if any(b.get("type") == "actions" for b in blocks):
                raise DemoStepError("the updated message still has buttons")
            self.t.box("Slack DM after the click (chat.update)", render_message(blocks))
        again = _post(url, body, self.sandbox.signing_secret)
        self.t.ok(f"the same click again changes nothing: HTTP {again[0]}")
        row.incident = self.incident(row.key_id) or row.incident

    def step7_burst(self) -> None:
        self.t.step(7, f"A burst: {BURST_KEYS} keys leak at once (a CI log pasted in public)")
        iam = self.iam()
        account = self.sandbox.ready_document()["account_id"]
        keys: dict[str, str] = {}
        for n in range(1, BURST_KEYS + 1):
            user = f"ci-bot-{n:02d}"
            iam.create_user(UserName=user)
            keys[user] = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
        self.t.ok(f"{BURST_KEYS} CI users, one key each")
        queue_url = self.sandbox.ready_document()["queue_url"]
        sqs = self.sandbox.client("sqs")
        bodies = [json.dumps(events.health_event(k, u, account)) for u, k in keys.items()]
        sent_at = time.time()
        for start in range(0, len(bodies), 10):
            # The same short delay for all: they become visible together, as in a real burst.
            sqs.send_message_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(i), "MessageBody": b, "DelaySeconds": 1}
                    for i, b in enumerate(bodies[start : start + 10])
                ],
            )
        self.t.say(f"{BURST_KEYS} AWS Health reports queued on the leak queue at once")
        for user, key_id in keys.items():
            wait_for(
                f"{user}'s incident to be notified",
                lambda k=key_id: self.incident_where(  # type: ignore[misc]
                    k, lambda i: "notified" in i.get("steps", {})
                ),
            )
        ours = set(keys.values())
        calls = self.recorder.since(sent_at)
        inactive = [
            c.at
            for c in calls
            if c.operation == "UpdateAccessKey" and c.status == "Inactive" and c.key_id in ours
        ]
        created = [c.at for c in calls if c.operation == "CreateAccessKey"]
        me = threading.current_thread().name  # the responder's sends are its workers'
        handed_on = sum(1 for c in calls if c.operation == "SendMessageBatch" and c.thread != me)
        if len(inactive) < BURST_KEYS or not created:
            raise DemoStepError("the burst's keys were not all deactivated and replaced")
        for user, key_id in keys.items():
            if self.key_status(user, key_id) != "Inactive":
                raise DemoStepError(f"{user}'s leaked key is not Inactive")
            if len(iam.list_access_keys(UserName=user)["AccessKeyMetadata"]) != 2:
                raise DemoStepError(f"{user} does not have exactly one replacement")
        last_inactive, first_created = max(inactive), min(created)
        self.t.ok(
            f"all {BURST_KEYS} keys Inactive {1000 * (last_inactive - sent_at):.0f} ms after "
            f"they were queued; the first replacement came {1000 * (first_created - sent_at):.0f} "
            "ms after"
        )
        if last_inactive > first_created:
            raise DemoStepError("a replacement was created before every key was Inactive")
        self.t.ok(
            "every key was Inactive before any replacement was created "
            f"(later steps went through the resume queue: {handed_on} sends, put-backs "
            "included); "
            f"each user has exactly one replacement"
        )
        self.burst = (BURST_KEYS, last_inactive - sent_at)

    def step8_summary(self) -> None:
        self.t.step(8, "Summary")
        header = (
            "key",
            "user",
            "source",
            "time to contain",
            "API calls before Inactive",
            "final state",
        )
        table = [header]
        for row in self.rows.values():
            inc = self.incident(row.key_id) or row.incident
            row.calls = self.recorder.calls_before_inactive(row.key_id)
            received, inactive = inc.get("first_received_at"), inc.get("deactivated_at")
            ttc = "-"
            if received and inactive:
                ms = (_parse(inactive) - _parse(received)).total_seconds() * 1000
                ttc = f"{ms:.0f} ms"
            sources = ", ".join(dict.fromkeys(s["source"] for s in inc.get("sightings", [])))
            state = f"{self.key_status(row.user, row.key_id)} ({inc.get('status')})"
            table.append(
                (
                    row.key_id,
                    row.user,
                    sources,
                    ttc,
                    str(row.calls if row.calls is not None else "?"),
                    state,
                )
            )
            if row.calls is None:
                raise DemoStepError(f"no UpdateAccessKey(Inactive) call recorded for {row.key_id}")
        widths = [max(len(r[i]) for r in table) for i in range(len(header))]
        for n, r in enumerate(table):
            print(" " * 11 + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
            if n == 0:
                print(" " * 11 + "-+-".join("-" * w for w in widths))
        self.t.say("")
        self.t.say(
            "time to contain: from the queue's receipt of the first report to UpdateAccessKey "
            "Inactive (incident record)."
        )
        self.t.say(
            "API calls: every AWS call the responder made for that message, up to and including "
            "UpdateAccessKey (botocore before-call hook)."
        )
        if self.burst:
            count, seconds = self.burst
            self.t.say(
                f"burst: {count} keys, all Inactive {seconds * 1000:.0f} ms after they were "
                "queued, before any replacement was made."
            )

    def run(self) -> None:
        steps = (
            self.step0_start,
            self.step1_user,
            self.step2_commit,
            self.step3_scan,
            self.step4_contained,
            self.step5_health,
            self.step6_delete,
            self.step7_burst,
            self.step8_summary,
        )
        try:
            for step in steps:
                step()
        finally:
            self.sandbox.stop()


# ------------------------------------------------------------------------------- utilities


def _tag_text(tags: list[dict[str, str]]) -> str:
    return ", ".join(f"{t['Key']}={t['Value']}" for t in tags)


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _git(repo: Path) -> Callable[..., str]:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Alice Example",
        "GIT_AUTHOR_EMAIL": "alice@example.com",
        "GIT_COMMITTER_NAME": "Alice Example",
        "GIT_COMMITTER_EMAIL": "alice@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }

    def git(*args: str) -> str:
        proc = subprocess.run(
            ["git", "-c", "commit.gpgsign=false", *args],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        if proc.returncode != 0:
            raise DemoStepError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout

    return git


def _post(url: str, body: bytes, signing_secret: str) -> tuple[int, str]:
    status, answer = slack.post_signed(url, body, signing_secret)
    return status, answer.decode()


def run_demo(color: bool = False) -> int:
    # The handlers' JSON logs and metrics would drown the timeline; warnings still show.
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    logging.getLogger("leak_responder").setLevel(logging.ERROR)
    timeline = Timeline(color)
    print("leak-responder demo: a leaked key, from a git commit to a deleted key")
    recorder = ApiCallRecorder()
    with recorder.installed():
        demo = Demo(timeline, recorder)
        try:
            demo.run()
        except DemoStepError as exc:
            timeline.fail(str(exc))
            return 1
    print()
    print(f"[{timeline.elapsed()}] Demo complete: every step happened.")
    return 0
