"""Service Quotas patch: SageMaker's "<instance type> for endpoint usage" quotas, from `control`.

moto 5.2.5 knows Service Quotas for service code `vpc` only (and has no ListServiceQuotas at all).
Here, for service code `sagemaker`, as AWS answers them:
- ListAWSDefaultServiceQuotas lists the default quotas: "<type> for endpoint usage",
  "<type> for training job usage" and "<type> for processing job usage" for every instance type in
  INSTANCE_TYPES (and every type in `control.quota_instances`), each DEFAULT_QUOTA instances;
- ListServiceQuotas lists the applied values: only the endpoint-usage quotas of the types in
  `control.quota_instances`, with that value (AWS lists only quotas whose applied value is known);
- GetServiceQuota / GetAWSDefaultServiceQuota find one by QuotaCode;
- all three list calls paginate (MaxResults, default 100; NextToken).
An instance type in neither list has no quota at all: NoSuchResourceException, as AWS answers for a
type it does not offer, so "unknown quota" can be tested with, say, `ml.sandbox.xlarge`.

QuotaCodes are "L-" + 8 hex digits of a hash of the quota's name: stable, but opaque like AWS's
(esmctl looks quotas up by name).
Imported only by `patching.apply_patches()`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from moto.servicequotas.exceptions import NoSuchResource
from moto.servicequotas.resources.default_quotas.vpc import VPC_DEFAULT_QUOTAS
from moto.servicequotas.responses import ServiceQuotasResponse

from .control import control, lock
from .patching import original, replace

SERVICE_CODE = "sagemaker"
SERVICE_NAME = "Amazon SageMaker"
# Instances per type in the default-quota listing. The sandbox limits nothing it is not told to
# (CreateEndpoint enforces `control.quota_instances` only), so the default is one no demo, test or
# benchmark reaches; set `control.quota_instances` for a real-looking limit.
DEFAULT_QUOTA = 1000
USAGES = ("endpoint usage", "training job usage", "processing job usage")
_FAMILIES = {
    "ml.t3": ("medium", "large", "xlarge", "2xlarge"),
    "ml.m5": ("large", "xlarge", "2xlarge", "4xlarge", "12xlarge", "24xlarge"),
    "ml.c5": ("large", "xlarge", "2xlarge", "4xlarge", "9xlarge", "18xlarge"),
    "ml.g4dn": ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"),
    "ml.g5": ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge"),
    "ml.g6": ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge"),
    "ml.g6e": ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge"),
    "ml.p4d": ("24xlarge",),
    "ml.p5": ("48xlarge",),
    "ml.inf2": ("xlarge", "8xlarge", "24xlarge", "48xlarge"),
    "ml.trn1": ("2xlarge", "32xlarge"),
}
INSTANCE_TYPES = tuple(f"{family}.{size}" for family, sizes in _FAMILIES.items() for size in sizes)
DEFAULT_PAGE = 100


def quota_code(name: str) -> str:
    return "L-" + hashlib.sha256(name.encode()).hexdigest()[:8].upper()


def _quota(name: str, value: float, account_id: str, region: str) -> dict[str, Any]:
    code = quota_code(name)
    return {
        "ServiceCode": SERVICE_CODE, "ServiceName": SERVICE_NAME,
        "QuotaArn": f"arn:aws:servicequotas:{region}:{account_id}:{SERVICE_CODE}/{code}",
        "QuotaCode": code, "QuotaName": name, "Value": float(value), "Unit": "None",
        "Adjustable": True, "GlobalQuota": False,
    }


def default_quotas(account_id: str, region: str) -> list[dict[str, Any]]:
    with lock:
        types = sorted(set(INSTANCE_TYPES) | set(control.quota_instances))
    return [_quota(f"{t} for {usage}", DEFAULT_QUOTA, account_id, region) for t in types for usage in USAGES]


def applied_quotas(account_id: str, region: str) -> list[dict[str, Any]]:
    with lock:
        quotas = dict(control.quota_instances)
    return [_quota(f"{t} for endpoint usage", n, account_id, region) for t, n in sorted(quotas.items())]


def _page(self: ServiceQuotasResponse, quotas: list[dict[str, Any]]) -> str:
    params = json.loads(self.body or "{}")
    size = max(1, min(int(params.get("MaxResults") or DEFAULT_PAGE), DEFAULT_PAGE))
    start = int(params.get("NextToken") or 0)
    doc: dict[str, Any] = {"Quotas": quotas[start:start + size]}
    if start + size < len(quotas):
        doc["NextToken"] = str(start + size)
    return json.dumps(doc)


def _service_code(self: ServiceQuotasResponse) -> str:
    return str(json.loads(self.body or "{}").get("ServiceCode"))


def _list_service_quotas(self: ServiceQuotasResponse) -> str:
    code = _service_code(self)
    if code == SERVICE_CODE:
        return _page(self, applied_quotas(self.current_account, self.region))
    if code == "vpc":
        return _page(self, list(VPC_DEFAULT_QUOTAS))
    raise NoSuchResource


def _list_aws_default_service_quotas(self: ServiceQuotasResponse) -> str:
    if _service_code(self) == SERVICE_CODE:
        return _page(self, default_quotas(self.current_account, self.region))
    return str(original(ServiceQuotasResponse, "list_aws_default_service_quotas")(self))


def _find(self: ServiceQuotasResponse, quotas: list[dict[str, Any]]) -> str:
    wanted = json.loads(self.body or "{}").get("QuotaCode")
    for quota in quotas:
        if quota["QuotaCode"] == wanted:
            return json.dumps({"Quota": quota})
    raise NoSuchResource


def _get_service_quota(self: ServiceQuotasResponse) -> str:
    if _service_code(self) != SERVICE_CODE:
        return str(original(ServiceQuotasResponse, "get_service_quota")(self))
    applied = applied_quotas(self.current_account, self.region)
    codes = {q["QuotaCode"] for q in applied}
    defaults = [q for q in default_quotas(self.current_account, self.region) if q["QuotaCode"] not in codes]
    return _find(self, applied + defaults)


def _get_aws_default_service_quota(self: ServiceQuotasResponse) -> str:
    if _service_code(self) != SERVICE_CODE:
        raise NoSuchResource
    return _find(self, default_quotas(self.current_account, self.region))


def install() -> None:
    replace(ServiceQuotasResponse, "list_service_quotas", _list_service_quotas)
    replace(ServiceQuotasResponse, "list_aws_default_service_quotas", _list_aws_default_service_quotas)
    replace(ServiceQuotasResponse, "get_service_quota", _get_service_quota)
    replace(ServiceQuotasResponse, "get_aws_default_service_quota", _get_aws_default_service_quota)
