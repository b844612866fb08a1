"""The sandbox: moto patched to behave like SageMaker; used by `esmctl demo`, `esmctl sandbox` and the tests.

Never imported by offline commands. Importing this package is free: it defines things and imports
neither moto nor boto3. `apply_patches()` (idempotent) sets MOTO_IAM_LOAD_MANAGED_POLICIES=true,
imports moto and patches its classes, for `moto.mock_aws` and for a ThreadedMotoServer in the same
process alike. `control` steers the patched SageMaker: endpoint timings, failures, rollbacks,
Marketplace subscriptions, instance quotas. `start_server()` / `serve_forever()` run it as a
local server.

What the patches reproduce (moto 5.2.5 differs from AWS there; see the modules for details):
- CreateEndpointConfig accepts any `ml.<family>.<size>` instance type;
- endpoints are `Creating` for a while, then `InService` or `Failed` (FailureReason); deletions
  can show `Deleting`; DescribeEndpoint and ListEndpoints agree on the status;
- UpdateEndpoint exists: `Updating`, then `InService` on the new config, or rolled back;
- duplicate model/endpoint-config/endpoint names (any case) are refused; names are looked up
  case-insensitively, ARNs carry the lowercased name, tags work with those ARNs, AddTags upserts;
- CreateModel keeps EnableNetworkIsolation and refuses unsubscribed Marketplace packages;
  DescribeModelPackage describes another account's (Marketplace) package;
- ListEndpoints/ListEndpointConfigs/ListModels: newest first, 10 a page, NextToken, filters;
- IAM refuses DeleteUser/DeletePolicy with DeleteConflict while things are attached;
- InvokeEndpoint answers only live endpoints, with a Forge-shaped JSON body;
- with IAM enforcement on, SageMaker requests are checked against the endpoint's lowercase ARN;
- optional per-instance-type quotas raise ResourceLimitExceeded, and Service Quotas reports them
  (service code `sagemaker`: "<type> for endpoint usage", applied and default values);
- IAM SimulatePrincipalPolicy evaluates the principal's identity-based policies.
"""

from .control import DEFAULT_FAILURE_REASON, SandboxControl, control
from .patching import apply_patches
from .server import SandboxServer, serve_forever, start_server

__all__ = [
    "DEFAULT_FAILURE_REASON",
    "SandboxControl",
    "SandboxServer",
    "apply_patches",
    "control",
    "serve_forever",
    "start_server",
]
