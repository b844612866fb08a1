"""Plan stage: desired (config) × recorded (state) × observed (AWS) → an ordered, frozen Plan.

Pure: no I/O, no clock, no randomness of its own (new suffixes come from an injected function).
`plan` renders the Plan; `deploy` hands the same Plan to the executor. Updates keep the endpoint
name: a changed instance type/count gets a new endpoint config, a changed model package or selector
a new model and config, and the endpoint is moved with UpdateEndpoint; the old ones are "retired"
and deleted only once the endpoint is confirmed to run on the new config.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from esmctl import naming, prices
from esmctl.config import Config, Deployment
from esmctl.observe import BUSY, Observed, ObservedEndpoint, ObservedRole, ObservedShared
from esmctl.secrets import secret_name
from esmctl.state import DeploymentState, SharedAccountRecord, State

Phase = Literal["pre", "apply", "after_wait", "post"]

ADD = {"create_role", "attach_role_policy", "create_model", "create_endpoint_config", "create_endpoint",
       "create_user", "create_policy", "attach_user_policy", "create_access_key"}
CHANGE = {"update_endpoint", "update_policy", "tag_resource", "tag_role", "tag_user"}
DESTROY = {"delete_endpoint", "delete_endpoint_config", "delete_model", "detach_role_policy", "delete_role",
           "delete_access_key", "detach_user_policy", "delete_policy", "delete_user", "delete_secret",
           "delete_schedule"}
SYMBOL = {**{k: "+" for k in ADD}, **{k: "~" for k in CHANGE}, **{k: "-" for k in DESTROY},
          "replace_endpoint": "-/+", "forget_deployment": "-"}
RESOURCE = {
    "create_role": "role", "attach_role_policy": "role policy attachment", "create_model": "model",
    "create_endpoint_config": "endpoint config", "create_endpoint": "endpoint",
    "update_endpoint": "endpoint", "replace_endpoint": "endpoint", "delete_endpoint": "endpoint",
    "delete_endpoint_config": "endpoint config", "delete_model": "model",
    "detach_role_policy": "role policy attachment", "delete_role": "role",
    "forget_deployment": "deployment record",
    "create_user": "shared user", "create_policy": "shared invoke policy",
    "update_policy": "shared invoke policy", "attach_user_policy": "user policy attachment",
    "create_access_key": "access key for", "delete_access_key": "access key",
    "detach_user_policy": "user policy attachment", "delete_policy": "shared invoke policy",
    "delete_user": "shared user", "delete_secret": "stored secret",
    "delete_schedule": "stop timer",
    "tag_resource": "tags of", "tag_role": "tags of role", "tag_user": "tags of shared user",
}


UNTAGGED = "esmctl's tags missing: add them"


@dataclass(frozen=True)
class Action:
    """One step: an AWS call the executor makes (and the state change around it)."""

    kind: str
    deployment: str  # logical name, or "-" for shared resources
    name: str  # the resource's name
    phase: Phase = "apply"
    reason: str = ""
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def symbol(self) -> str:
        return SYMBOL[self.kind]

    def param(self, key: str, default: Any = None) -> Any:
        return dict(self.params).get(key, default)

    def describe(self) -> str:
        who = f"{self.deployment}: " if self.deployment != naming.SHARED else ""
        text = f"{self.symbol} {who}{RESOURCE[self.kind]} {self.name}"
        return text + (f"  ({self.reason})" if self.reason else "")

    def to_json(self) -> dict[str, Any]:
        return {"action": self.kind, "symbol": self.symbol, "deployment": self.deployment,
                "resource": RESOURCE[self.kind], "name": self.name, "phase": self.phase,
                "reason": self.reason, **{k: v for k, v in self.params}}


def _act(kind: str, deployment: str, name: str, phase: Phase = "apply", reason: str = "",
         **params: Any) -> Action:
    return Action(kind, deployment, name, phase, reason, tuple(sorted(params.items())))


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]
    notes: tuple[str, ...] = ()
    wait_for: tuple[str, ...] = ()  # endpoints already busy in AWS that deploy waits for
    cost_before: float = 0.0
    cost_after: float = 0.0
    unknown_prices: tuple[str, ...] = ()
    stopped: tuple[str, ...] = ()  # deployments kept stopped (not billed)

    @property
    def add(self) -> int:
        return sum(1 for a in self.actions if a.kind in ADD or a.kind == "replace_endpoint")

    @property
    def change(self) -> int:
        return sum(1 for a in self.actions if a.kind in CHANGE)

    @property
    def destroy(self) -> int:
        return sum(1 for a in self.actions if a.kind in DESTROY or a.kind == "replace_endpoint")

    @property
    def empty(self) -> bool:
        return not any(a.kind != "forget_deployment" for a in self.actions)

    def summary(self) -> str:
        return f"Plan: {self.add} to add, {self.change} to change, {self.destroy} to destroy."

    def by_deployment(self, phase: Phase) -> dict[str, list[Action]]:
        out: dict[str, list[Action]] = {}
        for a in self.actions:
            if a.phase == phase:
                out.setdefault(a.deployment, []).append(a)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "actions": [a.to_json() for a in self.actions],
            "summary": {"add": self.add, "change": self.change, "destroy": self.destroy},
            "changes": not self.empty,
            "notes": list(self.notes),
            "wait_for": list(self.wait_for),
            "stopped": list(self.stopped),
            "estimated_cost_per_hour": {"before": round(self.cost_before, 4),
                                        "after": round(self.cost_after, 4),
                                        "unknown_prices": list(self.unknown_prices)},
        }


def observed_from_state(state: State | None, region: str) -> Observed:
    """What AWS would report if the state were exact (for `--no-refresh`)."""
    if state is None:
        return Observed(account_id="", region=region)
    models, configs, endpoints = {}, {}, {}
    for dep in state.deployments.values():
        if dep.model and dep.model.created:
            models[dep.model.name.lower()] = dep.model.arn
        if dep.endpoint_config and dep.endpoint_config.created:
            configs[dep.endpoint_config.name.lower()] = dep.endpoint_config.arn
        for r in dep.retired:
            (models if r.kind == "model" else configs)[r.name.lower()] = ""
        ep = dep.endpoint
        if ep and ep.created and dep.desired == "running":
            endpoints[ep.name.lower()] = ObservedEndpoint(
                ep.name, ep.arn, ep.status or "InService", ep.config_name or None, ep.failure_reason)
    role = None
    if state.role and state.role.created:
        role = ObservedRole(state.role.name, state.role.arn, state.role.policy_attached,
                            {naming.TAG_ENVIRONMENT: state.environment})
    shared = None
    rec = state.shared_account
    if rec is not None:
        key = (rec.access_key_id,) if rec.access_key_id else ()
        shared = ObservedShared(rec.user_name, rec.user_arn if rec.user_created else "",
                                {naming.TAG_ENVIRONMENT: state.environment},
                                rec.policy_arn if rec.policy_created else "", rec.policy_attached,
                                key, rec.access_key_id or None,
                                {p.name: p.attached for p in rec.policy_parts if p.created})
    return Observed(state.account_id, state.region, models, configs, endpoints, role, shared)


def plan(
    config: Config | None,
    state: State | None,
    observed: Observed,
    *,
    new_suffix: Callable[[], str] = naming.new_suffix,
    targets: Iterable[str] = (),
    destroy: bool = False,
) -> Plan:
    """Everything `deploy` (or `destroy`) must do, in order."""
    targets = set(targets)
    desired: dict[str, Deployment] = {} if destroy or config is None else dict(config.deployments)
    recorded = dict(state.deployments) if state else {}
    in_scope = (lambda n: n in targets) if targets else (lambda n: True)
    actions: list[Action] = []
    notes: list[str] = []
    wait_for: list[str] = []
    stopped: list[str] = []

    if not destroy and config is not None and config.creates_role and desired:
        actions += _plan_role(config, state, observed)

    per_deployment: list[Action] = []
    endpoint_names: list[str] = []  # every endpoint of the environment once this plan is done
    for name in sorted(set(desired) | set(recorded)):
        want, have = desired.get(name), recorded.get(name)
        if not in_scope(name):  # kept as it is (`destroy --target` keeps the others: their endpoints stay)
            if (want is not None or destroy) and have is not None and have.endpoint is not None:
                endpoint_names.append(have.endpoint.name)
            continue
        if want is None and have is not None:
            per_deployment += _plan_removal(name, have, observed, "destroy" if destroy else "no longer selected")
        elif want is not None:
            if have is not None and have.desired == "stopped":
                stopped.append(name)
            acts, note, busy, ep_name = _plan_deployment(want, have, observed, new_suffix)
            per_deployment += acts
            notes += note
            wait_for += busy
            endpoint_names.append(ep_name)
    if not targets or destroy:
        account = observed.account_id or (state.account_id if state else "") or "{account}"
        region = config.region if config else observed.region
        shared_pre, shared_post = _plan_shared(config, state, observed, sorted(endpoint_names), account,
                                               region, destroy and not targets, notes)
        actions += shared_pre
    else:
        shared_post = []
    actions += per_deployment
    actions += shared_post

    if destroy and not targets and state and state.role and state.role.created_by_esmctl:
        role = state.role.name
        if observed.role is not None or not state.role.created:
            if observed.role is None or observed.role.policy_attached:
                actions.append(_act("detach_role_policy", naming.SHARED, role, "post",
                                    policy_arn=naming.managed_policy_arn(state.region or observed.region)))
            actions.append(_act("delete_role", naming.SHARED, role, "post"))

    region = config.region if config else observed.region
    overrides = config.settings.prices if config else {}
    before, unknown_b = _cost(_running_now(state, observed), region, overrides)
    after_set = {} if destroy else {
        n: (d.instance_type, d.instance_count) for n, d in desired.items()
        if not (recorded.get(n) and recorded[n].desired == "stopped")
    }
    if targets and not destroy:  # deployments outside the target keep what they have now
        now = _running_now(state, observed)
        after_set = {n: v for n, v in after_set.items() if n in targets} | {
            n: v for n, v in now.items() if n not in targets}
    if targets and destroy:
        now = _running_now(state, observed)
        after_set = {n: v for n, v in now.items() if n not in targets}
    after, unknown_a = _cost(after_set, region, overrides)
    return Plan(tuple(actions), tuple(notes), tuple(wait_for), before, after,
                tuple(sorted(unknown_b | unknown_a)), tuple(stopped))


def _plan_role(config: Config, state: State | None, observed: Observed) -> list[Action]:
    name = config.role_name
    out = []
    if observed.role is None:
        out.append(_act("create_role", naming.SHARED, name, "pre"))
        out.append(_act("attach_role_policy", naming.SHARED, name, "pre",
                        policy_arn=naming.managed_policy_arn(config.region)))
    else:
        if observed.role.tags.get(naming.TAG_ENVIRONMENT) != config.environment:  # adopted (import-terraform)
            out.append(_act("tag_role", naming.SHARED, name, "pre", reason=UNTAGGED))
        if not observed.role.policy_attached:
            out.append(_act("attach_role_policy", naming.SHARED, name, "pre",
                            policy_arn=naming.managed_policy_arn(config.region)))
    return out


def _plan_deployment(
    want: Deployment, have: DeploymentState | None, observed: Observed, new_suffix: Callable[[], str]
) -> tuple[list[Action], list[str], list[str], str]:
    name = want.name
    acts: list[Action] = []
    notes: list[str] = []
    busy: list[str] = []
    suffix = have.suffix if have else new_suffix()

    # The model: replaced when what it runs changes; recreated when it vanished.
    model = have.model if have else None
    model_reason = ""
    if model is None:
        model_name = naming.model_name(want.sagemaker_model_name, suffix)
        acts.append(_act("create_model", name, model_name, model_package=want.model_package,
                         selector=want.selector, forge_model_name=want.forge_model_name, suffix=suffix))
    elif (model.model_package, model.selector, model.forge_model_name) != (
            want.model_package, want.selector, want.forge_model_name):
        model_name = naming.model_name(want.sagemaker_model_name, new_suffix())
        model_reason = _diff("selector", model.selector, want.selector) or _diff(
            "model_package", model.model_package, want.model_package) or _diff(
            "forge_model_name", model.forge_model_name, want.forge_model_name)
        acts.append(_act("create_model", name, model_name, reason=f"replaces {model.name}: {model_reason}",
                         model_package=want.model_package, selector=want.selector,
                         forge_model_name=want.forge_model_name, replaces=model.name))
    else:
        model_name = model.name
        if not observed.has_model(model.name):
            acts.append(_act("create_model", name, model_name, reason="missing in AWS: recreate",
                             model_package=want.model_package, selector=want.selector,
                             forge_model_name=want.forge_model_name))

    # The endpoint config: replaced when the model or the hardware changes.
    cfg = have.endpoint_config if have else None
    base = want.endpoint_name
    if cfg is None:
        cfg_name = naming.endpoint_config_name(base, suffix)
        acts.append(_act("create_endpoint_config", name, cfg_name, model_name=model_name,
                         instance_type=want.instance_type, instance_count=want.instance_count,
                         reason=f"{want.instance_type} × {want.instance_count}"))
    elif cfg.model_name != model_name or (cfg.instance_type, cfg.instance_count) != (
            want.instance_type, want.instance_count):
        cfg_name = naming.endpoint_config_name(base, new_suffix())
        why = model_reason and "new model" or ", ".join(x for x in (
            _diff("instance_type", cfg.instance_type, want.instance_type),
            _diff("instance_count", cfg.instance_count, want.instance_count)) if x)
        acts.append(_act("create_endpoint_config", name, cfg_name, model_name=model_name,
                         instance_type=want.instance_type, instance_count=want.instance_count,
                         replaces=cfg.name, reason=f"replaces {cfg.name}: {why}"))
    else:
        cfg_name = cfg.name
        if not observed.has_config(cfg.name):
            acts.append(_act("create_endpoint_config", name, cfg_name, model_name=model_name,
                             instance_type=want.instance_type, instance_count=want.instance_count,
                             reason="missing in AWS: recreate"))

    # The endpoint: its name never changes once chosen.
    ep_name = have.endpoint.name if have and have.endpoint else naming.endpoint_name(base, suffix)
    running = have is None or have.desired == "running"
    seen = observed.endpoint(ep_name)
    moved = False  # will the endpoint run on cfg_name once this plan is done?
    if not running:
        if seen is not None and seen.status != "Deleting":
            acts.append(_act("delete_endpoint", name, ep_name, reason="stop: billing ends; model and config kept"))
    elif seen is None:
        why = "" if have is None or have.endpoint is None or not have.endpoint.created else \
            "vanished from AWS: recreate"
        acts.append(_act("create_endpoint", name, ep_name, config_name=cfg_name, reason=why))
        moved = True
    elif seen.status in ("Failed", "OutOfService"):
        acts.append(_act("replace_endpoint", name, ep_name, config_name=cfg_name,
                         reason=f"{seen.status}: {seen.failure_reason or 'no reason given'}"))
        moved = True
    elif seen.status == "UpdateRollbackFailed":  # AWS: update it again to bring it back InService
        on = seen.config_name or (have.endpoint.config_name if have and have.endpoint else "")
        acts.append(_act("update_endpoint", name, ep_name, config_name=cfg_name, old_config_name=on,
                         reason=f"UpdateRollbackFailed: update again to {cfg_name}"))
        moved = True
    elif seen.status in BUSY:
        busy.append(ep_name)
        notes.append(f"{name}: endpoint {ep_name} is {seen.status}; deploy waits for it")
        on = seen.config_name or (have.endpoint.config_name if have and have.endpoint else "")
        if on.lower() != cfg_name.lower():
            notes.append(f"{name}: once it settles, deploy moves it to {cfg_name} (a follow-up plan, shown then)")
    else:
        on = seen.config_name or (have.endpoint.config_name if have and have.endpoint else "")
        if on.lower() != cfg_name.lower():
            acts.append(_act("update_endpoint", name, ep_name, config_name=cfg_name,
                             old_config_name=on, reason=f"{on or '?'} → {cfg_name}"))
            moved = True
        else:
            moved = True  # already there

    for arn in have.untagged if have else []:
        acts.append(_act("tag_resource", name, arn, reason=UNTAGGED))

    timer = have.stop_schedule if have else None
    if timer is not None and running and (timer.cancel or timer.fired):
        acts.append(_act("delete_schedule", name, timer.name, reason="replaced by start" if timer.cancel
                         else "fired; the endpoint was stopped by it"))

    # Retired models/configs: deleted once the endpoint runs on the new config (or is stopped).
    retired: list[_Retired] = [_Retired(r.kind, r.name) for r in have.retired] if have else []
    for a in acts:
        if a.param("replaces"):
            retired.append(_Retired(a.kind, a.param("replaces")))
    phase: Phase = "after_wait" if any(a.kind in ("update_endpoint", "replace_endpoint", "create_endpoint")
                                       for a in acts) else "apply"
    if moved or not running:
        for r in retired:
            kind = "delete_model" if r.kind in ("model", "create_model") else "delete_endpoint_config"
            exists = observed.has_model(r.name) if kind == "delete_model" else observed.has_config(r.name)
            if exists:
                acts.append(_act(kind, name, r.name, phase,
                                 reason="replaced; deleted once the endpoint runs on its successor"))
    return _order(acts), notes, busy, ep_name


def _plan_shared(config: Config | None, state: State | None, observed: Observed, endpoints: list[str],
                 account: str, region: str, destroy: bool, notes: list[str]) -> tuple[list[Action], list[Action]]:
    """The shared service user: created and kept in step with the endpoints, or torn down (`destroy`:
    the whole environment; `destroy --target` keeps it for the deployments that stay)."""
    rec = state.shared_account if state else None
    obs = observed.shared
    enabled = bool(config and config.settings.enable_shared_service_account and not destroy)
    pre: list[Action] = []
    post: list[Action] = []
    S = naming.SHARED
    want_user = config.shared_user_name if config else ""
    want_store = config.settings.secret_store if config else ""
    moved_store = ""
    if rec is not None and enabled and rec.user_name == want_user and rec.secret_store != want_store:
        moved_store = rec.secret_store  # a new key goes to the new store; the old secret is deleted
        post.append(_act("delete_secret", S, rec.secret_ref or rec.user_name, "post",
                         store=rec.secret_store, user=rec.user_name, reason=f"moved to {want_store}"))
    if rec is not None and (not enabled or rec.user_name != want_user):
        # Tear down in an order IAM accepts: keys and attachment before user, versions before policy.
        user_exists = obs is not None and obs.user_name == rec.user_name and bool(obs.user_arn)
        keys = obs.keys if obs is not None and user_exists else ()
        for k in keys:
            post.append(_act("delete_access_key", S, k, "post", user=rec.user_name))
        policy_arn = rec.policy_arn or naming.iam_policy_arn(region, account, rec.policy_name)
        if user_exists and obs is not None and obs.attached:
            post.append(_act("detach_user_policy", S, rec.user_name, "post", policy_arn=policy_arn))
        if (obs is not None and obs.policy_arn) or not user_exists:
            post.append(_act("delete_policy", S, rec.policy_name, "post", policy_arn=policy_arn))
        post += _remove_parts(rec, obs if user_exists else None, region, account, keep={1})
        if user_exists:
            post.append(_act("delete_user", S, rec.user_name, "post"))
        post.append(_act("delete_secret", S, rec.secret_ref or rec.user_name, "post",
                         store=rec.secret_store, user=rec.user_name))
        rec = None
        obs = None
    if not enabled or config is None:
        return pre, post
    user = want_user
    policy = config.shared_policy_name
    policy_arn = naming.iam_policy_arn(region, account, policy)
    recorded: dict[int, list[str]] = {}
    if rec is not None and rec.policy_name == policy:
        recorded[1] = [e for e in rec.policy_endpoints if e != naming.WIDE_POLICY]
        for p in rec.policy_parts:
            number = naming.part_number(policy, p.name)
            if number is not None and number > 1:
                recorded[number] = list(p.endpoints)
    parts = naming.assign_invoke_policies(region, account, endpoints, recorded)
    n = len(parts[1])
    doc_reason = f"allows InvokeEndpoint on {n} endpoint{'s' if n != 1 else ''}"
    if len(parts) > 1:
        doc_reason += f" (of {len(endpoints)}, in {len(parts)} policies: IAM's policy size limit)"
    if len(parts) > naming.USER_MANAGED_POLICIES:
        notes.append(f"the shared user needs {len(parts)} invoke policies; IAM attaches at most "
                     f"{naming.USER_MANAGED_POLICIES} managed policies to a user unless the quota 'Managed "
                     "policies per user' is raised (up to 20)")
    user_exists = obs is not None and bool(obs.user_arn)
    if not user_exists:
        pre.append(_act("create_user", S, user, "pre"))
    elif obs is not None and obs.user_tags.get(naming.TAG_ENVIRONMENT) != config.environment:
        pre.append(_act("tag_user", S, user, "pre", reason=UNTAGGED))
    # Beyond ~70 endpoints one policy would pass IAM's 6,144-character limit: more policies, each
    # with exact ARNs (`-2`, `-3` ...); part 1 is the policy itself.
    for part, chunk in sorted(parts.items()):
        if part == 1:
            pre += _keep_policy(user, policy, policy_arn, chunk, doc_reason,
                                exists=obs is not None and bool(obs.policy_arn),
                                attached=obs is not None and obs.attached,
                                recorded=rec.policy_endpoints if rec is not None else None)
        else:
            name = naming.policy_part_name(policy, part)
            pre += _keep_policy(user, name, naming.iam_policy_arn(region, account, name), chunk,
                                f"allows InvokeEndpoint on {len(chunk)} more endpoints (IAM's policy size limit)",
                                exists=obs is not None and name in obs.parts,
                                attached=obs is not None and obs.parts.get(name, False),
                                recorded=recorded.get(part))
    if rec is not None:
        post += _remove_parts(rec, obs, region, account, keep=set(parts))
    keys = obs.keys if obs is not None else ()
    stored = obs.stored_key_id if obs is not None and not moved_store else None
    if stored and stored in keys:
        for k in keys:
            if k != stored:
                pre.append(_act("delete_access_key", S, k, "pre", user=user, reason="not the stored key"))
    else:
        for k in keys:  # their secret is not in the store: unusable, replace them
            pre.append(_act("delete_access_key", S, k, "pre", user=user, reason="its secret is not stored"))
        where = "Secrets Manager " + secret_name(config.environment, user) if want_store == "secretsmanager" \
            else "a local 0600 file"
        pre.append(_act("create_access_key", S, user, "pre", reason=f"secret kept in {where}"))
    return pre, post


def _keep_policy(user: str, name: str, arn: str, endpoints: list[str], create_reason: str, *, exists: bool,
                 attached: bool, recorded: list[str] | None) -> list[Action]:
    """One invoke policy of the shared user: created, or given a new version when the endpoints it
    allows changed (`recorded`: what the state says it allows), and attached to the user."""
    out = []
    if not exists:
        out.append(_act("create_policy", naming.SHARED, name, "pre", reason=create_reason, policy_arn=arn,
                        endpoints=tuple(endpoints), user=user))
    elif recorded is None or sorted(recorded) != endpoints:
        if recorded == [naming.WIDE_POLICY]:
            n = len(endpoints)
            why = f'narrowed from Resource "*" to {n} endpoint{"s" if n != 1 else ""}'
        else:
            why = f"{len(recorded or [])} → {len(endpoints)} endpoints"
        out.append(_act("update_policy", naming.SHARED, name, "pre", policy_arn=arn, endpoints=tuple(endpoints),
                        reason=f"{why}; a new default version"))
    if not attached:
        out.append(_act("attach_user_policy", naming.SHARED, user, "pre", policy_arn=arn))
    return out


def _remove_parts(rec: SharedAccountRecord, obs: ObservedShared | None, region: str, account: str,
                  keep: set[int]) -> list[Action]:
    """Detach and delete the further invoke policies whose numbers are not in `keep` (fewer endpoints
    now, or the shared user goes). With no user in AWS, every recorded one is deleted (idempotent)."""
    out: list[Action] = []
    user_seen = obs is not None and bool(obs.user_arn)
    names = {p.name for p in rec.policy_parts} | set(obs.parts if obs is not None else {})
    for name in sorted(names, key=lambda n: naming.part_number(rec.policy_name, n) or 0):
        number = naming.part_number(rec.policy_name, name)
        if number is None or number in keep:
            continue
        arn = naming.iam_policy_arn(region, account, name)
        if obs is not None and obs.parts.get(name):
            out.append(_act("detach_user_policy", naming.SHARED, rec.user_name, "post", policy_arn=arn))
        if not user_seen or obs is None or name in obs.parts:
            out.append(_act("delete_policy", naming.SHARED, name, "post", policy_arn=arn,
                            reason="not needed for this many endpoints"))
    return out


@dataclass(frozen=True)
class _Retired:
    kind: str
    name: str


_ORDER = ["delete_schedule", "tag_resource", "create_model", "create_endpoint_config", "create_endpoint",
          "replace_endpoint", "update_endpoint", "delete_endpoint", "delete_endpoint_config", "delete_model",
          "forget_deployment"]


def _order(acts: list[Action]) -> list[Action]:
    return sorted(acts, key=lambda a: _ORDER.index(a.kind))


def _plan_removal(name: str, have: DeploymentState, observed: Observed, why: str) -> list[Action]:
    acts = []
    if have.endpoint and observed.endpoint(have.endpoint.name):
        acts.append(_act("delete_endpoint", name, have.endpoint.name, reason=why))
    configs = [have.endpoint_config.name] if have.endpoint_config else []
    configs += [r.name for r in have.retired if r.kind == "endpoint_config"]
    for c in configs:
        if observed.has_config(c):
            acts.append(_act("delete_endpoint_config", name, c))
    models = [have.model.name] if have.model else []
    models += [r.name for r in have.retired if r.kind == "model"]
    for m in models:
        if observed.has_model(m):
            acts.append(_act("delete_model", name, m))
    if have.stop_schedule is not None:
        acts.append(_act("delete_schedule", name, have.stop_schedule.name))
    acts.append(_act("forget_deployment", name, name))
    return _order(acts)


def _running_now(state: State | None, observed: Observed) -> dict[str, tuple[str, int]]:
    """Deployments whose endpoint exists (and bills) now, with the hardware it runs on."""
    out = {}
    for name, dep in (state.deployments if state else {}).items():
        if dep.endpoint and dep.endpoint_config and observed.endpoint(dep.endpoint.name):
            cfg = dep.endpoint_config
            out[name] = (cfg.instance_type, cfg.instance_count)
    return out


def _cost(running: dict[str, tuple[str, int]], region: str,
          overrides: dict[str, float]) -> tuple[float, set[str]]:
    total, unknown = 0.0, set()
    for itype, count in running.values():
        c = prices.cost(itype, count, region, overrides)
        if c is None:
            unknown.add(itype)
        else:
            total += c
    return total, unknown


def _diff(key: str, old: object, new: object) -> str:
    return f"{key} {old} → {new}" if old != new else ""

