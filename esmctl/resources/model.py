"""The SageMaker model of a deployment: the Marketplace model package run by the execution role.

Replaced (a new name, the old one retired) when the package, selector or forge model changes;
recreated under its recorded name when it vanished. Retired models are deleted once the endpoint
runs on the config that replaced theirs. CreateModel is where AWS checks the Marketplace
subscription, so every new model is made before any endpoint config or endpoint (the `gate`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from esmctl import naming
from esmctl.errors import AlreadyExists
from esmctl.resources import role
from esmctl.resources._base import Action, Planning, Run, Spec, change, handler, reads
from esmctl.state import ModelRecord, Retired

if TYPE_CHECKING:
    from esmctl.aws import Aws
    from esmctl.observe import Observed
    from esmctl.state import DeploymentState

PLAN_ORDER = 20  # when it plans
SECTION = 30  # where its shared steps run and show (teardown: reverse)

reads(__name__, {"sagemaker:ListModels": "any"})


@dataclass(frozen=True)
class Model(Spec):
    model_package: str = ""
    selector: str = ""
    forge_model_name: str = ""
    suffix: str = ""  # the deployment's suffix, for a deployment recorded by this step
    replaces: str = ""  # the model this one retires


def read(aws: Aws) -> dict[str, str]:
    """Every model of the account (one paginated ListModels): lowercase name → ARN."""
    return {m["ModelName"].lower(): m["ModelArn"] for m in aws.sagemaker.list_models()}


def reconcile(name: str, dep: DeploymentState, observed: Observed) -> list[str]:
    """Refresh one deployment's model records: a retired one already gone is done; the current one is
    marked created when AWS has it (a run died before recording it), or reported deleted outside."""
    dep.retired = [r for r in dep.retired if r.kind != "model" or observed.has_model(r.name)]
    return reconcile_record(name, dep.model, observed.models, "model")


def reconcile_record(name: str, rec: Any, seen: dict[str, str], what: str) -> list[str]:
    """A model's or an endpoint config's record against the listing (lowercase name → ARN)."""
    if rec is None:
        return []
    if rec.name.lower() in seen:
        rec.created, rec.arn = True, seen[rec.name.lower()] or rec.arn
        return []
    if rec.created:
        rec.created = False
        return [f"{name}: {what} {rec.name} deleted outside esmctl"]
    return []


def plan(ctx: Planning) -> None:
    for p in ctx.deployments.values():
        want, have = p.want, p.have
        model = have.model if have else None
        spec = Model("", want.model_package, want.selector, want.forge_model_name)
        if model is None:
            p.model_name = naming.model_name(want.sagemaker_model_name, p.suffix)
            ctx.add("create", _with(spec, p.model_name, suffix=p.suffix), p.name)
        elif (model.model_package, model.selector, model.forge_model_name) != (
                want.model_package, want.selector, want.forge_model_name):
            p.model_name = naming.model_name(want.sagemaker_model_name, ctx.new_suffix())
            p.model_reason = change("selector", model.selector, want.selector) or change(
                "model_package", model.model_package, want.model_package) or change(
                "forge_model_name", model.forge_model_name, want.forge_model_name)
            ctx.add("create", _with(spec, p.model_name, replaces=model.name), p.name,
                    reason=f"replaces {model.name}: {p.model_reason}")
            p.retired.append(("model", model.name))
        else:
            p.model_name = model.name
            if not ctx.observed.has_model(model.name):
                ctx.add("create", _with(spec, p.model_name), p.name, reason="missing in AWS: recreate")
        p.retired += [("model", r.name) for r in (have.retired if have else []) if r.kind == "model"]
    for name, (have, _) in ctx.removed.items():
        for m in ([have.model.name] if have.model else []) + [r.name for r in have.retired if r.kind == "model"]:
            if ctx.observed.has_model(m):
                ctx.add("delete", Model(m), name)


def cleanup(ctx: Planning) -> None:
    """Retired models go once the endpoint runs on their successor's config (or is stopped)."""
    ctx.retire("model", Model, ctx.observed.has_model)


def _with(spec: Model, name: str, **kw: str) -> Model:
    from dataclasses import replace
    return replace(spec, name=name, **kw)


@handler("create", Model, action="create_model", symbol="+", resource="model", order=20,
         gate="creating any endpoint config or endpoint (nothing billable was made)",
         iam={"sagemaker:CreateModel": "model", "sagemaker:AddTags": "model", "iam:PassRole": "execution-role",
              "sagemaker:DescribeModel": "model"})
def create(run: Run, a: Action) -> None:
    s = a.spec
    assert isinstance(s, Model)
    with run.store.change():
        dep = run.deployment(a, s.suffix)
        if s.replaces and dep.model and dep.model.name == s.replaces:
            dep.retired.append(Retired(kind="model", name=dep.model.name))
        dep.model = ModelRecord(name=a.name, model_package=s.model_package, selector=s.selector,
                                forge_model_name=s.forge_model_name)
        dep.selector, dep.forge_model_name = s.selector, s.forge_model_name
    try:
        arn = run.aws.sagemaker.create_model(a.name, role_arn=role.role_arn(run), model_package=s.model_package,
                                             tags=run.tags(a.deployment))
    except AlreadyExists:  # made by an earlier run that died before recording it
        arn = (run.aws.sagemaker.describe_model(a.name) or {}).get("ModelArn", "")
    run.record_created(a, "model", arn)


@handler("delete", Model, action="delete_model", symbol="-", resource="model", order=90,
         iam={"sagemaker:DeleteModel": "model"})
def delete(run: Run, a: Action) -> None:
    run.aws.sagemaker.delete_model(a.name)
    forget(run, a.deployment, "model", a.name)


def forget(run: Run, deployment: str, kind: str, name: str) -> None:
    """A model or endpoint config gone from AWS: off the retired list; a current one marked not created
    (its record stays until the deployment is forgotten)."""
    with run.store.change() as st:
        dep = st.deployments.get(deployment)
        if dep is None:
            return
        dep.retired = [r for r in dep.retired if not (r.kind == kind and r.name == name)]
        current = dep.model if kind == "model" else dep.endpoint_config
        if current is not None and current.name == name:
            current.created = False
