"""Fault injection for the sandbox server: a WSGI layer in front of moto.

Tests (in the server's process) set `control.request_hook` to a function that sees every request
(`RequestInfo`: service, operation, whether it changes something, whether esmctl sent it) and may
answer it with an AWS-shaped error, drop the connection, or run it and then call back (e.g. to
SIGKILL the esmctl process right after a mutating call). Moto has no fault-injection API; this is
how the reliability suite injects throttling, 5xx, connection resets and kills.
"""

from __future__ import annotations

import io
import json
import re
import socket
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

MUTATING = re.compile(r"^(Create|Update|Delete|Put|Attach|Detach|Add|Remove|Tag|Untag|Start|Stop)")
_SCOPE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")


@dataclass(frozen=True)
class RequestInfo:
    service: str
    operation: str
    mutating: bool
    from_esmctl: bool


@dataclass(frozen=True)
class FaultError:
    """Answer with this AWS error instead of running the request."""

    status: int
    code: str
    message: str = "Injected by the esmctl sandbox"


RESET = "reset"  # drop the connection without an answer
Hook = Callable[[RequestInfo], "FaultError | str | Callable[[], None] | None"]


def _operation(environ: dict[str, Any], body: bytes) -> tuple[str, str]:
    auth = environ.get("HTTP_AUTHORIZATION", "")
    m = _SCOPE.search(auth)
    service = m.group(1) if m else ""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return service, target.rsplit(".", 1)[-1]
    if body and environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        action = parse_qs(body.decode(errors="replace")).get("Action", [""])[0]
        if action:
            return service, action
    method = environ.get("REQUEST_METHOD", "GET")
    verb = {"POST": "Create", "PUT": "Update", "DELETE": "Delete", "PATCH": "Update"}.get(method, "Get")
    path = environ.get("PATH_INFO", "/").strip("/").split("/")
    if service == "sagemaker" and path and path[0] == "endpoints":  # sagemaker-runtime
        return "sagemaker-runtime", "InvokeEndpoint"
    return service, verb + (path[0].rstrip("s").title() if path and path[0] else "")


def _error_response(environ: dict[str, Any], fault: FaultError) -> tuple[str, list[tuple[str, str]], bytes]:
    status = f"{fault.status} Injected"
    if environ.get("HTTP_X_AMZ_TARGET") or environ.get("CONTENT_TYPE", "").startswith("application/json"):
        body = json.dumps({"__type": fault.code, "message": fault.message}).encode()
        return status, [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", fault.code)], body
    xml = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{fault.code}</Code><Message>{fault.message}"
           f"</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>")
    return status, [("Content-Type", "text/xml")], xml.encode()


class FaultMiddleware:
    def __init__(self, app: Callable[..., Iterable[bytes]], hook: Callable[[], Hook | None]) -> None:
        self.app = app
        self.hook = hook

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        hook = self.hook()
        if hook is None:
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        service, op = _operation(environ, body)
        info = RequestInfo(service, op, bool(MUTATING.match(op)), "esmctl/" in environ.get("HTTP_USER_AGENT", ""))
        decision = hook(info)
        if decision is None:
            return self.app(environ, start_response)
        if isinstance(decision, FaultError):
            status, headers, out = _error_response(environ, decision)
            start_response(status, [*headers, ("Content-Length", str(len(out)))])
            return [out]
        if decision == RESET:
            sock = environ.get("werkzeug.socket")
            if isinstance(sock, socket.socket):
                sock.shutdown(socket.SHUT_RDWR)
            start_response("500 Reset", [("Content-Length", "0")])
            return [b""]
        assert callable(decision)
        captured: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured[:] = [status, headers]
            return lambda _data: None

        out = b"".join(self.app(environ, capture))
        decision()  # e.g. SIGKILL the client: the call was made, its answer never arrives
        start_response(captured[0], captured[1])
        return [out]
