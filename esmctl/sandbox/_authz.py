"""IAM enforcement on SageMaker: evaluate policies against the resource's (lowercase) ARN.

With moto's IAM enforcement on (POST /moto-api/reset-auth with body `0`, or
`moto.core.authorization.enable_iam_authentication()`), every request is checked against the
caller's policies, but SageMaker requests only against Resource `*`, so ARN-scoped allows never
match. moto asks a response class for `_determine_resource()`; SageMaker's and SageMaker
Runtime's now answer with the ARN IAM evaluates, e.g.
`arn:aws:sagemaker:us-east-2:123456789012:endpoint/endpoint-esmc-300m-1-2df2c3dd` for
InvokeEndpoint on `Endpoint-ESMC-300M-1-2df2c3dd` (the lowercase ARN: a policy naming the
mixed-case ARN allows nothing, as in AWS).

Denials also come back as SageMaker sends them (JSON, `AccessDeniedException`,
`UnrecognizedClientException`, `InvalidSignatureException`) instead of moto's XML body, which
botocore could only report as Error.Code "403".
Imported only by `patching.apply_patches()`.
"""

from __future__ import annotations

import json

from moto.core.responses import BaseResponse
from moto.sagemaker.responses import SageMakerResponse
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse
from werkzeug.exceptions import HTTPException

from ._runtime import endpoint_name_from_path
from ._sagemaker import sagemaker_arn
from .patching import replace

# SageMaker action → (resource type, request parameter holding the resource name).
_RESOURCE_OF_ACTION = {
    "CreateEndpoint": ("endpoint", "EndpointName"),
    "DescribeEndpoint": ("endpoint", "EndpointName"),
    "DeleteEndpoint": ("endpoint", "EndpointName"),
    "UpdateEndpoint": ("endpoint", "EndpointName"),
    "UpdateEndpointWeightsAndCapacities": ("endpoint", "EndpointName"),
    "CreateEndpointConfig": ("endpoint-config", "EndpointConfigName"),
    "DescribeEndpointConfig": ("endpoint-config", "EndpointConfigName"),
    "DeleteEndpointConfig": ("endpoint-config", "EndpointConfigName"),
    "CreateModel": ("model", "ModelName"),
    "DescribeModel": ("model", "ModelName"),
    "DeleteModel": ("model", "ModelName"),
}
_ARN_PARAMETER_ACTIONS = {"AddTags": "ResourceArn", "ListTags": "ResourceArn", "DeleteTags": "ResourceArn"}
_RUNTIME_ACTIONS = {"InvokeEndpoint", "InvokeEndpointAsync", "InvokeEndpointWithResponseStream"}

# moto's auth error types → what SageMaker's JSON APIs answer.
_JSON_AUTH_ERRORS = {
    "AccessDenied": "AccessDeniedException",
    "InvalidClientTokenId": "UnrecognizedClientException",
    "SignatureDoesNotMatch": "InvalidSignatureException",
}


class JsonAuthError(HTTPException):
    """An authentication/authorization failure as a JSON-protocol error body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(description=json.dumps({"__type": code, "message": message}))
        self.code = status


def _sagemaker_resource(self: SageMakerResponse) -> str:
    """The ARN IAM evaluates for this SageMaker request ("*" when there is no single resource)."""
    try:
        action = self._get_action()
        if action in _ARN_PARAMETER_ACTIONS:
            return str(self._get_param(_ARN_PARAMETER_ACTIONS[action]) or "*")
        if action in _RESOURCE_OF_ACTION:
            kind, parameter = _RESOURCE_OF_ACTION[action]
            name = self._get_param(parameter)
            if isinstance(name, str) and name:
                return sagemaker_arn(kind, name, self.current_account, self.region)
    except Exception:  # never let resource resolution break a request; "*" is moto's default
        return "*"
    return "*"


def _runtime_resource(self: SageMakerRuntimeResponse) -> str:
    """The endpoint's lowercase ARN for InvokeEndpoint (and its async/streaming variants)."""
    try:
        name = endpoint_name_from_path(self.path)
        if name and self._get_action() in _RUNTIME_ACTIONS:
            return sagemaker_arn("endpoint", name, self.current_account, self.region)
    except Exception:
        return "*"
    return "*"


def _authorize_with_json_errors(self: BaseResponse, resource: str = "*") -> None:
    try:
        BaseResponse._authenticate_and_authorize_normal_action(self, resource)
    except HTTPException as error:
        error_type = getattr(error, "error_type", "")
        code = _JSON_AUTH_ERRORS.get(error_type)
        if code is None:
            raise
        message = getattr(error, "message", "") or str(error)
        if error_type == "AccessDenied" and resource != "*":
            action = message.rsplit(" ", 1)[-1]
            message = (
                f"{message} on resource: {resource} because no identity-based policy allows the {action} action"
            )
        raise JsonAuthError(400, code, message) from None


def install() -> None:
    for response_class, determine in (
        (SageMakerResponse, _sagemaker_resource),
        (SageMakerRuntimeResponse, _runtime_resource),
    ):
        replace(response_class, "_determine_resource", determine)
        replace(response_class, "_authenticate_and_authorize_normal_action", _authorize_with_json_errors)
