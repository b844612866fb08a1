"""SageMaker Runtime patch: InvokeEndpoint reaches only live endpoints and answers like ESM's container.

moto answers every InvokeEndpoint with a canned body, even for endpoints that do not exist. Here:
- an endpoint that does not exist (exact case, as SageMaker requires for InvokeEndpoint) or does
  not serve traffic (Creating, Failed, Deleting) → ValidationError "Endpoint X of account N not
  found." (HTTP 400), as SageMaker answers;
- otherwise the body goes to `forge.answer` (a Forge-shaped JSON answer); a request the container
  refuses → ModelError (HTTP 424) quoting the container's status and message, as SageMaker does.
Results queued through moto's /moto-api/static/sagemaker/endpoint-results still take precedence,
so a test can script an exact answer for a live endpoint.
Imported only by `patching.apply_patches()`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from moto.core.common_types import TYPE_RESPONSE
from moto.core.exceptions import ServiceException
from moto.sagemaker.models import sagemaker_backends
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

from . import forge
from ._sagemaker import invocable_endpoint
from .patching import replace


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


def _model_error(error: forge.ForgeError, endpoint_name: str, account_id: str, region: str) -> ModelError:
    log_group = f"/aws/sagemaker/Endpoints/{endpoint_name}"
    kind = "client" if error.status < 500 else "server"
    message = (
        f'Received {kind} error ({error.status}) from primary with message "{error.body}". '
        f"See https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logEventViewer:"
        f"group={log_group} in account {account_id} for more information."
    )
    log_stream = f"arn:aws:logs:{region}:{account_id}:log-group:{log_group}"
    return ModelError(message, error.status, error.body, log_stream)


def _invoke_endpoint(self: SageMakerRuntimeResponse) -> TYPE_RESPONSE:
    name = endpoint_name_from_path(self.path)
    backend = sagemaker_backends[self.current_account][self.region]
    endpoint = invocable_endpoint(backend, name)
    if endpoint is None:
        raise EndpointNotFound(f"Endpoint {name} of account {self.current_account} not found.")
    variant = endpoint.production_variants[0]["VariantName"] if endpoint.production_variants else "variant-1"
    headers: dict[str, Any] = {"Content-Type": "application/json", "x-Amzn-Invoked-Production-Variant": variant}

    queued = self.sagemakerruntime_backend.results_queue
    if queued:
        body, content_type, _, custom_attributes = queued.pop(0)
        headers["Content-Type"] = content_type
        if custom_attributes:
            headers["X-Amzn-SageMaker-Custom-Attributes"] = custom_attributes
        return 200, headers, body

    raw = self.raw_body if self.raw_body is not None else b""
    try:
        answer = forge.answer(raw)
    except forge.ForgeError as error:
        raise _model_error(error, name, self.current_account, self.region) from None
    return 200, headers, answer


def install() -> None:
    # Keep the body as bytes: an invocation payload need not be UTF-8 or a query string.
    replace(SageMakerRuntimeResponse, "use_raw_body", True)
    replace(SageMakerRuntimeResponse, "invoke_endpoint", _invoke_endpoint)
