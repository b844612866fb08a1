"""Which IAM action a request to the sandbox server asks for; `control.served` collects them.

Stage: the sandbox server's WSGI layer (server.py puts `ServedRecorder` right in front of moto,
behind faults.py's key, rate-limit and fault checks, so it sees only the requests moto serves).
Rule: plain Python and botocore's service models, read lazily; no moto. Importing this is free.

- `iam_action(service, operation)`: the IAM action ("prefix:Action") an API operation needs. The
  IAM service prefix is not always botocore's endpoint prefix or signing name, and S3's REST
  operations need actions named otherwise (tables below, with their sources).
- `operation_of(environ)`: (service, operation) of one WSGI request, from what botocore put on the
  wire: the `X-Amz-Target` header (JSON protocols), `Action=` (query protocol, in the URL or the form
  body), the path of a Smithy RPC v2 CBOR request (CloudWatch), else the method and path matched
  against the `requestUri`s of the service's botocore model (REST protocols: S3, Scheduler,
  SageMaker Runtime). The service is the signing name in the SigV4 credential scope; an unsigned
  request and `/moto-api/...` are no AWS call: None. `action_of(environ)` is its IAM action.
- `ServedRecorder`: the WSGI middleware adding each request's action to `control.served`.

Cost per request, next to the milliseconds moto takes: about 2 µs (JSON), 12 µs (query protocol:
the form body, a few hundred bytes, is parsed) or 10-40 µs (REST: the precompiled routes of one
HTTP method are tried). The models of S3, Scheduler and SageMaker Runtime are read when the server
starts (about 0.1 s, `PRELOADED`), any other REST service's on its first request.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, unquote

from .control import SandboxControl, control

# SigV4 credential scope: "Credential=AKID/20250101/us-east-2/sagemaker/aws4_request" (header or
# presigned URL); group 1 is the signing name.
_SIGNING_NAME = re.compile(r"Credential=[^/,\s]+/[^/]+/[^/]+/([^/]+)/aws4_request")
_CBOR_PATH = re.compile(r"^/service/[^/]+/operation/([^/?]+)$")

# Service (botocore service name or SigV4 signing name) → IAM service prefix, where they differ.
# Sources: botocore/data/<service>/<version>/service-2.json `metadata` (`signingName`, else
# `endpointPrefix`, is what the credential scope names) and the Service Authorization Reference
# ("Actions, resources, and condition keys for <service>": "service prefix").
IAM_PREFIX: dict[str, str] = {
    # sagemaker-runtime/2017-05-13: endpointPrefix "runtime.sagemaker", signingName "sagemaker";
    # InvokeEndpoint is authorized as sagemaker:InvokeEndpoint.
    "sagemaker-runtime": "sagemaker",
    # cloudwatch/2010-08-01: endpointPrefix "monitoring", no signingName; IAM prefix "cloudwatch".
    "monitoring": "cloudwatch",
    # service-quotas/2019-06-24: endpointPrefix "servicequotas", no signingName.
    "service-quotas": "servicequotas",
    # resourcegroupstaggingapi/2017-01-26: endpointPrefix "tagging"; IAM prefix "tag".
    "resourcegroupstaggingapi": "tag",
    "tagging": "tag",
    # pricing/2017-10-15: endpointPrefix "api.pricing", signingName "pricing".
    "api.pricing": "pricing",
    # Same name everywhere (listed for the reader): sagemaker (endpointPrefix "api.sagemaker",
    # signingName "sagemaker"), iam, sts, s3, scheduler, secretsmanager, pricing, logs, kms,
    # application-autoscaling (endpointPrefix and signingName "application-autoscaling", JSON with
    # `X-Amz-Target: AnyScaleFrontendService.<Op>`; IAM prefix "application-autoscaling").
}

# S3 REST operation → the IAM action it needs, where the names differ. Source: the Amazon S3 User
# Guide, "Required permissions for Amazon S3 API operations" (using-with-s3-policy-actions.html),
# which each operation's "Permissions" section in botocore's s3 service-2.json repeats. The
# version-specific actions (s3:GetObjectVersion for GetObject with a versionId, ...) are not told
# apart: the map goes by operation only.
S3_ACTIONS: dict[str, str] = {
    "HeadObject": "GetObject",
    "GetObjectAttributes": "GetObject",
    "SelectObjectContent": "GetObject",
    "CopyObject": "PutObject",  # and s3:GetObject on the source
    "CreateMultipartUpload": "PutObject",
    "UploadPart": "PutObject",
    "UploadPartCopy": "PutObject",
    "CompleteMultipartUpload": "PutObject",
    "DeleteObjects": "DeleteObject",
    "ListObjects": "ListBucket",
    "ListObjectsV2": "ListBucket",
    "HeadBucket": "ListBucket",
    "ListObjectVersions": "ListBucketVersions",
    "ListBuckets": "ListAllMyBuckets",
    "ListMultipartUploads": "ListBucketMultipartUploads",
    "ListParts": "ListMultipartUploadParts",
    "GetBucketEncryption": "GetEncryptionConfiguration",
    "PutBucketEncryption": "PutEncryptionConfiguration",
    "DeleteBucketEncryption": "PutEncryptionConfiguration",
    "GetBucketLifecycle": "GetLifecycleConfiguration",
    "GetBucketLifecycleConfiguration": "GetLifecycleConfiguration",
    "PutBucketLifecycle": "PutLifecycleConfiguration",
    "PutBucketLifecycleConfiguration": "PutLifecycleConfiguration",
    "DeleteBucketLifecycle": "PutLifecycleConfiguration",
    "GetBucketCors": "GetBucketCORS",
    "PutBucketCors": "PutBucketCORS",
    "DeleteBucketCors": "PutBucketCORS",
    "DeleteBucketTagging": "PutBucketTagging",
    "DeleteBucketOwnershipControls": "PutBucketOwnershipControls",
    "GetPublicAccessBlock": "GetBucketPublicAccessBlock",
    "PutPublicAccessBlock": "PutBucketPublicAccessBlock",
    "DeletePublicAccessBlock": "PutBucketPublicAccessBlock",
    "GetBucketReplication": "GetReplicationConfiguration",
    "PutBucketReplication": "PutReplicationConfiguration",
    "DeleteBucketReplication": "PutReplicationConfiguration",
    "GetBucketNotificationConfiguration": "GetBucketNotification",
    "PutBucketNotificationConfiguration": "PutBucketNotification",
    "GetObjectLockConfiguration": "GetBucketObjectLockConfiguration",
    "PutObjectLockConfiguration": "PutBucketObjectLockConfiguration",
    "GetBucketAccelerateConfiguration": "GetAccelerateConfiguration",
    "PutBucketAccelerateConfiguration": "PutAccelerateConfiguration",
    "GetBucketAnalyticsConfiguration": "GetAnalyticsConfiguration",
    "ListBucketAnalyticsConfigurations": "GetAnalyticsConfiguration",
    "PutBucketAnalyticsConfiguration": "PutAnalyticsConfiguration",
    "DeleteBucketAnalyticsConfiguration": "PutAnalyticsConfiguration",
    "GetBucketInventoryConfiguration": "GetInventoryConfiguration",
    "ListBucketInventoryConfigurations": "GetInventoryConfiguration",
    "PutBucketInventoryConfiguration": "PutInventoryConfiguration",
    "DeleteBucketInventoryConfiguration": "PutInventoryConfiguration",
    "GetBucketMetricsConfiguration": "GetMetricsConfiguration",
    "ListBucketMetricsConfigurations": "GetMetricsConfiguration",
    "PutBucketMetricsConfiguration": "PutMetricsConfiguration",
    "DeleteBucketMetricsConfiguration": "PutMetricsConfiguration",
    "GetBucketIntelligentTieringConfiguration": "GetIntelligentTieringConfiguration",
    "ListBucketIntelligentTieringConfigurations": "GetIntelligentTieringConfiguration",
    "PutBucketIntelligentTieringConfiguration": "PutIntelligentTieringConfiguration",
    "DeleteBucketIntelligentTieringConfiguration": "PutIntelligentTieringConfiguration",
    "GetBucketLogging": "GetBucketLogging",
    "PutBucketLogging": "PutBucketLogging",
    "GetBucketRequestPayment": "GetBucketRequestPayment",
    "PutBucketRequestPayment": "PutBucketRequestPayment",
    "DeleteBucketWebsite": "DeleteBucketWebsite",
    "GetObjectLegalHold": "GetObjectLegalHold",
    "GetObjectRetention": "GetObjectRetention",
    # Same name (listed for the reader): GetObject, PutObject, DeleteObject, CreateBucket,
    # DeleteBucket, GetBucketVersioning, PutBucketVersioning, GetBucketLocation, GetBucketPolicy,
    # PutBucketPolicy, DeleteBucketPolicy, GetBucketAcl, PutBucketAcl, GetObjectAcl, PutObjectAcl,
    # GetBucketTagging, PutBucketTagging, GetObjectTagging, PutObjectTagging, DeleteObjectTagging,
    # AbortMultipartUpload, RestoreObject, GetBucketPolicyStatus, GetBucketOwnershipControls.
}

# The REST services esmctl calls: their routes are read when the server starts (about 0.1 s), the
# others' on their first request.
PRELOADED = ("s3", "scheduler", "sagemaker-runtime")
# Signing name → the botocore service whose REST `requestUri`s its path-routed requests follow,
# where the name differs (SageMaker's own API is JSON, with X-Amz-Target; only the runtime is REST).
_REST_SERVICE = {"sagemaker": "sagemaker-runtime"}


def iam_action(service: str, operation: str) -> str:
    """The IAM action an API operation needs: ("sagemaker-runtime", "InvokeEndpoint") →
    "sagemaker:InvokeEndpoint", ("s3", "HeadBucket") → "s3:ListBucket", ("monitoring",
    "GetMetricData") → "cloudwatch:GetMetricData". `service` is botocore's service name (as in
    `boto3.client(...)`) or the SigV4 signing name."""
    prefix = IAM_PREFIX.get(service, service)
    if prefix == "s3":
        operation = S3_ACTIONS.get(operation, operation)
    return f"{prefix}:{operation}"


# --------------------------------------------------------------------------------------------
# REST operations from botocore's models


class _Route:
    """One REST operation: method, path template as a regex, and what its request must carry."""

    __slots__ = ("operation", "path", "query", "headers", "weight")

    def __init__(self, operation: str, request_uri: str, query: tuple[tuple[str, str | None], ...],
                 headers: tuple[str, ...]) -> None:
        self.operation = operation
        path = request_uri.split("?", 1)[0]
        pattern = ""
        for literal, label in re.findall(r"([^{]*)(\{[^}]*\})?", path):
            pattern += re.escape(literal)
            if label:
                pattern += ".+" if label.endswith("+}") else "[^/]+"
        self.path = re.compile(f"^{pattern.rstrip('/')}/?$")
        self.query = query
        self.headers = headers
        self.weight = len(query) + len(headers)  # the most specific matching route wins

    def matches(self, path: str, query: dict[str, list[str]], environ: dict[str, Any]) -> bool:
        if not self.path.match(path):
            return False
        for key, value in self.query:
            if key not in query or (value is not None and value not in query[key]):
                return False
        return all(header in environ for header in self.headers)


_routes: dict[str, dict[str, list[_Route]] | None] = {}
_routes_lock = threading.Lock()


def _routes_of(service: str) -> dict[str, list[_Route]] | None:
    """HTTP method → routes of a REST service's botocore model, most specific first (None: no model)."""
    if service in _routes:
        return _routes[service]
    with _routes_lock:
        if service not in _routes:
            _routes[service] = _load_routes(service)
    return _routes[service]


def _load_routes(service: str) -> dict[str, list[_Route]] | None:
    import botocore.session
    from botocore.exceptions import UnknownServiceError

    try:
        model = botocore.session.get_session().get_service_model(service)
    except UnknownServiceError:
        return None
    if model.protocol not in ("rest-json", "rest-xml"):
        return None
    by_method: dict[str, list[_Route]] = {}
    for name in model.operation_names:
        op = model.operation_model(name)
        uri = op.http.get("requestUri", "/")
        query: list[tuple[str, str | None]] = []
        if "?" in uri:
            for part in filter(None, uri.split("?", 1)[1].split("&")):
                key, sep, value = part.partition("=")
                query.append((key, value if sep else None))
        headers: list[str] = []
        shape = op.input_shape
        if shape is not None:
            required = set(shape.required_members)
            for member_name, member in shape.members.items():
                where, wire_name = member.serialization.get("location"), member.serialization.get("name", member_name)
                if member_name not in required or not wire_name:
                    continue
                if where == "querystring":
                    query.append((wire_name, None))
                elif where == "header":
                    headers.append("HTTP_" + wire_name.upper().replace("-", "_"))
        route = _Route(name, uri, tuple(query), tuple(headers))
        by_method.setdefault(op.http.get("method", "GET"), []).append(route)
    for routes in by_method.values():
        routes.sort(key=lambda r: -r.weight)
    return by_method


def _rest_operation(service: str, environ: dict[str, Any]) -> str | None:
    routes = _routes_of(service)
    if routes is None:
        return None
    path = environ.get("PATH_INFO", "") or "/"
    if service == "s3":
        path = _s3_path_style(path, environ)
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    for route in routes.get(environ.get("REQUEST_METHOD", "GET"), ()):
        if route.matches(path, query, environ):
            return route.operation
    return None


def _s3_path_style(path: str, environ: dict[str, Any]) -> str:
    """A virtual-hosted-style S3 request's path with its bucket first ("bucket.localhost:5000/key"
    → "/bucket/key"); botocore addresses an IP endpoint (the sandbox's 127.0.0.1) path-style."""
    host = str(environ.get("HTTP_HOST", "")).rsplit(":", 1)[0]
    bucket = ""
    if host.endswith(".localhost"):
        bucket = host[: -len(".localhost")]
    else:
        m = re.match(r"^(.+)\.s3[.-]", host)
        bucket = m.group(1) if m else ""
    return f"/{bucket}{path}" if bucket else path


# --------------------------------------------------------------------------------------------
# One request


def _read_body(environ: dict[str, Any]) -> bytes:
    """The request body, put back so that moto reads it again."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def operation_of(environ: dict[str, Any]) -> tuple[str, str] | None:
    """(service, operation) of a WSGI request to the sandbox, e.g. ("sagemaker", "CreateModel"),
    ("sagemaker-runtime", "InvokeEndpoint"), ("s3", "HeadBucket"), ("monitoring", "GetMetricData");
    the service is the signing name, or botocore's service name when a REST model was matched.
    None when it is no AWS API call (unsigned, or the sandbox's own `/moto-api/...`). An operation
    that cannot be told (no botocore model matches) comes back as "?<METHOD> <path>"."""
    path = environ.get("PATH_INFO", "")
    if path.startswith("/moto-api"):
        return None
    query = environ.get("QUERY_STRING", "")
    m = _SIGNING_NAME.search(environ.get("HTTP_AUTHORIZATION", ""))
    if m is None and "Credential=" in query:
        m = _SIGNING_NAME.search(unquote(query))
    if m is None:
        return None
    service = m.group(1)
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:  # JSON protocols: "SageMaker.CreateModel"
        return service, target.rsplit(".", 1)[-1]
    if environ.get("HTTP_SMITHY_PROTOCOL"):  # Smithy RPC v2 CBOR: /service/<id>/operation/<Op>
        cbor = _CBOR_PATH.match(path)
        if cbor:
            return service, cbor.group(1)
    if "Action=" in query:  # query protocol, GET form
        operation = parse_qs(query).get("Action", [""])[0]
        if operation:
            return service, operation
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        operation = parse_qs(_read_body(environ).decode(errors="replace")).get("Action", [""])[0]
        if operation:
            return service, operation
    rest_service = _REST_SERVICE.get(service, service)
    operation = _rest_operation(rest_service, environ)
    if operation:
        return rest_service, operation
    return service, f"?{environ.get('REQUEST_METHOD', 'GET')} {path}"


def action_of(environ: dict[str, Any]) -> str | None:
    """The IAM action a WSGI request to the sandbox asks for (`iam_action` of `operation_of`);
    None when it is no AWS API call. One that cannot be told is "<prefix>:?<METHOD> <path>", so
    that a check of `control.served` names it."""
    found = operation_of(environ)
    return None if found is None else iam_action(*found)


class ServedRecorder:
    """WSGI middleware: note each request's IAM action in `control.served`, then serve it.

    A request the recorder cannot read (a bug here) is served all the same, and noted as
    "?unreadable request: <error>", so that a permissions check fails instead of missing it."""

    def __init__(self, app: Callable[..., Iterable[bytes]], ctl: SandboxControl | None = None) -> None:
        self.app = app
        self.control = ctl or control
        for service in PRELOADED:  # here, not on the first request: its timing stays as without the recorder
            _routes_of(service)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            action = action_of(environ)
        except Exception as error:  # never let the bookkeeping break a request
            action = f"?unreadable request: {error!r}"
        if action is not None:
            self.control.note_served(action)
        return self.app(environ, start_response)
