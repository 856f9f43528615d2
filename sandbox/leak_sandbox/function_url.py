"""A Lambda Function URL on loopback: real HTTP in, payload v2 event to the handler, HTTP out.

It does what the Function URL in front of the approval function does: any method and path,
headers lower-cased, a body that is not text passed base64-encoded (Slack's form POSTs arrive
this way), and the handler's ``{"statusCode", "headers", "body", "isBase64Encoded"}`` turned back
into an HTTP response. A handler that raises is a 502, as Lambda answers.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from leak_sandbox.lambda_local import Handler, LocalContext

log = logging.getLogger("leak_sandbox.approval")

_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript")


def function_url_event(
    method: str,
    raw_path: str,
    headers: dict[str, str],
    body: bytes,
    *,
    source_ip: str = "127.0.0.1",
    domain: str = "127.0.0.1",
    account_id: str = "anonymous",
) -> dict[str, Any]:
    """The payload v2 event a Function URL builds for one HTTP request."""
    path, _, query = raw_path.partition("?")
    lowered = {k.lower(): v for k, v in headers.items()}
    content_type = lowered.get("content-type", "").lower()
    is_text = any(content_type.startswith(t) for t in _TEXT_TYPES)
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path or "/",
        "rawQueryString": query,
        "headers": lowered,
        "requestContext": {
            "accountId": account_id,
            "apiId": "sandbox",
            "domainName": domain,
            "domainPrefix": domain.split(".")[0],
            "http": {
                "method": method,
                "path": path or "/",
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": bool(body) and not is_text,
    }
    if query:
        event["queryStringParameters"] = dict(parse_qsl(query, keep_blank_values=True))
    if body:
        event["body"] = base64.b64encode(body).decode() if not is_text else body.decode()
    return event


class FunctionUrlServer:
    """Serves ``handler`` on ``http://127.0.0.1:<port>/``."""

    def __init__(
        self,
        handler: Handler,
        context_factory: Callable[[], LocalContext],
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the sandbox's function URL listens on loopback only")
        self.handler = handler
        self.context_factory = context_factory
        self._server = ThreadingHTTPServer((host, port), _request_handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def start(self) -> FunctionUrlServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="function-url", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def invoke(self, event: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        try:
            result = self.handler(event, self.context_factory())
        except Exception:
            log.exception("approval handler raised")
            return 502, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}'
        return _http_response(result)


def _http_response(result: Any) -> tuple[int, dict[str, str], bytes]:
    if not isinstance(result, dict) or "statusCode" not in result:
        # A Function URL serialises any other return value as a JSON 200.
        return 200, {"content-type": "application/json"}, json.dumps(result).encode()
    headers = {str(k).lower(): str(v) for k, v in (result.get("headers") or {}).items()}
    body = result.get("body") or ""
    if isinstance(body, (dict, list)):
        data = json.dumps(body).encode()
    elif result.get("isBase64Encoded"):
        data = base64.b64decode(str(body))
    else:
        data = str(body).encode()
    return int(result["statusCode"]), headers, data


def _request_handler(owner: FunctionUrlServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "sandbox-function-url/1"
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return  # request lines are not worth a log line here, and bodies are never logged

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            host = (self.headers.get("Host") or "127.0.0.1").split(":")[0]
            event = function_url_event(
                self.command,
                self.path,
                dict(self.headers.items()),
                body,
                source_ip=self.client_address[0],
                domain=host,
            )
            status, headers, data = owner.invoke(event)
            self.send_response(status)
            headers.setdefault("content-type", "application/json")
            for name, value in headers.items():
                if name not in ("content-length", "connection"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

        def do_HEAD(self) -> None:
            self.send_response(405)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler
