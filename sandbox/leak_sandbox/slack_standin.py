"""A local stand-in for the Slack Web API: a real HTTP server on loopback that records every call.

It speaks the methods leak-responder uses (``chat.postMessage``, ``chat.update``,
``conversations.open``, ``users.lookupByEmail``, ``auth.test``) closely enough that
``slack_sdk.WebClient(base_url=standin.api_url)`` works against it unchanged, and it records
POSTs to ``/_response/<anything>`` (use that as a ``response_url``) as method ``response_url``.

Control endpoints (not part of Slack):

- ``GET /_calls``: the recorded calls, ``[{"method": ..., "params": {...}}]`` in call order.
  Only calls that were answered normally are recorded; injected failures are listed separately
  under ``GET /_failures``.
- ``POST /_fail`` ``{"method": "chat.postMessage", "status": 429, "times": 2, "retry_after": 0}``:
  answer the next ``times`` calls of ``method`` with that HTTP status. An optional ``"after": n``
  lets the next ``n`` calls of ``method`` through first (to fail, say, only the second post).
- ``POST /_reset``: forget calls, failures and messages.

``latency`` (seconds, or a function of the method name returning seconds) delays the answer to
every Web API call, as the real API takes time to answer; 0 (the default) answers at once.

Tokens are required (as ``Authorization: Bearer ...`` or a ``token`` parameter) but never
recorded. Run it with ``python -m leak_sandbox.slack_standin --ready-file PATH``.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

DEFAULT_TEAM_ID = "T0SANDBOX1"
BOT_USER_ID = "U0LEAKBOT1"
BOT_ID = "B0LEAKBOT1"

# Slack's documented limits, checked so that a message Slack would reject fails here too.
_MAX_BLOCKS = 50
_MAX_SECTION_TEXT = 3000
_MAX_HEADER_TEXT = 150
_MAX_BUTTON_TEXT = 75
_MAX_BUTTON_VALUE = 2000
_MAX_FALLBACK_TEXT = 40000


def stable_id(prefix: str, seed: str) -> str:
    """A Slack-shaped ID that is the same for the same seed, in every run."""
    digest = hashlib.sha256(seed.strip().lower().encode()).hexdigest().upper()
    return prefix + digest[:10]


def user_id_for_email(email: str) -> str:
    """The user ID the stand-in answers ``users.lookupByEmail`` with for ``email``."""
    return stable_id("U", "email:" + email)


def dm_channel_for(user_id: str) -> str:
    return stable_id("D", "dm:" + user_id)


def channel_id_for(name: str) -> str:
    return stable_id("C", "channel:" + name.lstrip("#"))


@dataclass
class _Failure:
    status: int
    times: int
    retry_after: int
    after: int = 0  # calls of the method answered normally before the failures start


class SlackStandIn:
    """The server and its recorded state. Thread-safe: handlers run on a thread per request."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        team_id: str = DEFAULT_TEAM_ID,
        unknown_emails: Iterable[str] = (),
        latency: float | Callable[[str], float] = 0.0,
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the Slack stand-in listens on loopback only")
        self.host = host
        self.requested_port = port
        self.team_id = team_id
        self.unknown_emails = {e.lower() for e in unknown_emails}
        self.latency = latency
        self._lock = threading.Lock()
        self._calls: list[dict[str, Any]] = []
        self._failed: list[dict[str, Any]] = []
        self._failures: dict[str, _Failure] = {}
        self._messages: dict[tuple[str, str], dict[str, Any]] = {}
        self._seq = itertools.count(1)
        self._last_ts = 0.0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> SlackStandIn:
        if self._server is not None:
            return self
        server = ThreadingHTTPServer((self.host, self.requested_port), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        # A short poll interval makes stop() quick; the server is idle between requests anyway.
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="slack-standin",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SlackStandIn:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the Slack stand-in is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def api_url(self) -> str:
        """What to pass as ``WebClient(base_url=...)``."""
        return self.base_url + "api/"

    @property
    def calls_url(self) -> str:
        return self.base_url + "_calls"

    def response_url(self, name: str = "interaction") -> str:
        return f"{self.base_url}_response/{name}"

    # -- the Python control API ----------------------------------------------------------------
    def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            calls = [json.loads(json.dumps(c)) for c in self._calls]
        return [c for c in calls if method is None or c["method"] == method]

    def failed_calls(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._failed)

    def fail_next(
        self, method: str, status: int, times: int = 1, retry_after: int = 0, after: int = 0
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with HTTP ``status`` (429 or 5xx), after
        letting ``after`` calls of it through normally."""
        if status < 400 or times < 0 or after < 0:
            raise ValueError("status must be an HTTP error, times and after non-negative")
        with self._lock:
            self._failures[method] = _Failure(status, times, retry_after, after)

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """The current state of a posted message (after any chat.update)."""
        with self._lock:
            found = self._messages.get((channel, ts))
            return json.loads(json.dumps(found)) if found is not None else None

    def reset(self, *, messages: bool = True) -> None:
        """Forget calls and pending failures; ``messages=False`` keeps posted messages
        updatable (to clear the record between the steps of one scenario)."""
        with self._lock:
            self._calls.clear()
            self._failed.clear()
            self._failures.clear()
            if messages:
                self._messages.clear()

    # -- request handling (called from handler threads) ---------------------------------------
    def _delay(self, method: str) -> None:
        """Wait as long as ``latency`` says this call of ``method`` takes."""
        seconds = self.latency(method) if callable(self.latency) else self.latency
        if seconds > 0:
            time.sleep(seconds)

    def _take_failure(self, method: str) -> _Failure | None:
        with self._lock:
            failure = self._failures.get(method)
            if failure is None or failure.times <= 0:
                return None
            if failure.after > 0:
                failure.after -= 1
                return None
            failure.times -= 1
            self._failed.append({"method": method, "status": failure.status})
            return failure

    def _record(self, method: str, params: dict[str, Any]) -> None:
        with self._lock:
            self._calls.append({"method": method, "params": params})

    def _next_ts(self) -> str:
        with self._lock:
            # Strictly increasing, like Slack's per-channel message timestamps.
            candidate = max(time.time(), self._last_ts + 0.000001)
            self._last_ts = candidate
            n = next(self._seq)
        return f"{int(candidate)}.{n % 1_000_000:06d}"

    def api(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Answer one Web API call. ``params`` has already lost its token."""
        handler = _METHODS.get(method)
        if handler is None:
            return {"ok": False, "error": "unknown_method"}
        return handler(self, params)

    def _post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel") or "")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        blocks = _blocks(params.get("blocks"))
        if blocks is None:
            return {"ok": False, "error": "invalid_blocks"}
        text = params.get("text")
        if not text and not blocks:
            return {"ok": False, "error": "no_text"}
        if text and len(str(text)) > _MAX_FALLBACK_TEXT:
            return {"ok": False, "error": "msg_too_long"}
        channel_id = _resolve_channel(channel)
        ts = self._next_ts()
        message: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "text": text or "",
            "blocks": blocks,
            "ts": ts,
            "team": self.team_id,
        }
        if params.get("thread_ts"):
            message["thread_ts"] = str(params["thread_ts"])
        with self._lock:
            self._messages[(channel_id, ts)] = message
        return {"ok": True, "channel": channel_id, "ts": ts, "message": message}

    def _update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel") or "")
        ts = str(params.get("ts") or "")
        blocks = _blocks(params.get("blocks"))
        if blocks is None:
            return {"ok": False, "error": "invalid_blocks"}
        with self._lock:
            message = self._messages.get((channel, ts))
            if message is None:
                return {"ok": False, "error": "message_not_found"}
            if "text" in params:
                message["text"] = params["text"] or ""
            if "blocks" in params:
                message["blocks"] = blocks
            message["edited"] = {"user": BOT_USER_ID, "ts": ts}
            snapshot = json.loads(json.dumps(message))
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "text": snapshot["text"],
            "message": snapshot,
        }

    def _open(self, params: dict[str, Any]) -> dict[str, Any]:
        users = [u.strip() for u in str(params.get("users") or "").split(",") if u.strip()]
        if not users:
            if params.get("channel"):
                return {"ok": True, "channel": {"id": str(params["channel"])}}
            return {"ok": False, "error": "users_list_not_supplied"}
        if len(users) == 1:
            channel = dm_channel_for(users[0])
        else:
            channel = stable_id("G", "mpim:" + ",".join(sorted(users)))
        return {"ok": True, "no_op": False, "already_open": False, "channel": {"id": channel}}

    def _lookup(self, params: dict[str, Any]) -> dict[str, Any]:
        email = str(params.get("email") or "").strip()
        if not email or "@" not in email or email.lower() in self.unknown_emails:
            return {"ok": False, "error": "users_not_found"}
        user_id = user_id_for_email(email)
        name = email.split("@", 1)[0]
        return {
            "ok": True,
            "user": {
                "id": user_id,
                "team_id": self.team_id,
                "name": name,
                "real_name": name,
                "deleted": False,
                "is_bot": False,
                "profile": {"email": email, "display_name": name, "real_name": name},
            },
        }

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://sandbox.slack.invalid/",
            "team": "leak-responder sandbox",
            "user": "leak-responder",
            "team_id": self.team_id,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }


_METHODS: dict[str, Callable[[SlackStandIn, dict[str, Any]], dict[str, Any]]] = {
    "chat.postMessage": SlackStandIn._post_message,
    "chat.update": SlackStandIn._update,
    "conversations.open": SlackStandIn._open,
    "users.lookupByEmail": SlackStandIn._lookup,
    "auth.test": SlackStandIn._auth_test,
}


def _resolve_channel(channel: str) -> str:
    """Posting to a user ID lands in the DM with that user; a ``#name`` has a stable C id."""
    if channel[:1] in ("U", "W") and channel.isalnum():
        return dm_channel_for(channel)
    if channel.startswith("#") or not channel.isalnum():
        return channel_id_for(channel)
    return channel


def _blocks(raw: object) -> list[dict[str, Any]] | None:
    """Blocks as a list, from JSON or a form field; None when Slack would say invalid_blocks."""
    if raw is None or raw == "":
        return []
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None
    if not isinstance(raw, list) or len(raw) > _MAX_BLOCKS:
        return None
    for block in raw:
        if not isinstance(block, dict) or not _valid_block(block):
            return None
    return raw


def _text_of(obj: object) -> str:
    return str(obj.get("text", "")) if isinstance(obj, dict) else ""


def _valid_block(block: dict[str, Any]) -> bool:
    kind = block.get("type")
    if kind == "header":
        return 0 < len(_text_of(block.get("text"))) <= _MAX_HEADER_TEXT
    if kind == "section":
        text = block.get("text")
        fields = block.get("fields") or []
        if text is None and not fields:
            return False
        if text is not None and not 0 < len(_text_of(text)) <= _MAX_SECTION_TEXT:
            return False
        return len(fields) <= 10 and all(0 < len(_text_of(f)) <= 2000 for f in fields)
    if kind == "actions":
        elements = block.get("elements") or []
        if not 0 < len(elements) <= 25:
            return False
        return all(_valid_button(e) for e in elements)
    if kind == "context":
        return 0 < len(block.get("elements") or []) <= 10
    return kind in ("divider", "image", "rich_text", "input", "file", "video")


def _valid_button(element: object) -> bool:
    if not isinstance(element, dict) or element.get("type") != "button":
        return isinstance(element, dict)
    if not 0 < len(_text_of(element.get("text"))) <= _MAX_BUTTON_TEXT:
        return False
    if len(str(element.get("value", ""))) > _MAX_BUTTON_VALUE:
        return False
    return element.get("style") in (None, "primary", "danger")


def _handler_for(standin: SlackStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "slack-standin/1"
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            # Quiet: the recorded calls are the log, and request lines would carry query strings.
            return

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path == "/_calls":
                self._json(200, standin.calls())
            elif path == "/_failures":
                self._json(200, standin.failed_calls())
            elif path == "/_health":
                self._json(200, {"ok": True})
            elif path.startswith("/api/"):
                self._api(path[len("/api/") :], self._params(b""))
            else:
                self._json(404, {"ok": False, "error": "not_found"})

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            body = self._body()
            if path.startswith("/api/"):
                self._api(path[len("/api/") :], self._params(body))
            elif path.startswith("/_response/"):
                self._response_url(path, body)
            elif path == "/_fail":
                self._fail(body)
            elif path == "/_reset":
                standin.reset()
                self._json(200, {"ok": True})
            else:
                self._json(404, {"ok": False, "error": "not_found"})

        # -- helpers -------------------------------------------------------------------------
        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length > 0 else b""

        def _params(self, body: bytes) -> dict[str, Any]:
            params: dict[str, Any] = dict(parse_qsl(urlsplit(self.path).query))
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if body:
                if ctype == "application/json":
                    try:
                        parsed = json.loads(body)
                    except ValueError:
                        parsed = None
                    if isinstance(parsed, dict):
                        params.update(parsed)
                    else:
                        params["__invalid_json__"] = True
                else:
                    params.update(parse_qsl(body.decode("utf-8", "replace")))
            return params

        def _api(self, method: str, params: dict[str, Any]) -> None:
            auth = self.headers.get("Authorization") or ""
            token = params.pop("token", None)
            has_token = auth.startswith("Bearer ") and len(auth) > len("Bearer ")
            if not has_token and not token:
                self._json(200, {"ok": False, "error": "not_authed"})
                return
            if params.pop("__invalid_json__", False):
                self._json(200, {"ok": False, "error": "invalid_json"})
                return
            standin._delay(method)
            failure = standin._take_failure(method)
            if failure is not None:
                self._failure(failure)
                return
            answer = standin.api(method, params)
            if answer.get("ok"):
                standin._record(method, params)
            self._json(200, answer)

        def _response_url(self, path: str, body: bytes) -> None:
            failure = standin._take_failure("response_url")
            if failure is not None:
                self._failure(failure)
                return
            try:
                params = json.loads(body) if body else {}
            except ValueError:
                self._text(400, "invalid_payload")
                return
            if not isinstance(params, dict):
                params = {"payload": params}
            params.setdefault("_path", path[len("/_response/") :])
            standin._record("response_url", params)
            self._text(200, "ok")

        def _fail(self, body: bytes) -> None:
            try:
                spec = json.loads(body)
                standin.fail_next(
                    str(spec["method"]),
                    int(spec.get("status", 500)),
                    int(spec.get("times", 1)),
                    int(spec.get("retry_after", 0)),
                    int(spec.get("after", 0)),
                )
            except (ValueError, KeyError, TypeError):
                self._json(400, {"ok": False, "error": "invalid_arguments"})
                return
            self._json(200, {"ok": True})

        def _failure(self, failure: _Failure) -> None:
            headers = {}
            error = "internal_error"
            if failure.status == 429:
                headers["Retry-After"] = str(failure.retry_after)
                error = "ratelimited"
            elif failure.status == 503:
                error = "service_unavailable"
            self._json(failure.status, {"ok": False, "error": error}, headers)

        def _json(self, status: int, obj: object, headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(obj).encode(), "application/json; charset=utf-8", headers)

        def _text(self, status: int, text: str) -> None:
            self._send(status, text.encode(), "text/plain; charset=utf-8", None)

        def _send(
            self, status: int, data: bytes, ctype: str, headers: dict[str, str] | None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="slack-standin", description="Local Slack Web API stand-in."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--team-id", default=DEFAULT_TEAM_ID)
    parser.add_argument("--unknown-email", action="append", default=[])
    parser.add_argument("--ready-file", type=Path)
    args = parser.parse_args(argv)

    standin = SlackStandIn(
        args.host, args.port, team_id=args.team_id, unknown_emails=args.unknown_email
    ).start()
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    ready = {
        "slack_api_url": standin.api_url,
        "slack_calls_url": standin.calls_url,
        "team_id": standin.team_id,
    }
    if args.ready_file:
        tmp = args.ready_file.with_suffix(args.ready_file.suffix + ".tmp")
        tmp.write_text(json.dumps(ready))
        tmp.replace(args.ready_file)
    print(json.dumps(ready), flush=True)
    try:
        stop.wait()
    finally:
        standin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
