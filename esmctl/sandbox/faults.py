"""The sandbox server's WSGI layer in front of moto: new access keys, rate limits, fault injection.

Every request passes through `FaultMiddleware`, in this order (see docs/aws-behaviour.md):
1. `/moto-api/...` passes untouched.
2. A request signed with an access key made less than `control.key_propagation_seconds` ago is
   refused as AWS refuses a key it does not know yet: `InvalidClientTokenId` (query/XML services
   such as IAM and STS), `UnrecognizedClientException` (JSON services), `InvalidAccessKeyId` (S3),
   HTTP 403 ("Common Errors" in the AWS API references).
3. Control-plane rate limits (`control.rate_limits`): a token bucket per (service, operation), its
   rate by family; beyond it the service's throttling error, HTTP 400 (Scheduler's modelled
   ThrottlingException: 429) —
   codes botocore retries (botocore/retries/standard.py `ThrottledRetryableChecker`, and
   botocore/data/_retry.json). S3 and InvokeEndpoint (data plane) are never throttled.
4. `control.request_hook`: tests (in the server's process) see every request (`RequestInfo`:
   service, operation, whether it changes something, whether esmctl sent it) and may answer it
   with an AWS-shaped error, drop the connection, or run it and then call back (e.g. to SIGKILL
   the esmctl process right after a mutating call). Moto has no fault-injection API; this is how
   the reliability suite injects throttling, 5xx, connection resets and kills. `SeededFaults` is
   such a hook that injects faults at random, the same ones for the same seed whatever the order in
   which the server's threads serve the requests.
Steps 2 and 3 cost a dict look-up and a regex when nothing is pending; the body is read only for
query-protocol requests (their operation is in it) or when a hook is set. Plain Python: no moto.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from ._served import operation_of
from .control import SandboxControl, control

# API operations that change something (the "mutate" rate-limit family; `RequestInfo.mutating`):
# Application Auto Scaling's RegisterScalableTarget / DeregisterScalableTarget included.
MUTATING = re.compile(r"^(Create|Update|Delete|Put|Attach|Detach|Add|Remove|Tag|Untag|Start|Stop|Register|Deregister)")
# SigV4: "Credential=AKID/20250101/us-east-2/sagemaker/aws4_request" (header or presigned query).
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/[^/]+/([^/]+)/aws4_request")

INVALID_TOKEN_MESSAGE = "The security token included in the request is invalid."
RATE_EXCEEDED_MESSAGE = "Rate exceeded"
# Services whose JSON protocol is "awsQueryCompatible" (botocore service-2.json metadata): botocore
# takes their error code from the `x-amzn-query-error` header.
_QUERY_COMPATIBLE = frozenset({"monitoring", "sqs"})
# Signing name → (throttling error code, HTTP status). The default is ThrottlingException (JSON) or
# Throttling (query/XML), 400, as in the AWS API references' "Common Errors".
THROTTLING_ERRORS: dict[str, tuple[str, int]] = {
    "sagemaker": ("ThrottlingException", 400),
    "iam": ("Throttling", 400),
    "sts": ("Throttling", 400),
    "monitoring": ("Throttling", 400),  # CloudWatch (query-compatible)
    "secretsmanager": ("ThrottlingException", 400),
    "scheduler": ("ThrottlingException", 429),  # modelled in scheduler's service-2.json, httpStatusCode 429
    "servicequotas": ("TooManyRequestsException", 400),  # modelled in service-quotas' service-2.json
    # application-autoscaling: none modelled in its service-2.json; the JSON default, as its API
    # reference's "Common Errors" (ThrottlingException, 400).
}
UNTHROTTLED_SERVICES = frozenset({"s3", "sagemaker-runtime"})


@dataclass(frozen=True)
class RequestInfo:
    service: str
    operation: str
    mutating: bool
    from_esmctl: bool


@dataclass(frozen=True)
class FaultError:
    """Answer with this AWS error instead of running the request.

    `html=True` answers as a proxy or load balancer in front of AWS does: an HTML page with the
    status, which no AWS parser understands (botocore then reports the HTTP status as the code).
    """

    status: int
    code: str
    message: str = "Injected by the esmctl sandbox"
    html: bool = False


RESET = "reset"  # drop the connection without an answer
Hook = Callable[[RequestInfo], "FaultError | str | Callable[[], None] | None"]


class SeededFaults:
    """A `request_hook` that answers a share `rate` of the requests it picks (default: those esmctl
    sends) with one of `faults`, reproducibly.

    The sandbox server answers each request on its own thread, so a hook that draws from one shared
    RNG gives each request whatever number is next, which depends on how the threads interleave.
    Here the decision for a request depends only on (seed, service, operation, n), n counting that
    operation's requests from 0: the n-th CreateModel gets the same answer under the same seed,
    whichever thread sends it and whatever ran in between. `decisions` keeps, per (service,
    operation), the answer given to each request in order (None: passed through); `injected` lists
    the faults as "Operation#n:Code" in the order they happened.
    """

    def __init__(self, seed: int, rate: float, faults: list[FaultError | str],
                 pick: Callable[[RequestInfo], bool] = lambda req: req.from_esmctl) -> None:
        if not 0.0 <= rate <= 1.0 or not faults:
            raise ValueError("rate must be within [0, 1] and faults must not be empty")
        self.seed, self.rate, self.faults, self.pick = seed, rate, list(faults), pick
        self.decisions: dict[tuple[str, str], list[FaultError | str | None]] = {}
        self.injected: list[str] = []
        self._lock = threading.Lock()

    def decide(self, service: str, operation: str, n: int) -> FaultError | str | None:
        """The answer to the n-th `operation` request (pure: no state, no clock)."""
        digest = hashlib.sha256(f"{self.seed}\0{service}\0{operation}\0{n}".encode()).digest()
        if int.from_bytes(digest[:8], "big") / 2**64 >= self.rate:
            return None
        return self.faults[int.from_bytes(digest[8:16], "big") % len(self.faults)]

    def __call__(self, req: RequestInfo) -> FaultError | str | None:
        if not self.pick(req):
            return None
        with self._lock:
            seen = self.decisions.setdefault((req.service, req.operation), [])
            n = len(seen)
            fault = self.decide(req.service, req.operation, n)
            seen.append(fault)
            if fault is not None:
                self.injected.append(f"{req.operation}#{n}:{fault.code if isinstance(fault, FaultError) else fault}")
        return fault


# --------------------------------------------------------------------------------------------
# What a request is


def _text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value or "")


def credential_of(authorization: str, query: str = "") -> tuple[str, str]:
    """(access key id, signing service) of a SigV4 request; ("", "") when unsigned."""
    m = _CREDENTIAL.search(authorization)
    if m is None and "Credential=" in query:
        m = _CREDENTIAL.search(unquote(query))
    return (m.group(1), m.group(2)) if m else ("", "")


def protocol_of(headers: Mapping[str, Any], service: str, query: str = "") -> str:
    """The wire protocol of a request: "json" (json and rest-json), "query" or "rest-xml"."""
    content_type = _text(headers.get("Content-Type") or headers.get("CONTENT_TYPE"))
    if headers.get("X-Amz-Target") or "json" in content_type:
        return "json"
    if content_type.startswith("application/x-www-form-urlencoded") or "Action=" in query:
        return "query"
    if service == "s3":
        return "rest-xml"
    return "json"  # rest-json calls without a body (GET/DELETE), e.g. Scheduler's GetSchedule


def error_response(
    protocol: str, service: str, status: int, code: str, message: str, *, query_code: str | None = None
) -> tuple[int, list[tuple[str, str]], bytes]:
    """An AWS error as the service's protocol carries it: (HTTP status, headers, body)."""
    request_id = str(uuid.uuid4())
    if protocol == "json":
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code),
                   ("x-amzn-RequestId", request_id)]
        if service in _QUERY_COMPATIBLE:
            headers.append(("x-amzn-query-error", f"{query_code or code};Sender"))
        return status, headers, body
    if protocol == "rest-xml":
        xml = f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
        return status, [("Content-Type", "application/xml")], xml.encode()
    xml = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}"
           f"</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>")
    return status, [("Content-Type", "text/xml")], xml.encode()


def unknown_key_error(protocol: str, service: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """What AWS answers a request signed with an access key it does not know (yet)."""
    if protocol == "query":
        return error_response(protocol, service, 403, "InvalidClientTokenId", INVALID_TOKEN_MESSAGE)
    if protocol == "rest-xml":
        return error_response(protocol, service, 403, "InvalidAccessKeyId",
                              "The AWS Access Key Id you provided does not exist in our records.")
    return error_response(protocol, service, 403, "UnrecognizedClientException", INVALID_TOKEN_MESSAGE,
                          query_code="InvalidClientTokenId")


def throttling_error(protocol: str, service: str) -> tuple[int, list[tuple[str, str]], bytes]:
    default = ("Throttling", 400) if protocol == "query" else ("ThrottlingException", 400)
    code, status = THROTTLING_ERRORS.get(service, default)
    return error_response(protocol, service, status, code, RATE_EXCEEDED_MESSAGE, query_code="Throttling")


def _operation(environ: dict[str, Any], service: str) -> tuple[str, str]:
    """(service, operation) of a request: the served-action recorder's reading (_served.operation_of:
    X-Amz-Target, the CBOR path, Action=, or botocore's REST request URIs)."""
    return operation_of(environ) or (service, "")


def _environ_headers(environ: dict[str, Any]) -> dict[str, str]:
    return {"X-Amz-Target": environ.get("HTTP_X_AMZ_TARGET", ""), "Content-Type": environ.get("CONTENT_TYPE", "")}


def _error_response(environ: dict[str, Any], fault: FaultError) -> tuple[str, list[tuple[str, str]], bytes]:
    if fault.html:
        page = (f"<html><head><title>{fault.status} {fault.code}</title></head><body><center>"
                f"<h1>{fault.status} {fault.code}</h1></center></body></html>")
        return f"{fault.status} {fault.code}", [("Content-Type", "text/html")], page.encode()
    _, service = credential_of(environ.get("HTTP_AUTHORIZATION", ""), environ.get("QUERY_STRING", ""))
    protocol = protocol_of(_environ_headers(environ), service, environ.get("QUERY_STRING", ""))
    status, headers, body = error_response(protocol, service, fault.status, fault.code, fault.message)
    return f"{status} Injected", headers, body


def _answer(start_response: Callable[..., Any], response: tuple[int, list[tuple[str, str]], bytes],
            reason: str) -> list[bytes]:
    status, headers, body = response
    start_response(f"{status} {reason}", [*headers, ("Content-Length", str(len(body)))])
    return [body]


class FaultMiddleware:
    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        hook: Callable[[], Hook | None],
        ctl: SandboxControl | None = None,
    ) -> None:
        self.app = app
        self.hook = hook
        self.control = ctl or control

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/moto-api"):
            return self.app(environ, start_response)
        ctl = self.control
        query = environ.get("QUERY_STRING", "")
        access_key, service = credential_of(environ.get("HTTP_AUTHORIZATION", ""), query)

        if access_key and ctl.access_key_pending(access_key):
            protocol = protocol_of(_environ_headers(environ), service, query)
            return _answer(start_response, unknown_key_error(protocol, service), "Forbidden")

        hook = self.hook()
        operation = ""
        if ctl.rate_limits and service and service not in UNTHROTTLED_SERVICES:
            service, operation = _operation(environ, service)
            if service not in UNTHROTTLED_SERVICES:
                family = "mutate" if MUTATING.match(operation) else "read"
                if not ctl.take_token(service, operation, family):
                    protocol = protocol_of(_environ_headers(environ), service, query)
                    return _answer(start_response, throttling_error(protocol, service), "Throttled")

        if hook is None:
            return self.app(environ, start_response)
        if not operation:  # not already found for the rate limit
            service, operation = _operation(environ, service)
        info = RequestInfo(service, operation, bool(MUTATING.match(operation)),
                           "esmctl/" in environ.get("HTTP_USER_AGENT", ""))
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
