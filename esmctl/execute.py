"""Execute stage: the only code that changes AWS. Runs a Plan and records every step in the state.

Rules: a name goes into the state (and the state to disk) before the call that creates it, so a
run killed at any instant is finished by the next one; deletes treat "not found" as done; each
deployment's steps run in order, deployments run in parallel (`parallelism` at once); one failing
deployment does not stop the others. Waiting uses one listing per poll for all endpoints; an update
is verified afterwards (DescribeEndpoint must name the new config) before the old config is deleted.
"""

from __future__ import annotations

import statistics
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from esmctl import naming, schedule, secrets
from esmctl.errors import AlreadyExists, AwsError, EsmctlError, Interrupted, NotSubscribed
from esmctl.observe import FAILED
from esmctl.plan import Action, Plan
from esmctl.state import (
    ConfigRecord,
    DeploymentState,
    EndpointRecord,
    ModelRecord,
    PolicyPart,
    Retired,
    RoleRecord,
    SharedAccountRecord,
    Store,
    iso,
    utcnow,
)
from esmctl.ui import UI, fmt_duration
from esmctl.wait import Waiter, Waiting, WaitTimeout

if TYPE_CHECKING:
    from esmctl.aws import Aws
    from esmctl.config import Config

DEFAULT_PARALLELISM = 16  # deployments worked on at once; AWS throttling paces the calls (see aws/)
DEFAULT_ETA = 12 * 60.0  # a typical ESM endpoint takes 10-15 minutes before we have our own history


NEXT_AFTER_BUG = ("The state is saved; run `esmctl deploy` again to resume (`esmctl -v deploy` shows details; "
                  "please report it).")


def unexpected(e: BaseException) -> str:
    return f"unexpected {type(e).__name__}: {e} — {NEXT_AFTER_BUG}"


@dataclass
class Outcome:
    """What a run did; `failures` non-empty means exit 1."""

    done: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    still_busy: list[str] = field(default_factory=list)


class Executor:
    def __init__(self, *, aws: Aws, store: Store, config: Config | None, ui: UI, waiter: Waiter,
                 parallelism: int = DEFAULT_PARALLELISM, wait: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.aws = aws
        self.store = store
        self.config = config
        self.ui = ui
        self.waiter = waiter
        self.parallelism = max(1, parallelism)
        self.wait = wait
        self.clock = clock
        self.cancel = threading.Event()
        self._unsubscribed = threading.Event()  # a CreateModel said the account is not subscribed
        self._new_configs: set[str] = set()  # endpoint configs this run created (AWS may not show them yet)
        self.outcome = Outcome()
        self._olock = threading.Lock()
        self._started: dict[str, float] = {}  # endpoint (lower) -> clock() of its create/update call

    # --- the run -----------------------------------------------------------------------------
    def run(self, plan: Plan) -> Outcome:
        self.aws.cancel.clear()
        try:
            for a in plan.actions:
                if a.phase == "pre":
                    self._do(a)
            applied = self._apply(plan.by_deployment("apply"))
            waiting = self._waiting_list(plan, applied)
            if self.wait and waiting:
                settled = self._wait(waiting)
                updated = {a.deployment for a in plan.actions if a.kind == "update_endpoint"}
                after: dict[str, list[Action]] = {d: [] for d in updated & settled}
                after |= {d: acts for d, acts in plan.by_deployment("after_wait").items() if d in settled}
                self._parallel(after, verify=updated)
            elif waiting:
                self.outcome.still_busy += [w.endpoint for w in waiting]
            if not self.outcome.failures:
                for a in plan.actions:
                    if a.phase == "post":
                        self._do(a)
        except KeyboardInterrupt:
            self.cancel.set()
            self.aws.cancel.set()
            busy = self._busy_endpoints()
            raise Interrupted(
                "Interrupted; the state is saved."
                + (f" Still being created or updated in AWS: {', '.join(busy)}." if busy else ""),
                hint="Run `esmctl deploy` (or `esmctl status`) to pick the wait up again.",
            ) from None
        return self.outcome

    def _apply(self, chains: dict[str, list[Action]]) -> set[str]:
        """Every new model first, then the rest of each deployment's steps.

        CreateModel is where AWS checks the Marketplace subscription (DescribeModelPackage answers for
        any account), so creating all models before any endpoint config or endpoint means an
        unsubscribed package stops the run before anything billable exists.
        """
        models = {d: [a for a in acts if a.kind == "create_model"] for d, acts in chains.items()}
        models = {d: m for d, m in models.items() if m}
        # One model first: it alone meets IAM's delay for a new execution role and the subscription
        # check, instead of every worker retrying (and spending the account's CreateModel rate) at once.
        first = dict(list(models.items())[:1])
        made = self._parallel(first)
        if not self._unsubscribed.is_set() and not self.cancel.is_set():
            made |= self._parallel({d: m for d, m in models.items() if d not in first})
        if self._unsubscribed.is_set():
            skipped = sorted(d for d in chains if d not in first)
            if skipped:
                self._fail(f"Stopped before creating any endpoint config or endpoint (nothing billable was made) "
                           f"for {', '.join(skipped)}: subscribe to the model package(s) first — see above.")
            return set()
        rest = {d: [a for a in acts if a.kind != "create_model"] for d, acts in chains.items()
                if d not in models or d in made}
        return self._parallel(rest)

    def _parallel(self, chains: dict[str, list[Action]], verify: set[str] | None = None) -> set[str]:
        """Run each deployment's steps in order, deployments side by side; return those that succeeded."""
        ok: set[str] = set()
        if not chains:
            return ok

        def run_chain(dep: str, acts: list[Action]) -> None:
            try:
                if verify and dep in verify:
                    self._verify(dep)
                for a in acts:
                    if self.cancel.is_set():
                        return
                    self._do(a)
                ok.add(dep)
            except EsmctlError as e:
                if isinstance(e, NotSubscribed):
                    self._unsubscribed.set()
                self._fail(f"{dep}: {e.message}" + (f" — {e.hint}" if e.hint else ""))
            except Exception as e:  # a bug or an unforeseen answer: this deployment fails, the run goes on
                self._fail(f"{dep}: {unexpected(e)}")

        pool = ThreadPoolExecutor(max_workers=min(self.parallelism, len(chains)), thread_name_prefix="esmctl")
        try:
            futures = [pool.submit(run_chain, d, acts) for d, acts in chains.items()]
            for f in futures:
                while True:
                    try:
                        f.result(timeout=0.2)  # short timeouts keep Ctrl-C responsive
                        break
                    except TimeoutError:
                        continue
        except KeyboardInterrupt:
            self.cancel.set()
            self.aws.cancel.set()  # a worker waiting out AWS's eventual consistency stops at once
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        return ok

    def _fail(self, msg: str) -> None:
        with self._olock:
            self.outcome.failures.append(msg)
        self.ui.error(msg)

    # --- one step ------------------------------------------------------------------------------
    def _do(self, a: Action) -> None:
        if a.kind != "forget_deployment":
            self.ui.step(a.describe().replace("  (", " (", 1))
        try:
            getattr(self, f"_{a.kind}")(a)
        except EsmctlError:
            raise
        except Exception as e:  # never an "Internal error" from inside a run: say what step and what next
            raise EsmctlError(f"{a.describe().split('  (')[0].strip()}: unexpected {type(e).__name__}: {e}",
                              hint=NEXT_AFTER_BUG, details=traceback.format_exc()) from None

    def _dep(self, a: Action) -> DeploymentState:
        st = self.store.state
        dep = st.deployments.get(a.deployment)
        if dep is None:
            assert self.config is not None
            want = self.config.deployments[a.deployment]
            dep = DeploymentState(selector=want.selector, suffix=a.param("suffix") or naming.new_suffix(),
                                  forge_model_name=want.forge_model_name, created_at=iso(utcnow()))
            st.deployments[a.deployment] = dep
        return dep

    def _tags(self, deployment: str) -> dict[str, str]:
        assert self.config is not None
        return naming.tags(dict(self.config.settings.tags), self.config.environment, deployment)

    def _role_arn(self) -> str:
        assert self.config is not None
        if self.config.settings.execution_role_arn:
            return self.config.settings.execution_role_arn
        role = self.store.state.role
        if role is None or not role.arn:
            raise AwsError("The execution role is not known yet.", hint="Run `esmctl deploy` again.")
        return role.arn

    def _create_role(self, a: Action) -> None:
        assert self.config is not None
        with self.store.change() as st:
            st.role = RoleRecord(name=a.name, created_by_esmctl=True)
        try:
            role = self.aws.iam.create_role(a.name, tags=self._tags(naming.SHARED))
        except AlreadyExists:
            role = self.aws.iam.get_role(a.name) or {}
            tags = {t["Key"]: t["Value"] for t in role.get("Tags", [])}
            if tags.get(naming.TAG_ENVIRONMENT) != self.config.environment:
                with self.store.change() as st:
                    st.role = None
                raise AwsError(
                    f"The IAM role {a.name} already exists and was not made by esmctl for this environment.",
                    hint="Set `execution_role_arn:` in esmctl.yaml to use it, or change "
                    "`iam_role_name_prefix`/`environment` so esmctl makes its own.") from None
        with self.store.change() as st:
            assert st.role is not None
            st.role.arn, st.role.created = role["Arn"], True

    def _attach_role_policy(self, a: Action) -> None:
        self.aws.iam.attach_role_policy(a.name, a.param("policy_arn"))
        with self.store.change() as st:
            if st.role is not None:
                st.role.policy_attached = True

    def _detach_role_policy(self, a: Action) -> None:
        self.aws.iam.detach_role_policy(a.name, a.param("policy_arn"))
        with self.store.change() as st:
            if st.role is not None:
                st.role.policy_attached = False

    def _delete_role(self, a: Action) -> None:
        self.aws.iam.delete_role(a.name)
        with self.store.change() as st:
            st.role = None

    # --- the shared service user ------------------------------------------------------------------
    def _shared(self) -> SharedAccountRecord:
        st = self.store.state
        if st.shared_account is None:
            assert self.config is not None
            c = self.config
            user = c.shared_user_name
            st.shared_account = SharedAccountRecord(
                user_name=user, secret_store=c.settings.secret_store,
                policy_name=c.shared_policy_name)
        return st.shared_account

    def _create_user(self, a: Action) -> None:
        assert self.config is not None
        with self.store.change():
            self._shared()
        try:
            user = self.aws.iam.create_user(a.name, tags=self._tags(naming.SHARED))
        except AlreadyExists:
            user = self.aws.iam.get_user(a.name) or {}
            tags = {t["Key"]: t["Value"] for t in user.get("Tags", [])}
            if tags.get(naming.TAG_ENVIRONMENT) != self.config.environment:
                raise AwsError(
                    f"The IAM user {a.name} already exists and was not made by esmctl for this environment.",
                    hint="Set `shared_service_account_name:` to another name, or delete that user.") from None
        with self.store.change():
            rec = self._shared()
            rec.user_arn, rec.user_created = user.get("Arn", ""), True

    def _policy_document(self, a: Action) -> str:
        assert self.config is not None
        return naming.invoke_policy(self.config.region, self.aws.account_id(), list(a.param("endpoints")))

    def _record_policy(self, name: str, **fields: Any) -> None:
        """Record `fields` (arn, created, attached, endpoints) of invoke policy `name`: the policy
        itself in the shared record's `policy_*` fields, a further part (`-2`, `-3` ...) in its own
        record, added when missing (recorded before its create call)."""
        rec = self._shared()
        if name == rec.policy_name:
            for key, value in fields.items():
                setattr(rec, f"policy_{key}", value)
            return
        part = next((p for p in rec.policy_parts if p.name == name), None)
        if part is None:
            part = PolicyPart(name=name)
            rec.policy_parts.append(part)
        for key, value in fields.items():
            setattr(part, key, value)

    def _create_policy(self, a: Action) -> None:
        with self.store.change():
            self._record_policy(a.name, arn=a.param("policy_arn"))
        try:
            arn = self.aws.iam.create_policy(a.name, document=self._policy_document(a),
                                             description=naming.SHARED_POLICY_DESCRIPTION,
                                             tags=self._tags(naming.SHARED))
        except AlreadyExists:  # from a run that died before recording it: bring its document up to date
            arn = a.param("policy_arn")
            self._new_policy_version(arn, self._policy_document(a))
        with self.store.change():
            self._record_policy(a.name, arn=arn, created=True, endpoints=list(a.param("endpoints")))

    def _update_policy(self, a: Action) -> None:
        self._new_policy_version(a.param("policy_arn"), self._policy_document(a))
        with self.store.change():
            self._record_policy(a.name, created=True, endpoints=list(a.param("endpoints")))

    def _new_policy_version(self, arn: str, document: str) -> None:
        """Publish a new default version, first pruning the oldest so IAM's limit of 5 is never hit."""
        versions = self.aws.iam.list_policy_versions(arn)
        old = sorted((v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"])
        while len(old) >= 4:  # 4 old + the default = 5, IAM's limit
            self.aws.iam.delete_policy_version(arn, old.pop(0)["VersionId"])
        self.aws.iam.create_policy_version(arn, document=document)

    def _attach_user_policy(self, a: Action) -> None:
        self.aws.iam.attach_user_policy(a.name, a.param("policy_arn"))
        with self.store.change():
            self._record_policy(a.param("policy_arn").rsplit("/", 1)[-1], attached=True, created=True)

    def _create_access_key(self, a: Action) -> None:
        assert self.config is not None
        key = self.aws.iam.create_access_key(a.name)
        store = secrets.store_for(self.config, self.aws, user=a.name)
        try:
            ref = store.write({"aws_access_key_id": key["AccessKeyId"],
                               "aws_secret_access_key": key["SecretAccessKey"]})
        except BaseException:
            self.aws.iam.delete_access_key(a.name, key["AccessKeyId"])  # an unstored key is useless
            raise
        with self.store.change():
            rec = self._shared()
            rec.access_key_id = key["AccessKeyId"]
            rec.access_key_created = iso(key.get("CreateDate") or utcnow())
            rec.secret_store, rec.secret_ref = self.config.settings.secret_store, ref

    def _delete_access_key(self, a: Action) -> None:
        self.aws.iam.delete_access_key(a.param("user"), a.name)
        with self.store.change() as st:
            if st.shared_account is not None and st.shared_account.access_key_id == a.name:
                st.shared_account.access_key_id = ""

    def _detach_user_policy(self, a: Action) -> None:
        self.aws.iam.detach_user_policy(a.name, a.param("policy_arn"))
        name = a.param("policy_arn").rsplit("/", 1)[-1]
        with self.store.change() as st:
            rec = st.shared_account
            if rec is not None and name == rec.policy_name:
                rec.policy_attached = False
            elif rec is not None:
                for part in rec.policy_parts:
                    part.attached = part.attached and part.name != name

    def _delete_policy(self, a: Action) -> None:
        arn = a.param("policy_arn")
        if self.aws.iam.get_policy(arn) is not None:
            for v in self.aws.iam.list_policy_versions(arn):  # IAM wants the old versions gone first
                if not v["IsDefaultVersion"]:
                    self.aws.iam.delete_policy_version(arn, v["VersionId"])
            self.aws.iam.delete_policy(arn)
        with self.store.change() as st:
            rec = st.shared_account
            if rec is not None and a.name == rec.policy_name:
                rec.policy_created = False
            elif rec is not None:
                rec.policy_parts = [p for p in rec.policy_parts if p.name != a.name]

    def _delete_user(self, a: Action) -> None:
        self.aws.iam.delete_user(a.name)
        with self.store.change() as st:
            if st.shared_account is not None:
                st.shared_account.user_created = False

    def _delete_secret(self, a: Action) -> None:
        assert self.config is not None
        secrets.store_for(self.config, self.aws, a.param("store"), a.param("user")).delete()
        with self.store.change() as st:
            rec = st.shared_account
            if rec is not None and rec.user_name == a.param("user") and not rec.user_created:
                st.shared_account = None  # everything of the old user is gone

    def _create_model(self, a: Action) -> None:
        with self.store.change():
            dep = self._dep(a)
            if a.param("replaces") and dep.model and dep.model.name == a.param("replaces"):
                dep.retired.append(Retired(kind="model", name=dep.model.name))
            dep.model = ModelRecord(name=a.name, model_package=a.param("model_package"),
                                    selector=a.param("selector"), forge_model_name=a.param("forge_model_name"))
            dep.selector, dep.forge_model_name = a.param("selector"), a.param("forge_model_name")
        try:
            arn = self.aws.sagemaker.create_model(a.name, role_arn=self._role_arn(),
                                                  model_package=a.param("model_package"),
                                                  tags=self._tags(a.deployment))
        except AlreadyExists:  # made by an earlier run that died before recording it
            arn = (self.aws.sagemaker.describe_model(a.name) or {}).get("ModelArn", "")
        with self.store.change():
            rec = self._dep(a).model
            assert rec is not None
            rec.arn, rec.created = arn, True

    def _create_endpoint_config(self, a: Action) -> None:
        with self.store.change():
            dep = self._dep(a)
            if a.param("replaces") and dep.endpoint_config and dep.endpoint_config.name == a.param("replaces"):
                dep.retired.append(Retired(kind="endpoint_config", name=dep.endpoint_config.name))
            dep.endpoint_config = ConfigRecord(name=a.name, model_name=a.param("model_name"),
                                               instance_type=a.param("instance_type"),
                                               instance_count=a.param("instance_count"))
        try:
            arn = self.aws.sagemaker.create_endpoint_config(
                a.name, model_name=a.param("model_name"), instance_type=a.param("instance_type"),
                instance_count=a.param("instance_count"), tags=self._tags(a.deployment))
        except AlreadyExists:
            arn = (self.aws.sagemaker.describe_endpoint_config(a.name) or {}).get("EndpointConfigArn", "")
        with self.store.change():
            rec = self._dep(a).endpoint_config
            assert rec is not None
            rec.arn, rec.created = arn, True
        self._new_configs.add(a.name)

    def _create_endpoint(self, a: Action) -> None:
        now = iso(utcnow())
        with self.store.change():
            dep = self._dep(a)
            dep.endpoint = EndpointRecord(name=a.name, config_name=a.param("config_name"), status="Creating",
                                          creating_since=now)
            dep.desired = "running"
            dep.started_at = now
            dep.stopped_at = None
        if a.param("config_name") in self._new_configs:
            self.aws.sagemaker.confirm_endpoint_config(a.param("config_name"))
        try:
            arn = self.aws.sagemaker.create_endpoint(a.name, config_name=a.param("config_name"),
                                                     tags=self._tags(a.deployment))
        except AlreadyExists:
            arn = (self.aws.sagemaker.describe_endpoint(a.name) or {}).get("EndpointArn", "")
        with self.store.change():
            rec = self._dep(a).endpoint
            assert rec is not None
            rec.arn, rec.created = arn, True
        self._started[a.name.lower()] = self.clock()

    def _replace_endpoint(self, a: Action) -> None:
        self.aws.sagemaker.delete_endpoint(a.name)
        self.waiter.wait([Waiting(a.deployment, a.name, target="gone")])
        self._create_endpoint(a)

    def _update_endpoint(self, a: Action) -> None:
        if a.param("config_name") in self._new_configs:
            self.aws.sagemaker.confirm_endpoint_config(a.param("config_name"))
        self.aws.sagemaker.update_endpoint(a.name, config_name=a.param("config_name"))
        with self.store.change():
            rec = self._dep(a).endpoint
            assert rec is not None
            rec.status, rec.creating_since = "Updating", iso(utcnow())
        self._started[a.name.lower()] = self.clock()

    def _delete_endpoint(self, a: Action) -> None:
        try:
            self.aws.sagemaker.delete_endpoint(a.name)
        except AwsError as e:
            if "in-progress" not in e.message and "in progress" not in e.message:
                raise
            # SageMaker refuses to delete an endpoint while it is Creating/Updating: let it settle first.
            self.ui.info(f"{a.name} is still being created or updated; waiting for it to settle before deleting.")
            self.waiter.wait([Waiting(a.deployment, a.name)])
            self.aws.sagemaker.delete_endpoint(a.name)
        with self.store.change() as st:
            dep = st.deployments.get(a.deployment)
            if dep and dep.endpoint:
                dep.endpoint.status = "Deleting"

    def _delete_endpoint_config(self, a: Action) -> None:
        self.aws.sagemaker.delete_endpoint_config(a.name)
        self._forget_resource(a.deployment, "endpoint_config", a.name)

    def _delete_model(self, a: Action) -> None:
        self.aws.sagemaker.delete_model(a.name)
        self._forget_resource(a.deployment, "model", a.name)

    def _forget_resource(self, deployment: str, kind: str, name: str) -> None:
        with self.store.change() as st:
            dep = st.deployments.get(deployment)
            if dep is None:
                return
            dep.retired = [r for r in dep.retired if not (r.kind == kind and r.name == name)]
            current = dep.model if kind == "model" else dep.endpoint_config
            if current is not None and current.name == name:
                current.created = False  # gone from AWS; the record stays until the deployment is forgotten

    def _tag_resource(self, a: Action) -> None:
        self.aws.sagemaker.add_tags(a.name, self._tags(a.deployment))
        with self.store.change() as st:
            dep = st.deployments.get(a.deployment)
            if dep is not None:
                dep.untagged = [arn for arn in dep.untagged if arn != a.name]

    def _tag_role(self, a: Action) -> None:
        self.aws.iam.tag_role(a.name, self._tags(naming.SHARED))

    def _tag_user(self, a: Action) -> None:
        self.aws.iam.tag_user(a.name, self._tags(naming.SHARED))

    def _delete_schedule(self, a: Action) -> None:
        schedule.delete_stop(self.aws, self.store, a.deployment)

    def _forget_deployment(self, a: Action) -> None:
        with self.store.change() as st:
            st.deployments.pop(a.deployment, None)

    # --- waiting -------------------------------------------------------------------------------
    def _waiting_list(self, plan: Plan, applied: set[str]) -> list[Waiting]:
        names: dict[str, str] = {}
        gone: dict[str, str] = {}
        for a in plan.actions:
            if a.kind in ("create_endpoint", "update_endpoint", "replace_endpoint") and a.deployment in applied:
                names[a.name] = a.deployment
            elif a.kind == "delete_endpoint" and a.deployment in applied:
                gone[a.name] = a.deployment
        for dep_name, dep in self.store.state.deployments.items():
            if dep.endpoint and dep.endpoint.name in plan.wait_for:
                names[dep.endpoint.name] = dep_name
        eta = self._eta()
        return [Waiting(d, n, started=self._started.get(n.lower(), self.clock()), eta=eta) for n, d in names.items()] \
            + [Waiting(d, n, target="gone", started=self.clock(), eta=None) for n, d in gone.items()]

    def _eta(self) -> float:
        hist = self.store.state.creation_seconds
        return statistics.median(hist) if hist else DEFAULT_ETA

    def _wait(self, waiting: list[Waiting]) -> set[str]:
        """Wait for all; return the deployments whose endpoint reached InService."""
        up = sum(1 for w in waiting if w.target == "InService")
        down = len(waiting) - up
        if up:
            self.ui.info(f"Waiting for {up} endpoint{'s' if up != 1 else ''} to be InService "
                         f"(typically 10-15 minutes; Ctrl-C stops watching, not the creation).")
        if down:
            self.ui.info(f"Waiting for {down} endpoint{'s' if down != 1 else ''} to be deleted (billing stops then).")

        def rows() -> list[list[str]]:
            now = self.clock()
            out = []
            for w in waiting:
                status = w.seen.status if w.seen else ("deleted" if w.target == "gone" and w.done else "?")
                elapsed = now - w.started
                left = None if w.eta is None or w.done else max(0.0, w.eta - elapsed)
                eta = "" if w.done else (f"~{fmt_duration(left)} left" if left else "any moment")
                out.append([w.deployment, w.endpoint, status, fmt_duration(elapsed), eta])
            return out

        with self.ui.board(rows, ["deployment", "endpoint", "status", "elapsed", "eta"]) as refresh:
            try:
                self.waiter.wait(waiting, on_poll=lambda _: refresh())
            except WaitTimeout as t:
                for w in t.pending:
                    self._fail(f"{w.deployment}: endpoint {w.endpoint} still "
                               f"{w.seen.status if w.seen else 'missing'} after {fmt_duration(self.waiter.timeout)}"
                               " — it keeps going in AWS; run `esmctl deploy` again to keep waiting "
                               "(or raise --timeout)")
                    self.outcome.still_busy.append(w.endpoint)
        settled = set()
        with self.store.change() as st:
            for w in waiting:
                dep = st.deployments.get(w.deployment)
                if w.target == "gone" and w.done and dep is not None and dep.endpoint is not None:
                    dep.endpoint.created, dep.endpoint.status = False, ""
                    settled.add(w.deployment)
                    continue
                if dep is None or dep.endpoint is None or w.seen is None or not w.done:
                    continue
                dep.endpoint.status = w.seen.status
                if w.seen.status == "InService":
                    settled.add(w.deployment)
                    if dep.endpoint.creating_since and w.endpoint.lower() in self._started:
                        st.creation_seconds = (st.creation_seconds + [self.clock() - w.started])[-20:]
                elif w.seen.status in FAILED:
                    dep.endpoint.failure_reason = w.seen.failure_reason
                    repair = ("updates it again (AWS's way out of UpdateRollbackFailed; it serves on a mix of the "
                              "old and new configs until then)" if w.seen.status == "UpdateRollbackFailed"
                              else "recreates it")
                    self._fail(f"{w.deployment}: endpoint {w.endpoint} {w.seen.status}: "
                               f"{w.seen.failure_reason or 'no reason given'} — container logs: CloudWatch "
                               f"log group /aws/sagemaker/Endpoints/{w.endpoint}. Fix the cause, then "
                               f"`esmctl deploy` {repair}.")
                else:
                    self._fail(f"{w.deployment}: endpoint {w.endpoint} is {w.seen.status}")
                dep.endpoint.creating_since = None
        return settled

    def _verify(self, deployment: str) -> None:
        """After the wait: the endpoint must run on the config we asked for (updates can roll back)."""
        dep = self.store.state.deployments[deployment]
        assert dep.endpoint is not None and dep.endpoint_config is not None
        want = dep.endpoint_config.name
        d = self.aws.sagemaker.describe_endpoint(dep.endpoint.name) or {}
        on = d.get("EndpointConfigName", "")
        if on.lower() != want.lower():
            raise AwsError(
                f"SageMaker rolled the update of endpoint {dep.endpoint.name} back: it is InService on "
                f"{on or '?'}, not on {want}. The old endpoint config and model were kept (the endpoint "
                "runs on them).",
                hint=f"Check the CloudWatch log group /aws/sagemaker/Endpoints/{dep.endpoint.name} for "
                "why the new variant failed, then `esmctl deploy` tries again.")
        with self.store.change():
            dep.endpoint.config_name = on
        self.ui.ok(f"{deployment}: {dep.endpoint.name} InService on {on}")

    def _busy_endpoints(self) -> list[str]:
        return [d.endpoint.name for d in self.store.state.deployments.values()
                if d.endpoint and d.endpoint.status in ("Creating", "Updating")]
