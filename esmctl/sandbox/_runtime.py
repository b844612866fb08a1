"""SageMaker Runtime patch: InvokeEndpoint reaches only live endpoints, answers like ESM's container,
and behaves like a real endpoint under load.

moto answers every InvokeEndpoint with a canned body, even for endpoints that do not exist. Here,
in this order (each with what real SageMaker answers and where that comes from):
1. An endpoint that does not exist (exact case, as SageMaker requires for InvokeEndpoint) or does
   not serve traffic (Creating, Failed, Deleting) → ValidationError "Endpoint X of account N not
   found." (HTTP 400), as SageMaker answers (docs/aws-behaviour.md).
2. Results queued through moto's /moto-api/static/sagemaker/endpoint-results take precedence, so a
   test can script an exact answer for a live endpoint.
3. A request body over 6 MiB → HTTP 413 with {"message": "HTTP content length exceeded 6291456
   bytes."} and no error type, so botocore reports Error.Code "413". Source: the same answer with
   the older 5 MB limit, "ClientError: An error occurred (413) when calling the InvokeEndpoint
   operation: HTTP content length exceeded 5246976 bytes." (aws/sagemaker-python-sdk#171,
   aws/amazon-sagemaker-examples#245, 2018); the limit is botocore's sagemaker-runtime BodyBlob
   max, 6291456. The exact number in today's message is unverified.
4. Throttling: `control.invoke_throttle_rate` of the calls, and every call that finds all the
   endpoint's slots busy (instances × `control.concurrency_per_instance`; no queueing) →
   ThrottlingException, HTTP 400, header x-amzn-ErrorType and the body {"message": null}. Sources:
   SageMaker throttles InvokeEndpoint by a concurrency limit "based on the number of instances and
   instance types used by the endpoint", answering "400 error code and null error message
   {"message": null}" with the code in the response header (opensearch-project/ml-commons#2429,
   #2438, and PR #2442 which matches the x-amzn-ErrorType header on "ThrottlingException");
   "Status Code: 400; Error Code: ThrottlingException" (aws/amazon-kinesis-video-streams-parser-
   library#187); "An error occurred (ThrottlingException) when calling the InvokeEndpoint operation
   (reached max retries: 4): None" (aws-samples/amazon-sagemaker-nlu-search#4: botocore retried it,
   the message is null). botocore's standard/adaptive retries retry it (retries/standard.py
   ThrottledRetryableChecker).
5. The body goes to `forge` (a Forge-shaped JSON answer); a request the container refuses →
   ModelError (HTTP 424) quoting the container's status and message: 'Received client error (422)
   from primary with message "…". See https://…#logEventViewer:group=/aws/sagemaker/Endpoints/X
   in account N for more information.' (aws/sagemaker-python-sdk#2955; botocore's ModelError shape
   has OriginalStatusCode, OriginalMessage, LogStreamArn).
6. A call whose model time (`control.invocation_seconds`) exceeds 60 s → ModelError (HTTP 424),
   OriginalStatusCode 0: 'Received server error (0) from primary with message "Your invocation
   timed out while waiting for a response from container primary. Review the latency metrics for
   each container in Amazon CloudWatch, resolve the issue, and try again.". See … for more
   information.' Sources: the SageMaker Developer Guide, "Troubleshoot Neo Inference Errors" (same
   text with "from <endpoint> … container model") and a traceback from a real endpoint
   ("Received server error (0) from primary with message "Your invocation timed out while waiting
   for a response from container primary. …"); 60 s is the InvokeEndpoint API reference's limit.
   The sandbox answers at once instead of waiting 60 s (and frees the slot at once, where the real
   container would stay busy until it finishes).
7. An answer over 6 MiB → ModelError (HTTP 424), OriginalStatusCode 0, 'Received server error (0)
   from primary and could not load the entire response body. See … for more information.'
   UNVERIFIED: the 6 MiB response limit is documented (InvokeEndpoint API reference, SageMaker
   quotas) but its error is not; the wording follows SageMaker's "Received client error (413) from
   primary and could not load the entire response body" (AWS re:Post, "sagemakee endpoint failing
   with … received client error 413 from primary and could not load the entire response body").
Otherwise the call holds its slot for its model time (`control.sleep`) and answers 200 with
Content-Type application/json and x-Amzn-Invoked-Production-Variant. No CustomAttributes come
back: SageMaker returns only what the container sets ("If the customer wants the custom attribute
returned, the model must set the custom attribute to be included on the way back", botocore
sagemaker-runtime InvokeEndpointOutput.CustomAttributes), and the sandbox's container sets none.
ModelNotReadyException (HTTP 429; serverless and multi-model endpoints only), ServiceUnavailable
(503), InternalFailure (500) and InternalDependencyException (530) exist in the service model but
are not produced here; `control.request_hook` (faults.py, server mode) can inject them.
Every call is recorded (`control.invocations()`). Imported only by `patching.apply_patches()`.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import unquote

from moto.core.common_types import TYPE_RESPONSE
from moto.core.exceptions import ServiceException
from moto.sagemaker.models import FakeEndpoint, sagemaker_backends
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

from esmctl.vocab import INVOKE_MAX_BYTES, INVOKE_TIMEOUT_SECONDS

from . import forge
from ._sagemaker import invocable_endpoint
from .control import Invocation, control
from .patching import replace

TIMEOUT_MESSAGE = ("Your invocation timed out while waiting for a response from container primary. Review the "
                   "latency metrics for each container in Amazon CloudWatch, resolve the issue, and try again.")
REQUEST_TOO_LARGE_MESSAGE = f"HTTP content length exceeded {INVOKE_MAX_BYTES} bytes."


class EndpointNotFound(ServiceException):
    code = "ValidationError"


class ModelError(ServiceException):
    code = "ModelError"

    def __init__(self, message: str, original_status: int, original_message: str, log_stream_arn: str) -> None:
        super().__init__(message)
        # Members of SageMaker Runtime's ModelError shape, serialized by moto from attributes.
        self.OriginalStatusCode = original_status
        self.OriginalMessage = original_message
        self.LogStreamArn = log_stream_arn


def endpoint_name_from_path(path: str) -> str:
    """`/endpoints/{name}/invocations` → name."""
    parts = path.split("/")
    return unquote(parts[2]) if len(parts) > 2 and parts[1] == "endpoints" else ""


def _model_error(endpoint_name: str, account_id: str, region: str, status: int, quoted: str | None,
                 original_message: str) -> ModelError:
    """SageMaker's ModelError: 'Received {client|server} error (status) from primary with message
    "{quoted}". See {CloudWatch link} in account N for more information.' (`quoted` None: "and could
    not load the entire response body" instead of the message)."""
    log_group = f"/aws/sagemaker/Endpoints/{endpoint_name}"
    kind = "client" if 0 < status < 500 else "server"
    what = f'with message "{quoted}"' if quoted is not None else "and could not load the entire response body"
    message = (
        f"Received {kind} error ({status}) from primary {what}. "
        f"See https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logEventViewer:"
        f"group={log_group} in account {account_id} for more information."
    )
    log_stream = f"arn:aws:logs:{region}:{account_id}:log-group:{log_group}"
    return ModelError(message, status, original_message, log_stream)


# moto takes a handler's HTTP status from its headers' "status" (BaseResponse._transform_response).


def _throttled() -> TYPE_RESPONSE:
    """ThrottlingException as SageMaker Runtime sends it: HTTP 400, the code in x-amzn-ErrorType,
    the body {"message": null} (see the module docstring, step 4)."""
    return 400, {"status": 400, "Content-Type": "application/json", "x-amzn-ErrorType": "ThrottlingException",
                 "x-amzn-RequestId": str(uuid.uuid4())}, json.dumps({"message": None})


def _request_too_large() -> TYPE_RESPONSE:
    """HTTP 413 without an error type (botocore: Error.Code "413"); step 3 of the module docstring."""
    return 413, {"status": 413, "Content-Type": "application/json", "x-amzn-RequestId": str(uuid.uuid4())}, json.dumps(
        {"message": REQUEST_TOO_LARGE_MESSAGE})


def _instances(endpoint: FakeEndpoint) -> int:
    """Instances serving the endpoint: each variant's CurrentInstanceCount (else DesiredInstanceCount,
    else 1), summed."""
    variants = endpoint.production_variants or []
    return sum(int(v.get("CurrentInstanceCount") or v.get("DesiredInstanceCount") or 1) for v in variants) or 1


def _header(response: SageMakerRuntimeResponse, name: str) -> str | None:
    value = response.headers.get(name) if response.headers is not None else None
    return str(value) if value is not None else None


def _invoke_endpoint(self: SageMakerRuntimeResponse) -> TYPE_RESPONSE:
    name = endpoint_name_from_path(self.path)
    account, region = self.current_account, self.region
    raw = self.raw_body if self.raw_body is not None else b""
    request: forge.Request | None = None
    try:
        request = forge.parse(raw)
    except forge.ForgeError as error:
        refusal: forge.ForgeError | None = error
    else:
        refusal = None

    def record(outcome: str, seconds: float = 0.0) -> None:
        sequence = request.sequence if request is not None else None
        control.record_invocation(Invocation(
            endpoint=name, api=request.api if request is not None else None, sequence=sequence,
            residues=len(sequence) if sequence is not None else None,
            asked=request.asked() if request is not None else (), outcome=outcome, seconds=seconds))

    backend = sagemaker_backends[account][region]
    endpoint = invocable_endpoint(backend, name)
    if endpoint is None:
        record("ValidationError")
        raise EndpointNotFound(f"Endpoint {name} of account {account} not found.")
    variant = endpoint.production_variants[0]["VariantName"] if endpoint.production_variants else "variant-1"
    headers: dict[str, Any] = {"Content-Type": "application/json", "x-Amzn-Invoked-Production-Variant": variant}

    queued = self.sagemakerruntime_backend.results_queue
    if queued:
        body, content_type, _, custom_attributes = queued.pop(0)
        headers["Content-Type"] = content_type
        if custom_attributes:
            headers["X-Amzn-SageMaker-Custom-Attributes"] = custom_attributes
        record("ok")
        return 200, headers, body

    if len(raw) > INVOKE_MAX_BYTES:
        record("413")
        return _request_too_large()
    slot = (account, region, name)
    if control.throttle_invocation(name, raw) or not control.take_slot(slot, _instances(endpoint)):
        record("ThrottlingException")
        return _throttled()
    try:
        if refusal is not None or request is None:
            assert refusal is not None
            record("ModelError")
            raise _model_error(name, account, region, refusal.status, refusal.body, refusal.body)
        seconds = control.invocation_seconds(request.api, len(request.tokens or ()))
        if seconds > INVOKE_TIMEOUT_SECONDS:
            # SageMaker gives up after 60 s; the sandbox does not make the caller wait for it.
            record("ModelError")
            raise _model_error(name, account, region, 0, TIMEOUT_MESSAGE, TIMEOUT_MESSAGE)
        try:
            answer = forge.respond(request, accept=_header(self, "Accept"),
                                   custom_attributes=_header(self, "X-Amzn-SageMaker-Custom-Attributes"),
                                   max_bytes=INVOKE_MAX_BYTES)
        except forge.ForgeError as error:
            record("ModelError")
            raise _model_error(name, account, region, error.status, error.body, error.body) from None
        except forge.AnswerTooLarge:
            control.sleep(seconds)
            record("ModelError", seconds)
            raise _model_error(name, account, region, 0, None, "") from None
        control.sleep(seconds)
    finally:
        control.release_slot(slot)
    record("ok", seconds)
    return 200, headers, answer


def install() -> None:
    # Keep the body as bytes: an invocation payload need not be UTF-8 or a query string.
    replace(SageMakerRuntimeResponse, "use_raw_body", True)
    replace(SageMakerRuntimeResponse, "invoke_endpoint", _invoke_endpoint)
