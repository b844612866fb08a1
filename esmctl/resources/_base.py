"""What every resource kind is made of: typed specs, plan actions, handlers and their registry.

A plan action is a verb ("create", "update", "delete" …) applied to a typed spec (one frozen
dataclass per resource kind, holding exactly what the handler needs). Each (verb, spec type) pair
has one handler, registered by the kind's module with the `handler` decorator together with what
the plan shows for it (symbol, resource label, phase order) and the IAM actions it calls. An
`Action` whose pair has no handler cannot be made: a planner that forgets a handler fails in its
unit test, not at apply time.

No AWS calls here, and nothing about any one kind.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from esmctl import naming
from esmctl.state import utcnow as state_utcnow

if TYPE_CHECKING:
    from pydantic import BaseModel

    from esmctl.aws import Aws
    from esmctl.config import Config
    from esmctl.events import Reporter
    from esmctl.state import DeploymentState, Store
    from esmctl.wait import Waiter

Phase = Literal["pre", "apply", "after_wait", "post"]
Verb = Literal["create", "update", "replace", "delete", "tag", "attach", "detach", "verify", "forget"]
Symbol = Literal["+", "~", "-", "-/+", ""]

# What an IAM action is scoped to: one of esmctl/permissions.py's kinds of resource ("model",
# "endpoint-config", "endpoint", "sagemaker" (any of the three), "model-package", "execution-role",
# "timer-role", "schedule", "user", "invoke-policy", "secret", "state-bucket", "state-object",
# "probe-model", "kms", "any"), or one a kind declares with `scope()`.
Scope = str
SCOPES: dict[str, tuple[str, Callable[..., list[str]]]] = {}  # declared by kinds: name → (Sid, ARNs)


PASSED_TO: dict[str, str] = {}  # declared roles → the service iam:PassRole may pass them to


def scope(name: str, sid: str, arns: Callable[..., list[str]], *, passed_to: str = "") -> None:
    """Declare a kind of resource for the IAM policy: its statement's Sid and `arns(config, state,
    account, partition)`, the ARN patterns of this environment's resources of that kind; for roles,
    `passed_to` the service iam:PassRole may pass them to (the iam:PassedToService condition)."""
    SCOPES[name] = (sid, arns)
    if passed_to:
        PASSED_TO[name] = passed_to


M = TypeVar("M", bound="BaseModel")


def record_of(dep: DeploymentState, kind: str, model: type[M]) -> M | None:
    """The deployment's `records[kind]` (kinds added after schema 2 keep their records there), checked
    by the kind's model; a StateError naming it when it does not match."""
    from pydantic import ValidationError

    from esmctl.errors import StateError

    raw = dep.records.get(kind)
    if raw is None:
        return None
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        raise StateError(f"records.{kind} of deployment {dep.selector}-{dep.suffix} does not match its schema: "
                         f"{e.errors()[0]['msg']}") from None


def secret_field(**kwargs: Any) -> Any:
    """A spec field that never appears in a plan's text or JSON (a secret the handler stores)."""
    return field(repr=False, compare=False, metadata={"secret": True}, **kwargs)


@dataclass(frozen=True)
class Spec:
    """The typed parameters of one action; each kind defines its own subclass(es)."""

    name: str

    @classmethod
    def kind(cls) -> str:
        """The resource kind: the name of the module that defines the spec (role, model …)."""
        return cls.__module__.rsplit(".", 1)[-1]

    def public(self) -> dict[str, Any]:
        """The spec's fields for `plan --json`: those set (a delete carries only the name), secrets never."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name != "name" and not f.metadata.get("secret") and getattr(self, f.name) != f.default}


@dataclass(frozen=True)
class Handler:
    verb: str
    spec: type[Spec]
    action: str  # the step's name in `plan --json` ("create_model")
    symbol: Symbol
    resource: str  # what the plan calls the resource ("endpoint config", "tags of" …)
    run: Callable[[Run, Action], None]
    iam: dict[str, Scope]  # the IAM actions it calls → what each is scoped to
    order: int  # position among one deployment's steps
    waits: Literal["InService", "gone"] | None = None  # an endpoint the executor then waits for
    gate: str = ""  # runs before every other step of the apply phase; on a `stops_run` error the rest is skipped
    quiet: bool = False  # bookkeeping, not shown as a step

    @property
    def counts(self) -> tuple[int, int, int]:
        """(add, change, destroy) of one such step in the plan's summary (bookkeeping counts nothing)."""
        if self.quiet:
            return (0, 0, 0)
        return {"+": (1, 0, 0), "~": (0, 1, 0), "-": (0, 0, 1), "-/+": (1, 0, 1)}.get(self.symbol, (0, 0, 0))


REGISTRY: dict[tuple[str, type[Spec]], Handler] = {}
READS: dict[str, dict[str, Scope]] = {}  # kind → the IAM actions its observation (refresh) calls


def handler(verb: str, spec: type[Spec], *, action: str, symbol: Symbol, resource: str, iam: dict[str, Scope],
            order: int, waits: Literal["InService", "gone"] | None = None, gate: str = "",
            quiet: bool = False) -> Callable[[Callable[[Run, Action], None]], Callable[[Run, Action], None]]:
    """Register the function as the handler of `verb` on `spec` (once per pair)."""
    def register(fn: Callable[[Run, Action], None]) -> Callable[[Run, Action], None]:
        key = (verb, spec)
        if key in REGISTRY:
            raise TypeError(f"two handlers for {verb} {spec.__name__}")
        REGISTRY[key] = Handler(verb, spec, action, symbol, resource, fn, dict(iam), order, waits, gate, quiet)
        return fn
    return register


def reads(module: str, iam: dict[str, Scope]) -> None:
    """Declare the IAM actions a kind's observation calls (`reads(__name__, {...})` in its module)."""
    READS.setdefault(module.rsplit(".", 1)[-1], {}).update(iam)


@dataclass(frozen=True)
class Action:
    """One step of a plan: a verb on a typed spec, for one deployment (or `naming.SHARED`)."""

    verb: str
    spec: Spec
    deployment: str = naming.SHARED
    phase: Phase = "apply"
    reason: str = ""

    def __post_init__(self) -> None:
        if (self.verb, type(self.spec)) not in REGISTRY:
            raise TypeError(f"no handler for {self.verb} {type(self.spec).__name__}")

    @property
    def handler(self) -> Handler:
        return REGISTRY[(self.verb, type(self.spec))]

    @property
    def action(self) -> str:
        return self.handler.action

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def symbol(self) -> str:
        return self.handler.symbol

    def describe(self) -> str:
        who = f"{self.deployment}: " if self.deployment != naming.SHARED else ""
        text = f"{self.symbol or self.verb} {who}{self.handler.resource} {self.name}"
        return text + (f"  ({self.reason})" if self.reason else "")

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "symbol": self.symbol, "deployment": self.deployment,
                "resource": self.handler.resource, "name": self.name, "phase": self.phase,
                "reason": self.reason, **self.spec.public()}


def change(key: str, old: object, new: object) -> str:
    """"key old → new" when they differ, else "" (a plan step's reason)."""
    return f"{key} {old} → {new}" if old != new else ""


def ordered(actions: Iterable[Action]) -> list[Action]:
    """One deployment's steps in the order their handlers declare."""
    return sorted(actions, key=lambda a: a.handler.order)


# --- what handlers get ---------------------------------------------------------------------------
@dataclass
class Run:
    """One executor run as its handlers see it: AWS, the state store, the configuration, progress,
    the endpoint waiter and the clock, plus `memo` for what one step tells a later one (an endpoint
    config created in this run, a replaced secret …)."""

    aws: Aws
    store: Store
    config: Config | None
    ui: Reporter
    waiter: Waiter
    clock: Callable[[], float]
    utcnow: Callable[[], dt.datetime] = state_utcnow  # the wall clock (when a stop timer fires)
    memo: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def remember(self, key: str, value: Any) -> None:
        with self.lock:
            self.memo[key] = value

    def recall(self, key: str, default: Any = None) -> Any:
        """A copy of what an earlier step remembered (other threads may still add to it)."""
        with self.lock:
            value = self.memo.get(key, default)
            return value.copy() if isinstance(value, (set, dict, list)) else value

    def tags(self, deployment: str) -> dict[str, str]:
        assert self.config is not None
        return naming.tags(dict(self.config.settings.tags), self.config.environment, deployment)

    def record_created(self, a: Action, attribute: str, arn: str) -> None:
        """The deployment's `attribute` record (model, endpoint_config, endpoint) exists in AWS as `arn`."""
        with self.store.change():
            rec = getattr(self.deployment(a), attribute)
            assert rec is not None
            rec.arn, rec.created = arn, True

    def deployment(self, a: Action, suffix: str = "") -> DeploymentState:
        """The deployment's record, made (recorded before anything is created) when new."""
        from esmctl.state import DeploymentState, iso, utcnow

        st = self.store.state
        dep = st.deployments.get(a.deployment)
        if dep is None:
            assert self.config is not None
            want = self.config.deployments[a.deployment]
            dep = DeploymentState(selector=want.selector, suffix=suffix or naming.new_suffix(),
                                  forge_model_name=want.forge_model_name, created_at=iso(utcnow()))
            st.deployments[a.deployment] = dep
        return dep


# --- what planners get ---------------------------------------------------------------------------
@dataclass
class Planned:
    """One deployment in this plan: what the configuration wants, what the state has, and what the
    kinds planned before (a kind reads the names an earlier kind chose: model → config → endpoint)."""

    want: Any  # config.Deployment
    have: DeploymentState | None
    suffix: str
    model_name: str = ""
    model_reason: str = ""  # why the model is replaced ("" when kept)
    config_name: str = ""
    endpoint_name: str = ""
    running: bool = True  # desired running (not stopped)
    off: str = ""  # why its endpoint is off on purpose now (office hours), planned by a kind before the endpoint
    stop_now: str = ""  # why its running endpoint is to be deleted now (office hours just set, outside them)
    settling: bool = False  # just (re)started by something outside this run (a schedule): what it sets up follows
    moved: bool = False  # the endpoint runs on config_name once this plan is done
    retired: list[tuple[str, str]] = field(default_factory=list)  # (kind, name) deleted once moved

    @property
    def name(self) -> str:
        return str(self.want.name)


@dataclass
class Planning:
    """The planner's working data, shared by the kinds in their order. Pure: no I/O."""

    config: Config | None
    state: Any  # State | None
    observed: Any  # observe.Observed
    new_suffix: Callable[[], str]
    targets: set[str]
    destroy: bool
    ttl: float | None = None  # seconds: a stop timer on the deployments in scope, counted from the end of the run
    now: dt.datetime | None = None  # the wall clock, for what depends on the time (office hours, the budget)
    started: set[str] = field(default_factory=set)  # deployments `esmctl start` runs now, whatever the hour
    deployments: dict[str, Planned] = field(default_factory=dict)  # wanted and in scope
    removed: dict[str, tuple[DeploymentState, str]] = field(default_factory=dict)  # in the state only: → why
    kept_endpoints: list[str] = field(default_factory=list)  # endpoints outside the targets that stay
    actions: list[Action] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    wait_for: list[tuple[str, str]] = field(default_factory=list)  # (deployment, endpoint) busy in AWS
    stopped: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, config: Config | None, state: Any, observed: Any, *, new_suffix: Callable[[], str],
              targets: Iterable[str], destroy: bool, ttl: float | None = None, now: dt.datetime | None = None,
              started: Iterable[str] = ()) -> Planning:
        ctx = cls(config, state, observed, new_suffix, set(targets), destroy, ttl, now, set(started))
        desired = {} if destroy or config is None else dict(config.deployments)
        recorded = dict(state.deployments) if state else {}
        for name in sorted(set(desired) | set(recorded)):
            want, have = desired.get(name), recorded.get(name)
            if ctx.targets and name not in ctx.targets:  # kept as it is (its endpoint stays)
                if (want is not None or destroy) and have is not None and have.endpoint is not None:
                    ctx.kept_endpoints.append(have.endpoint.name)
                continue
            if want is None and have is not None:
                ctx.removed[name] = (have, "destroy" if destroy else "no longer selected")
            elif want is not None:
                if have is not None and have.desired == "stopped":
                    ctx.stopped.append(name)
                ctx.deployments[name] = Planned(want, have, have.suffix if have else new_suffix(),
                                                running=have is None or have.desired == "running")
        return ctx

    @property
    def region(self) -> str:
        return self.config.region if self.config else str(self.observed.region)

    @property
    def account(self) -> str:
        return self.observed.account_id or (self.state.account_id if self.state else "") or "{account}"

    @property
    def whole(self) -> bool:
        """The whole environment is planned (no --target)."""
        return not self.targets

    def add(self, verb: str, spec: Spec, deployment: str = naming.SHARED, phase: Phase = "apply",
            reason: str = "") -> Action:
        a = Action(verb, spec, deployment, phase, reason)
        self.actions.append(a)
        return a

    def retire(self, kind: str, spec: Callable[[str], Spec], exists: Callable[[str], bool]) -> None:
        """Delete each deployment's retired resources of `kind` that still exist, once its endpoint runs
        on their successor (or is stopped): after the wait when this plan creates or moves the endpoint."""
        for p in self.deployments.values():
            if p.running and not p.moved:
                continue
            waits = any(a.deployment == p.name and a.handler.waits == "InService" for a in self.actions)
            for k, name in p.retired:
                if k == kind and exists(name):
                    self.add("delete", spec(name), p.name, "after_wait" if waits else "apply",
                             reason="replaced; deleted once the endpoint runs on its successor")

    def endpoint_names(self) -> list[str]:
        """Every endpoint of the environment once this plan is done (the shared user may invoke them)."""
        return sorted(self.kept_endpoints + [p.endpoint_name for p in self.deployments.values()])
