"""Build what the Terraform module would have made, on the sandbox, and its Terraform state.

`apply_module` creates the module's resources with boto3 exactly as the module does (names with a
`random_id` suffix, the role with AmazonSageMakerFullAccess, models with network isolation, one
variant per endpoint config, the shared user with its Resource "*" policy and one access key —
and only the module's tags, not esmctl's), then returns a Terraform state in the real format
version 4 layout (`terraform state pull`), attributes as the AWS provider (v5) records them.
`show_json` turns such a state into what `terraform show -json` prints.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from pathlib import Path
from typing import Any

import yaml

EXAMPLES = Path(__file__).resolve().parents[1] / "esmctl" / "examples"
PROVIDER = 'provider["registry.terraform.io/hashicorp/aws"]'
MANAGED = "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"
MODULE_TAGS = {"Environment": "dev", "Project": "esm-partner"}


def _res(module: str, type_: str, name: str, instances: list[tuple[Any, dict[str, Any]]], *,
         provider: str = PROVIDER) -> dict[str, Any]:
    out: dict[str, Any] = {"mode": "managed", "type": type_, "name": name, "provider": provider, "instances": []}
    if module:
        out = {"module": module, **out}
    for key, attrs in instances:
        inst: dict[str, Any] = {"schema_version": 0, "attributes": attrs, "sensitive_attributes": [],
                                "private": "bnVsbA=="}
        if key is not None:
            inst = {"index_key": key, **inst}
        out["instances"].append(inst)
    return out


def apply_module(client: Any, *, example: str = "multi_model", shared: bool = True, module: str = "module.esm",
                 prefix: str = "esm", environment: str = "dev", tags: dict[str, str] | None = None
                 ) -> dict[str, Any]:
    """Create the module's resources on the sandbox (`client(service)` gives a boto3 client)."""
    tags = dict(MODULE_TAGS if tags is None else tags)
    tag_list = [{"Key": k, "Value": v} for k, v in tags.items()]
    catalog = yaml.safe_load((EXAMPLES / "models.yaml").read_text())["models"]
    selected = yaml.safe_load((EXAMPLES / f"{example}.yaml").read_text())["selected_models"]
    iam, sm = client("iam"), client("sagemaker")

    role_name = f"{prefix}-sagemaker-exec-{environment}"
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "sagemaker.amazonaws.com"}}]}
    role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust), Tags=tag_list)["Role"]
    iam.attach_role_policy(RoleName=role_name, PolicyArn=MANAGED)
    resources = [
        _res(module, "aws_iam_role", "sagemaker_execution_role", [(None, {
            "arn": role["Arn"], "assume_role_policy": json.dumps(trust), "id": role_name, "name": role_name,
            "path": "/", "tags": tags, "tags_all": tags, "unique_id": role["RoleId"], "max_session_duration": 3600,
            "managed_policy_arns": [MANAGED], "inline_policy": [], "description": "", "name_prefix": "",
            "force_detach_policies": False, "permissions_boundary": "", "create_date": str(role["CreateDate"]),
        })]),
        _res(module, "aws_iam_role_policy_attachment", "sagemaker_full_access", [(None, {
            "id": f"{role_name}-20250101000000000000000001", "policy_arn": MANAGED, "role": role_name})]),
    ]
    suffixes, models, configs, endpoints = [], [], [], []
    for name, sel in selected.items():
        entry = catalog[sel["selector"]]
        raw = secrets.token_bytes(4)
        hex8 = raw.hex()
        b64 = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        suffixes.append((name, {"b64_std": base64.b64encode(raw).decode(), "b64_url": b64, "byte_length": 4,
                                "dec": str(int.from_bytes(raw, "big")), "hex": hex8, "id": b64,
                                "keepers": None, "prefix": None}))
        itype = sel.get("instance_type", entry["instance_type"])
        count = sel.get("instance_count", entry["instance_count"])
        model_name = f"{entry['sagemaker_model_name']}-{hex8}"
        m = sm.create_model(ModelName=model_name, ExecutionRoleArn=role["Arn"], EnableNetworkIsolation=True,
                            PrimaryContainer={"ModelPackageName": entry["model_package"]}, Tags=tag_list)
        models.append((name, {
            "arn": m["ModelArn"], "id": model_name, "name": model_name, "execution_role_arn": role["Arn"],
            "enable_network_isolation": True, "tags": tags, "tags_all": tags, "container": [],
            "primary_container": [{"model_package_name": entry["model_package"], "image": "", "mode": "SingleModel",
                                   "environment": {}, "container_hostname": "", "model_data_url": ""}],
            "vpc_config": [], "inference_execution_config": []}))
        cfg_name = f"EndpointConfig-{entry['endpoint_name']}-{hex8}"
        variant = {"VariantName": "variant-1", "ModelName": model_name, "InitialInstanceCount": count,
                   "InstanceType": itype, "InitialVariantWeight": 1.0, "ModelDataDownloadTimeoutInSeconds": 3600}
        c = sm.create_endpoint_config(EndpointConfigName=cfg_name, ProductionVariants=[variant], Tags=tag_list)
        configs.append((name, {
            "arn": c["EndpointConfigArn"], "id": cfg_name, "name": cfg_name, "tags": tags, "tags_all": tags,
            "kms_key_arn": "", "name_prefix": "",
            "production_variants": [{"variant_name": "variant-1", "model_name": model_name,
                                     "initial_instance_count": count, "instance_type": itype,
                                     "initial_variant_weight": 1, "model_data_download_timeout_in_seconds": 3600,
                                     "accelerator_type": "", "container_startup_health_check_timeout_in_seconds": 0,
                                     "core_dump_config": [], "enable_ssm_access": False, "serverless_config": [],
                                     "volume_size_in_gb": 0, "routing_config": [], "inference_ami_version": ""}],
            "async_inference_config": [], "data_capture_config": [], "shadow_production_variants": []}))
        ep_name = f"{entry['endpoint_name']}-{hex8}"
        e = sm.create_endpoint(EndpointName=ep_name, EndpointConfigName=cfg_name, Tags=tag_list)
        endpoints.append((name, {
            "arn": e["EndpointArn"], "id": ep_name, "name": ep_name, "endpoint_config_name": cfg_name,
            "tags": tags, "tags_all": tags, "deployment_config": []}))
    resources += [
        _res(module, "random_id", "instance_suffix", suffixes,
             provider='provider["registry.terraform.io/hashicorp/random"]'),
        _res(module, "aws_sagemaker_model", "esm_model", models),
        _res(module, "aws_sagemaker_endpoint_configuration", "esm_endpoint_config", configs),
        _res(module, "aws_sagemaker_endpoint", "esm_endpoint", endpoints),
    ]
    outputs: dict[str, Any] = {}
    if shared:
        user_name = f"{prefix}-shared-invoke-{environment}"
        user = iam.create_user(UserName=user_name, Tags=tag_list)["User"]
        doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["sagemaker:InvokeEndpoint"],
                                                        "Resource": "*"}]}
        policy_name = f"{prefix}-shared-invoke-policy-{environment}-{user_name}"
        pol = iam.create_policy(PolicyName=policy_name, PolicyDocument=json.dumps(doc),
                                Description="Policy to allow invoking SageMaker endpoints")["Policy"]
        iam.attach_user_policy(UserName=user_name, PolicyArn=pol["Arn"])
        key = iam.create_access_key(UserName=user_name)["AccessKey"]
        resources += [
            _res(module, "aws_iam_user", "shared_service_user", [(0, {
                "arn": user["Arn"], "id": user_name, "name": user_name, "path": "/", "tags": tags,
                "tags_all": tags, "unique_id": user["UserId"], "force_destroy": False, "permissions_boundary": ""})]),
            _res(module, "aws_iam_policy", "shared_invoke_policy", [(0, {
                "arn": pol["Arn"], "id": pol["Arn"], "name": policy_name, "path": "/", "policy": json.dumps(doc),
                "description": "Policy to allow invoking SageMaker endpoints", "policy_id": pol["PolicyId"],
                "tags": {}, "tags_all": {}, "attachment_count": 1, "name_prefix": ""})]),
            _res(module, "aws_iam_user_policy_attachment", "shared_invoke_policy_attachment", [(0, {
                "id": f"{user_name}-20250101000000000000000002", "policy_arn": pol["Arn"], "user": user_name})]),
            _res(module, "aws_iam_access_key", "shared_service_access_key", [(0, {
                "id": key["AccessKeyId"], "user": user_name, "secret": key["SecretAccessKey"], "status": "Active",
                "create_date": key["CreateDate"].strftime("%Y-%m-%dT%H:%M:%SZ"), "encrypted_secret": None,
                "encrypted_ses_smtp_password_v4": None, "key_fingerprint": None, "pgp_key": None,
                "ses_smtp_password_v4": "x"})]),
        ]
        outputs = {
            "shared_service_user_access_key_id": {"value": {user_name: key["AccessKeyId"]},
                                                  "type": ["map", "string"]},
            "shared_service_user_secret_access_key": {"value": {user_name: key["SecretAccessKey"]},
                                                      "type": ["map", "string"], "sensitive": True},
        }
    return {"version": 4, "terraform_version": "1.9.8", "serial": 7, "lineage": str(uuid.uuid4()),
            "outputs": outputs, "resources": resources, "check_results": None}


def show_json(state: dict[str, Any]) -> dict[str, Any]:
    """The `terraform show -json` form of a version 4 state."""
    modules: dict[str, list[dict[str, Any]]] = {}
    root: list[dict[str, Any]] = []
    for r in state["resources"]:
        mod = r.get("module", "")
        for inst in r["instances"]:
            key = inst.get("index_key")
            idx = "" if key is None else f"[{json.dumps(key)}]"
            addr = f"{mod + '.' if mod else ''}{r['type']}.{r['name']}{idx}"
            item = {"address": addr, "mode": r["mode"], "type": r["type"], "name": r["name"],
                    "provider_name": r["provider"].split('"')[1], "schema_version": inst["schema_version"],
                    "values": inst["attributes"], "sensitive_values": {}}
            if key is not None:
                item["index"] = key
            (modules.setdefault(mod, []) if mod else root).append(item)
    return {"format_version": "1.0", "terraform_version": state["terraform_version"],
            "values": {"outputs": {k: {"sensitive": v.get("sensitive", False), "value": v["value"]}
                                   for k, v in state["outputs"].items()},
                       "root_module": {"resources": root,
                                       "child_modules": [{"address": m, "resources": rs}
                                                         for m, rs in modules.items()]}}}
