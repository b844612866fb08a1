"""The execution role SageMaker assumes to run the models, and its AmazonSageMakerFullAccess
attachment (the module's `aws_iam_role` + `aws_iam_role_policy_attachment`).

Made unless `execution_role_arn:` names one; created before anything else, deleted after
everything else (`destroy`). A role of that name made by someone else is never taken over.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from esmctl import naming
from esmctl.errors import AlreadyExists, AwsError
from esmctl.observe import ObservedRole
from esmctl.resources._base import Action, Planning, Run, Spec, handler, reads
from esmctl.state import RoleRecord

if TYPE_CHECKING:
    from esmctl.aws import Aws
    from esmctl.config import Config
    from esmctl.observe import Observed
    from esmctl.state import State

PLAN_ORDER = 10  # when it plans (before everything: the models run with it)
SECTION = 10  # where its shared steps run and show (teardown: reverse)

UNTAGGED = "esmctl's tags missing: add them"

reads(__name__, {"iam:GetRole": "execution-role", "iam:ListAttachedRolePolicies": "execution-role"})


@dataclass(frozen=True)
class Role(Spec):
    """`name` is the role's."""


@dataclass(frozen=True)
class RolePolicy(Spec):
    """The managed policy attachment; `name` is the role's."""

    policy_arn: str = ""


def read(aws: Aws, config: Config | None, state: State | None) -> ObservedRole | None:
    """esmctl's execution role as IAM has it (GetRole, ListAttachedRolePolicies); None when it has none."""
    name = _role_name(config, state)
    if not name:
        return None
    r = aws.iam.get_role(name)
    if r is None:
        return None
    attached = {p["PolicyArn"] for p in aws.iam.list_attached_role_policies(name)}
    return ObservedRole(name=r["RoleName"], arn=r["Arn"],
                        policy_attached=naming.managed_policy_arn(aws.region) in attached,
                        tags={t["Key"]: t["Value"] for t in r.get("Tags", [])})


def _role_name(config: Config | None, state: State | None) -> str | None:
    if state is not None and state.role is not None and state.role.created_by_esmctl:
        return state.role.name
    if config is not None and config.creates_role:
        return config.role_name
    return None


def reconcile(state: State, observed: Observed, environment: str) -> list[str]:
    """Refresh: the role's record from what IAM has; drift when it was deleted or lost its policy.
    A role of that name not made by esmctl for this environment is refused."""
    drift: list[str] = []
    role = observed.role
    if role is not None:
        ours = role.tags.get(naming.TAG_ENVIRONMENT) == environment
        if state.role is None and not ours:
            raise AwsError(
                f"The IAM role {role.name} already exists and was not made by esmctl for environment "
                f"{environment!r}.",
                hint="Set `execution_role_arn:` in esmctl.yaml to use it, or change `iam_role_name_prefix` "
                "or `environment` so esmctl makes its own.")
        if state.role is None:
            state.role = RoleRecord(name=role.name, created_by_esmctl=True)
        state.role.arn, state.role.created, state.role.policy_attached = role.arn, True, role.policy_attached
        if not role.policy_attached:
            drift.append(f"role {role.name}: {naming.MANAGED_POLICY_NAME} is not attached")
    elif state.role is not None and state.role.created and state.role.created_by_esmctl:
        drift.append(f"role {state.role.name}: deleted outside esmctl")
        state.role.created = False
        state.role.policy_attached = False

    return drift


def applies(config: Config, state: State | None) -> bool:
    """esmctl makes the role, or made one it must still delete."""
    return config.creates_role or bool(state and state.role and state.role.created_by_esmctl)


def plan(ctx: Planning) -> None:
    cfg, st, obs = ctx.config, ctx.state, ctx.observed
    policy = RolePolicy("", naming.managed_policy_arn(ctx.region))
    if not ctx.destroy and cfg is not None and cfg.creates_role and cfg.deployments:
        name = cfg.role_name
        policy = RolePolicy(name, naming.managed_policy_arn(cfg.region))
        if obs.role is None:
            ctx.add("create", Role(name), phase="pre")
            ctx.add("attach", policy, phase="pre")
        else:
            if obs.role.tags.get(naming.TAG_ENVIRONMENT) != cfg.environment:  # adopted (import-terraform)
                ctx.add("tag", Role(name), phase="pre", reason=UNTAGGED)
            if not obs.role.policy_attached:
                ctx.add("attach", policy, phase="pre")
    if ctx.destroy and ctx.whole and st and st.role and st.role.created_by_esmctl:
        name = st.role.name
        if obs.role is not None or not st.role.created:
            if obs.role is None or obs.role.policy_attached:
                ctx.add("detach", RolePolicy(name, naming.managed_policy_arn(st.region or obs.region)), phase="post")
            ctx.add("delete", Role(name), phase="post")


def role_arn(run: Run) -> str:
    """The execution role models run with: the configured one, or esmctl's own."""
    assert run.config is not None
    if run.config.settings.execution_role_arn:
        return run.config.settings.execution_role_arn
    role = run.store.state.role
    if role is None or not role.arn:
        raise AwsError("The execution role is not known yet.", hint="Run `esmctl deploy` again.")
    return role.arn


@handler("create", Role, action="create_role", symbol="+", resource="role", order=0,
         iam={"iam:CreateRole": "execution-role", "iam:TagRole": "execution-role", "iam:GetRole": "execution-role"})
def create(run: Run, a: Action) -> None:
    assert run.config is not None
    with run.store.change() as st:
        st.role = RoleRecord(name=a.name, created_by_esmctl=True)
    try:
        role = run.aws.iam.create_role(a.name, tags=run.tags(naming.SHARED))
    except AlreadyExists:
        role = run.aws.iam.get_role(a.name) or {}
        tags = {t["Key"]: t["Value"] for t in role.get("Tags", [])}
        if tags.get(naming.TAG_ENVIRONMENT) != run.config.environment:
            with run.store.change() as st:
                st.role = None
            raise AwsError(
                f"The IAM role {a.name} already exists and was not made by esmctl for this environment.",
                hint="Set `execution_role_arn:` in esmctl.yaml to use it, or change "
                "`iam_role_name_prefix`/`environment` so esmctl makes its own.") from None
    with run.store.change() as st:
        assert st.role is not None
        st.role.arn, st.role.created = role["Arn"], True


@handler("attach", RolePolicy, action="attach_role_policy", symbol="+", resource="role policy attachment",
         order=1, iam={"iam:AttachRolePolicy": "execution-role"})
def attach(run: Run, a: Action) -> None:
    assert isinstance(a.spec, RolePolicy)
    run.aws.iam.attach_role_policy(a.name, a.spec.policy_arn)
    _record_attached(run, True)


@handler("detach", RolePolicy, action="detach_role_policy", symbol="-", resource="role policy attachment",
         order=2, iam={"iam:DetachRolePolicy": "execution-role"})
def detach(run: Run, a: Action) -> None:
    assert isinstance(a.spec, RolePolicy)
    run.aws.iam.detach_role_policy(a.name, a.spec.policy_arn)
    _record_attached(run, False)


def _record_attached(run: Run, attached: bool) -> None:
    with run.store.change() as st:
        if st.role is not None:
            st.role.policy_attached = attached


@handler("delete", Role, action="delete_role", symbol="-", resource="role", order=3,
         iam={"iam:DeleteRole": "execution-role"})
def delete(run: Run, a: Action) -> None:
    run.aws.iam.delete_role(a.name)
    with run.store.change() as st:
        st.role = None


@handler("tag", Role, action="tag_role", symbol="~", resource="tags of role", order=0,
         iam={"iam:TagRole": "execution-role"})
def tag(run: Run, a: Action) -> None:
    run.aws.iam.tag_role(a.name, run.tags(naming.SHARED))
