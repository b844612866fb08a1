"""import-terraform's reading of Terraform states (esmctl/tfimport.py): pure, no AWS."""

from __future__ import annotations

import json
from typing import Any

import pytest

from esmctl import config as config_mod
from esmctl.tfimport import ImportError_, adopt, read
from tests.tf_fixture import EXAMPLES, show_json

ACCOUNT = "123456789012"
PKG = "arn:aws:sagemaker:us-east-2:057799348421:model-package/esmc-300m-2024-12-6ad677e3dc243fb1b56e5787b7f93b53"


def module_resources(module: str = "module.esm", env: str = "dev", suffix: str = "2df2c3dd",
                     secret: str | None = "s3cr3t/abcdefghijklmnopqrstuvwxyz0123456789") -> list[dict[str, Any]]:
    """The module's resources for one deployment `prototype_model` and the shared user, v4 layout."""
    def res(type_: str, name: str, attrs: dict[str, Any], key: Any = None) -> dict[str, Any]:
        inst: dict[str, Any] = {"schema_version": 0, "attributes": attrs}
        if key is not None:
            inst["index_key"] = key
        r: dict[str, Any] = {"mode": "managed", "type": type_, "name": name, "provider": "p", "instances": [inst]}
        return {"module": module, **r} if module else r

    sm = f"arn:aws:sagemaker:us-east-2:{ACCOUNT}"
    role = f"esm-sagemaker-exec-{env}"
    user = f"esm-shared-invoke-{env}"
    return [
        res("aws_iam_role", "sagemaker_execution_role", {"name": role, "arn": f"arn:aws:iam::{ACCOUNT}:role/{role}",
                                                         "tags": {"Environment": env, "Team": "ml"}}),
        res("aws_iam_role_policy_attachment", "a", {"role": role,
                                                    "policy_arn": "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"}),
        res("random_id", "instance_suffix", {"hex": suffix}, "prototype_model"),
        res("aws_sagemaker_model", "m", {"name": f"Model-ESMC-300M-1-{suffix}", "arn": f"{sm}:model/x",
                                         "primary_container": [{"model_package_name": PKG}]}, "prototype_model"),
        res("aws_sagemaker_endpoint_configuration", "c", {
            "name": f"EndpointConfig-Endpoint-ESMC-300M-1-{suffix}", "arn": f"{sm}:endpoint-config/x",
            "production_variants": [{"instance_type": "ml.g5.12xlarge", "initial_instance_count": 2}]},
            "prototype_model"),
        res("aws_sagemaker_endpoint", "e", {"name": f"Endpoint-ESMC-300M-1-{suffix}", "arn": f"{sm}:endpoint/x",
                                            "endpoint_config_name": f"EndpointConfig-Endpoint-ESMC-300M-1-{suffix}"},
            "prototype_model"),
        res("aws_iam_user", "u", {"name": user, "arn": f"arn:aws:iam::{ACCOUNT}:user/{user}"}, 0),
        res("aws_iam_policy", "p", {"name": f"esm-shared-invoke-policy-{env}-{user}",
                                    "arn": f"arn:aws:iam::{ACCOUNT}:policy/x"}, 0),
        res("aws_iam_user_policy_attachment", "pa",
            {"user": user, "policy_arn": f"arn:aws:iam::{ACCOUNT}:policy/x"}, 0),
        res("aws_iam_access_key", "k", {"id": "AKIAEXAMPLE", "secret": secret, "create_date": "2025-01-01T00:00:00Z"},
            0),
    ]


def v4(resources: list[dict[str, Any]]) -> bytes:
    return json.dumps({"version": 4, "terraform_version": "1.9.8", "serial": 3, "lineage": "l",
                       "outputs": {}, "resources": resources}).encode()


CATALOG = config_mod.load_catalog(EXAMPLES / "models.yaml")


def test_adopts_names_suffixes_hardware_and_settings() -> None:
    imp = adopt(read(v4(module_resources()), "tf.json"), CATALOG)
    assert imp.module == "module.esm"
    s = imp.settings
    assert (s["environment"], s["region"], s["iam_role_name_prefix"]) == ("dev", "us-east-2", "esm")
    assert s["tags"] == {"Environment": "dev", "Team": "ml"}
    assert s["selected_models"] == {"prototype_model": {"selector": "ESMC-300M", "instance_type": "ml.g5.12xlarge",
                                                        "instance_count": 2}}
    assert s["enable_shared_service_account"] is True and s["shared_service_account_name"] == ""
    dep = imp.state.deployments["prototype_model"]
    assert dep.suffix == "2df2c3dd"
    assert dep.endpoint is not None and dep.endpoint.name == "Endpoint-ESMC-300M-1-2df2c3dd"
    assert imp.state.account_id == ACCOUNT and imp.state.role is not None and imp.state.role.policy_attached
    assert imp.access_key == ("AKIAEXAMPLE", "s3cr3t/abcdefghijklmnopqrstuvwxyz0123456789")
    assert "s3cr3t" not in imp.state.model_dump_json()
    assert imp.state.shared_account is not None and imp.state.shared_account.policy_endpoints == ["*"]


def test_show_json_reads_the_same_as_the_state_file() -> None:
    doc = json.loads(v4(module_resources()))
    for r in doc["resources"]:
        r["provider"] = 'provider["registry.terraform.io/hashicorp/aws"]'
    a = adopt(read(json.dumps(doc).encode(), "a"), CATALOG)
    b = adopt(read(json.dumps(show_json(doc)).encode(), "b"), CATALOG)
    assert a.settings == b.settings
    assert a.state.model_dump(exclude={"lineage"}) == b.state.model_dump(exclude={"lineage"})


def test_several_module_instances_need_module() -> None:
    resources = read(v4(module_resources("module.esm_dev", "dev") + module_resources("module.esm_prod", "prod",
                                                                                     "0badc0de")), "tf.json")
    with pytest.raises(ImportError_, match="2 ESM modules: module.esm_dev, module.esm_prod"):
        adopt(resources, CATALOG)
    assert adopt(resources, CATALOG, module="esm_prod").settings["environment"] == "prod"
    with pytest.raises(ImportError_, match="no ESM module at module.nope"):
        adopt(resources, CATALOG, module="nope")


def test_the_root_module_works_too() -> None:
    imp = adopt(read(v4(module_resources(module="")), "tf.json"), CATALOG)
    assert imp.module == "" and list(imp.state.deployments) == ["prototype_model"]


def test_a_secret_encrypted_with_pgp_is_not_adopted_and_said_so() -> None:
    imp = adopt(read(v4(module_resources(secret=None)), "tf.json"), CATALOG)
    assert imp.access_key is None
    assert any("replaces the key" in n for n in imp.notes)


@pytest.mark.parametrize(("doc", "message"), [
    (b"not json", "is not JSON"),
    (json.dumps({"version": 3, "modules": []}).encode(), "format version 3"),
    (json.dumps({"format_version": "1.2", "planned_values": {}}).encode(), "a plan, not a state"),
    (v4([]), "no SageMaker endpoint"),
])
def test_what_is_not_a_state_of_the_module_is_refused(doc: bytes, message: str) -> None:
    with pytest.raises(ImportError_, match=message):
        adopt(read(doc, "tf.json"), CATALOG)


def test_a_model_the_catalog_does_not_know_is_refused() -> None:
    resources = module_resources()
    resources[3]["instances"][0]["attributes"]["name"] = "Model-Custom-9-2df2c3dd"
    with pytest.raises(ImportError_, match="sagemaker_model_name 'Model-Custom-9'"):
        adopt(read(v4(resources), "tf.json"), CATALOG)


def test_deposed_objects_and_a_forks_extra_resources_are_not_adopted() -> None:
    resources = module_resources()
    cfg = resources[4]["instances"][0]
    old = json.loads(json.dumps(cfg))
    old["attributes"]["name"] = "EndpointConfig-Endpoint-ESMC-300M-1-0ld0ld00"
    resources[4]["instances"].append({**old, "deposed": "00000001"})  # after the current one, as Terraform writes
    resources.append({"module": "module.esm", "mode": "managed", "type": "aws_iam_policy", "name": "audit",
                      "provider": "p", "instances": [{"index_key": 0, "attributes": {
                          "name": "esm-audit", "arn": f"arn:aws:iam::{ACCOUNT}:policy/esm-audit"}}]})
    resources.append({"module": "module.esm", "mode": "managed", "type": "aws_cloudwatch_metric_alarm",
                      "name": "errors", "provider": "p", "instances": [{"attributes": {"alarm_name": "x"}}]})
    imp = adopt(read(v4(resources), "tf.json"), CATALOG)
    cfg_rec = imp.state.deployments["prototype_model"].endpoint_config
    assert cfg_rec is not None and cfg_rec.name == "EndpointConfig-Endpoint-ESMC-300M-1-2df2c3dd"
    shared = imp.state.shared_account
    assert shared is not None and shared.policy_name == "esm-shared-invoke-policy-dev-esm-shared-invoke-dev"
    assert not imp.complete and "module.esm.aws_iam_policy.audit[0]" not in imp.addresses
    assert any("stay in Terraform" in n and "aws_cloudwatch_metric_alarm.errors" in n for n in imp.notes)
