"""The planner, on plain data: desired × state × observed → actions. No AWS, no I/O."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from esmctl import config, naming
from esmctl.observe import Observed, ObservedEndpoint, ObservedRole
from esmctl.observe import from_state as observed_from_state
from esmctl.plan import Plan, plan
from esmctl.state import ConfigRecord, DeploymentState, EndpointRecord, ModelRecord, Retired, RoleRecord, State

PKG = ("arn:aws:sagemaker:us-east-2:057799348421:model-package/"
       "esmc-300m-2024-12-6ad677e3dc243fb1b56e5787b7f93b53")


def suffixes():  # deterministic "random" suffixes
    counter = itertools.count(1)
    return lambda: f"{next(counter):08x}"


@pytest.fixture
def cfg(project: Path) -> config.Config:
    return config.load(project / "esmctl.yaml")


def deployed(cfg: config.Config, name: str, suffix: str, itype: str | None = None) -> DeploymentState:
    d = cfg.deployments[name]
    itype = itype or d.instance_type
    return DeploymentState(
        selector=d.selector, suffix=suffix, forge_model_name=d.forge_model_name,
        model=ModelRecord(name=f"Model-ESMC-300M-1-{suffix}", created=True, model_package=d.model_package,
                          selector=d.selector, forge_model_name=d.forge_model_name),
        endpoint_config=ConfigRecord(name=f"EndpointConfig-Endpoint-ESMC-300M-1-{suffix}", created=True,
                                     model_name=f"Model-ESMC-300M-1-{suffix}", instance_type=itype,
                                     instance_count=1),
        endpoint=EndpointRecord(name=f"Endpoint-ESMC-300M-1-{suffix}", created=True, status="InService",
                                config_name=f"EndpointConfig-Endpoint-ESMC-300M-1-{suffix}"),
    )


def full_state(cfg: config.Config) -> State:
    st = State(region="us-east-2", environment="dev", account_id="123456789012")
    st.role = RoleRecord(name="esm-sagemaker-exec-dev", arn="arn:aws:iam::123456789012:role/esm-sagemaker-exec-dev",
                         created=True, policy_attached=True)
    st.deployments["prototype_model"] = deployed(cfg, "prototype_model", "2df2c3dd")
    st.deployments["performance_model"] = deployed(cfg, "performance_model", "0badcafe")
    return st


def kinds(p: Plan) -> list[tuple[str, str, str]]:
    return [(a.action, a.deployment, a.name) for a in p.shown]


def test_fresh_deploy_creates_role_and_three_resources_per_deployment(cfg: config.Config) -> None:
    p = plan(cfg, None, Observed("", "us-east-2"), new_suffix=suffixes())
    assert kinds(p)[:2] == [("create_role", "-", "esm-sagemaker-exec-dev"),
                            ("attach_role_policy", "-", "esm-sagemaker-exec-dev")]
    perf = [a for a in p.actions if a.deployment == "performance_model"]
    assert [(a.action, a.name) for a in perf] == [
        ("create_model", "Model-ESMC-300M-1-00000001"),
        ("create_endpoint_config", "EndpointConfig-Endpoint-ESMC-300M-1-00000001"),
        ("create_endpoint", "Endpoint-ESMC-300M-1-00000001"),
    ]
    assert perf[1].spec.instance_type == "ml.g5.4xlarge"
    assert p.summary() == "Plan: 8 to add, 0 to change, 0 to destroy."
    assert p.cost_before == 0 and p.cost_after == pytest.approx(1.515 + 2.03)


def test_matching_world_plans_nothing(cfg: config.Config) -> None:
    st = full_state(cfg)
    p = plan(cfg, st, observed_from_state(st, "us-east-2"))
    assert p.actions == () and p.empty
    assert p.summary() == "Plan: 0 to add, 0 to change, 0 to destroy."


def test_instance_type_change_is_new_config_and_update_keeping_the_endpoint(cfg: config.Config) -> None:
    st = full_state(cfg)
    st.deployments["prototype_model"] = deployed(cfg, "prototype_model", "2df2c3dd", itype="ml.g5.xlarge")
    p = plan(cfg, st, observed_from_state(st, "us-east-2"), new_suffix=suffixes())
    assert kinds(p) == [
        ("create_endpoint_config", "prototype_model", "EndpointConfig-Endpoint-ESMC-300M-1-00000001"),
        ("update_endpoint", "prototype_model", "Endpoint-ESMC-300M-1-2df2c3dd"),
        ("delete_endpoint_config", "prototype_model", "EndpointConfig-Endpoint-ESMC-300M-1-2df2c3dd"),
    ]
    assert p.actions[-1].phase == "after_wait"  # only once the endpoint is confirmed on the new config
    assert p.summary() == "Plan: 1 to add, 1 to change, 1 to destroy."


def test_model_package_change_replaces_model_and_config(cfg: config.Config) -> None:
    st = full_state(cfg)
    st.deployments["prototype_model"].model.model_package = PKG.replace("6ad6", "0000")  # type: ignore[union-attr]
    p = plan(cfg, st, observed_from_state(st, "us-east-2"), new_suffix=suffixes())
    assert [k for k, _, _ in kinds(p)] == ["create_model", "create_endpoint_config", "update_endpoint",
                                           "delete_endpoint_config", "delete_model"]


def test_removed_deployment_deletes_its_three_resources(cfg: config.Config) -> None:
    st = full_state(cfg)
    st.deployments["old_one"] = deployed(cfg, "prototype_model", "11111111")
    p = plan(cfg, st, observed_from_state(st, "us-east-2"))
    assert kinds(p) == [
        ("delete_endpoint", "old_one", "Endpoint-ESMC-300M-1-11111111"),
        ("delete_endpoint_config", "old_one", "EndpointConfig-Endpoint-ESMC-300M-1-11111111"),
        ("delete_model", "old_one", "Model-ESMC-300M-1-11111111"),
    ]
    assert p.actions[-1].action == "forget_deployment"  # the record goes once its resources are gone
    assert p.cost_after < p.cost_before


def test_failed_endpoint_is_replaced_vanished_is_recreated(cfg: config.Config) -> None:
    st = full_state(cfg)
    obs = observed_from_state(st, "us-east-2")
    endpoints = dict(obs.endpoints)
    endpoints["endpoint-esmc-300m-1-2df2c3dd"] = ObservedEndpoint(
        "Endpoint-ESMC-300M-1-2df2c3dd", "arn", "Failed", failure_reason="CUDA out of memory")
    del endpoints["endpoint-esmc-300m-1-0badcafe"]
    obs = Observed(obs.account_id, obs.region, obs.models, obs.configs, endpoints, obs.role)
    p = plan(cfg, st, obs)
    assert kinds(p) == [("create_endpoint", "performance_model", "Endpoint-ESMC-300M-1-0badcafe"),
                        ("replace_endpoint", "prototype_model", "Endpoint-ESMC-300M-1-2df2c3dd")]
    assert "CUDA out of memory" in p.actions[1].reason
    assert "vanished" in p.actions[0].reason
    assert p.summary() == "Plan: 2 to add, 0 to change, 1 to destroy."


def test_recorded_but_never_created_names_are_reused(cfg: config.Config) -> None:
    """A run killed after recording names: the next plan creates exactly those names."""
    st = full_state(cfg)
    obs = Observed("123456789012", "us-east-2",
                   role=ObservedRole("esm-sagemaker-exec-dev", "arn", True, {naming.TAG_ENVIRONMENT: "dev"}))
    p = plan(cfg, st, obs, new_suffix=suffixes())
    names = {a.name for a in p.actions}
    assert "Model-ESMC-300M-1-2df2c3dd" in names and "Endpoint-ESMC-300M-1-0badcafe" in names
    assert not any("0000000" in n for n in names)


def test_destroy_deletes_everything_then_the_role(cfg: config.Config) -> None:
    st = full_state(cfg)
    st.deployments["prototype_model"].retired.append(Retired(kind="endpoint_config", name="EndpointConfig-old"))
    obs = observed_from_state(st, "us-east-2")
    p = plan(cfg, st, obs, destroy=True)
    ks = [k for k, _, _ in kinds(p)]
    assert ks[-2:] == ["detach_role_policy", "delete_role"]
    assert ks.count("delete_endpoint") == 2 and ks.count("delete_model") == 2
    assert ks.count("delete_endpoint_config") == 3  # the retired one too
    assert p.cost_after == 0


def test_targets_limit_the_plan(cfg: config.Config) -> None:
    p = plan(cfg, None, Observed("", "us-east-2"), targets=["prototype_model"], new_suffix=suffixes())
    assert kinds(p) == [
        ("create_role", "-", "esm-sagemaker-exec-dev"),
        ("attach_role_policy", "-", "esm-sagemaker-exec-dev"),
        ("create_model", "prototype_model", "Model-ESMC-300M-1-00000001"),
        ("create_endpoint_config", "prototype_model", "EndpointConfig-Endpoint-ESMC-300M-1-00000001"),
        ("create_endpoint", "prototype_model", "Endpoint-ESMC-300M-1-00000001"),
    ]
    assert p.cost_after == pytest.approx(1.515)  # performance_model is neither created nor priced


def test_a_ttl_plans_one_stop_timer_per_running_deployment_after_the_wait(cfg: config.Config) -> None:
    st = full_state(cfg)
    st.deployments["performance_model"].desired = "stopped"
    p = plan(cfg, st, observed_from_state(st, "us-east-2"), ttl=8 * 3600)
    assert kinds(p) == [("create_stop_timer", "prototype_model", "esmctl-dev-prototype_model-stop")]
    (timer,) = p.actions
    assert timer.phase == "post" and timer.spec.endpoint == "Endpoint-ESMC-300M-1-2df2c3dd"
    assert timer.spec.ttl == 8 * 3600 and timer.spec.role_name == "esm-stop-dev-2df2c3dd"
    assert "deletes Endpoint-ESMC-300M-1-2df2c3dd 8h after this deploy" in timer.describe()
    assert p.summary() == "Plan: 1 to add, 0 to change, 0 to destroy."


def test_every_planned_step_has_a_handler_and_declares_its_iam_actions() -> None:
    from esmctl.resources import REGISTRY, Action
    from esmctl.resources.model import Model

    for (verb, spec), h in REGISTRY.items():
        assert h.action and h.resource, (verb, spec)
        assert h.quiet or h.iam or h.action == "forget_deployment", f"{h.action} declares no IAM action"
        assert all(":" in a for a in h.iam), h.iam
    with pytest.raises(TypeError, match="no handler for update Model"):
        Action("update", Model("m"), "prototype_model")  # a model is replaced, never updated in place


def test_stopped_deployment_is_not_restarted(cfg: config.Config) -> None:
    st = full_state(cfg)
    st.deployments["prototype_model"].desired = "stopped"
    st.deployments["prototype_model"].endpoint.created = False  # type: ignore[union-attr]
    p = plan(cfg, st, observed_from_state(st, "us-east-2"))
    assert p.actions == ()
    assert p.stopped == ("prototype_model",)
