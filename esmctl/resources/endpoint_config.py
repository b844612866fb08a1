"""The endpoint config of a deployment: which model, on which instance type × count.

Replaced (a new name, the old one retired) when the model or the hardware changes; recreated
under its recorded name when it vanished; the retired one is deleted once the endpoint runs on
its successor. A config created in this run is confirmed with DescribeEndpointConfig before an
endpoint uses it (AWS's eventual consistency; esmctl/aws/consistency.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from esmctl import naming
from esmctl.errors import AlreadyExists
from esmctl.resources import model
from esmctl.resources._base import Action, Planning, Run, Spec, change, handler, reads
from esmctl.state import ConfigRecord, Retired

if TYPE_CHECKING:
    from esmctl.aws import Aws
    from esmctl.observe import Observed
    from esmctl.state import DeploymentState

PLAN_ORDER = 30  # when it plans (after the model: it names the model)
SECTION = 40  # where its shared steps run and show (teardown: reverse)

reads(__name__, {"sagemaker:ListEndpointConfigs": "any"})
NEW = "endpoint_config.new"  # memo: the configs this run created


@dataclass(frozen=True)
class EndpointConfig(Spec):
    model_name: str = ""
    instance_type: str = ""
    instance_count: int = 0
    replaces: str = ""


def read(aws: Aws) -> dict[str, str]:
    """Every endpoint config of the account (one paginated ListEndpointConfigs): lowercase name → ARN."""
    return {c["EndpointConfigName"].lower(): c["EndpointConfigArn"] for c in aws.sagemaker.list_endpoint_configs()}


def reconcile(name: str, dep: DeploymentState, observed: Observed) -> list[str]:
    """Refresh one deployment's endpoint config records (as the model's)."""
    dep.retired = [r for r in dep.retired if r.kind != "endpoint_config" or observed.has_config(r.name)]
    return model.reconcile_record(name, dep.endpoint_config, observed.configs, "endpoint config")


def plan(ctx: Planning) -> None:
    for p in ctx.deployments.values():
        want, have = p.want, p.have
        cfg = have.endpoint_config if have else None
        spec = EndpointConfig("", p.model_name, want.instance_type, want.instance_count)
        hardware = f"{want.instance_type} × {want.instance_count}"
        if cfg is None:
            p.config_name = naming.endpoint_config_name(want.endpoint_name, p.suffix)
            ctx.add("create", _named(spec, p.config_name), p.name, reason=hardware)
        elif cfg.model_name != p.model_name or (cfg.instance_type, cfg.instance_count) != (
                want.instance_type, want.instance_count):
            p.config_name = naming.endpoint_config_name(want.endpoint_name, ctx.new_suffix())
            why = p.model_reason and "new model" or ", ".join(x for x in (
                change("instance_type", cfg.instance_type, want.instance_type),
                change("instance_count", cfg.instance_count, want.instance_count)) if x)
            ctx.add("create", _named(spec, p.config_name, cfg.name), p.name, reason=f"replaces {cfg.name}: {why}")
            p.retired.append(("endpoint_config", cfg.name))
        else:
            p.config_name = cfg.name
            if not ctx.observed.has_config(cfg.name):
                ctx.add("create", _named(spec, p.config_name), p.name, reason="missing in AWS: recreate")
        p.retired += [("endpoint_config", r.name) for r in (have.retired if have else [])
                      if r.kind == "endpoint_config"]
    for name, (have, _) in ctx.removed.items():
        names = ([have.endpoint_config.name] if have.endpoint_config else []) + [
            r.name for r in have.retired if r.kind == "endpoint_config"]
        for c in names:
            if ctx.observed.has_config(c):
                ctx.add("delete", EndpointConfig(c), name)


def cleanup(ctx: Planning) -> None:
    """Retired configs go once the endpoint runs on their successor (or is stopped)."""
    ctx.retire("endpoint_config", EndpointConfig, ctx.observed.has_config)


def _named(spec: EndpointConfig, name: str, replaces: str = "") -> EndpointConfig:
    from dataclasses import replace
    return replace(spec, name=name, replaces=replaces)


@handler("create", EndpointConfig, action="create_endpoint_config", symbol="+", resource="endpoint config",
         order=30, iam={"sagemaker:CreateEndpointConfig": "endpoint-config", "sagemaker:AddTags": "endpoint-config",
                        "sagemaker:DescribeEndpointConfig": "endpoint-config"})
def create(run: Run, a: Action) -> None:
    s = a.spec
    assert isinstance(s, EndpointConfig)
    with run.store.change():
        dep = run.deployment(a)
        if s.replaces and dep.endpoint_config and dep.endpoint_config.name == s.replaces:
            dep.retired.append(Retired(kind="endpoint_config", name=dep.endpoint_config.name))
        dep.endpoint_config = ConfigRecord(name=a.name, model_name=s.model_name, instance_type=s.instance_type,
                                           instance_count=s.instance_count)
    try:
        arn = run.aws.sagemaker.create_endpoint_config(
            a.name, model_name=s.model_name, instance_type=s.instance_type, instance_count=s.instance_count,
            tags=run.tags(a.deployment))
    except AlreadyExists:
        arn = (run.aws.sagemaker.describe_endpoint_config(a.name) or {}).get("EndpointConfigArn", "")
    run.record_created(a, "endpoint_config", arn)
    with run.lock:
        run.memo.setdefault(NEW, set()).add(a.name)


def confirm(run: Run, name: str) -> None:
    """Before an endpoint uses a config this run created: wait until AWS shows it."""
    if name in run.recall(NEW, set()):
        run.aws.sagemaker.confirm_endpoint_config(name)


@handler("delete", EndpointConfig, action="delete_endpoint_config", symbol="-", resource="endpoint config",
         order=80, iam={"sagemaker:DeleteEndpointConfig": "endpoint-config"})
def delete(run: Run, a: Action) -> None:
    run.aws.sagemaker.delete_endpoint_config(a.name)
    model.forget(run, a.deployment, "endpoint_config", a.name)
