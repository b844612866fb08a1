"""The shared service user: an IAM user whose one access key may only invoke this environment's
endpoints; its invoke policies (one, or more beyond ~70 endpoints: IAM's policy size limit) and
their attachments; the access key, whose secret is kept only in the secret store (Secrets Manager
or a local 0600 file), never in the state.

Created before the endpoints and kept in step with them; torn down in an order IAM accepts (keys
and attachments before the user, old versions before a policy). Rotating the key is a plan too:
new key → stored → verified with sts:GetCallerIdentity → only then the old key deleted; a run
killed anywhere leaves at most two keys, and the next run keeps the one whose secret is stored.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from esmctl import naming, secrets
from esmctl.errors import AlreadyExists, AwsError, EsmctlError
from esmctl.observe import ObservedShared
from esmctl.resources._base import Action, Planning, Run, Scope, Spec, handler, reads, secret_field
from esmctl.state import PolicyPart, SharedAccountRecord, iso, utcnow

if TYPE_CHECKING:
    from esmctl.aws import Aws
    from esmctl.config import Config
    from esmctl.observe import Observed
    from esmctl.state import State

PLAN_ORDER = 90  # when it plans (last: its invoke policy lists every endpoint the others planned)
SECTION = 20  # where its shared steps run and show (teardown: reverse)

reads(__name__, {"iam:GetUser": "user", "iam:ListAttachedUserPolicies": "user", "iam:GetPolicy": "invoke-policy",
       "iam:ListAccessKeys": "user", "secretsmanager:GetSecretValue": "secret"})
S = naming.SHARED
ROLLBACK = "shared_user.previous_secret"  # memo: the secret a rotation replaced, put back if the new key fails


@dataclass(frozen=True)
class User(Spec):
    """`name` is the user's."""


@dataclass(frozen=True)
class InvokePolicy(Spec):
    policy_arn: str = ""
    endpoints: tuple[str, ...] = ()
    user: str = ""


@dataclass(frozen=True)
class UserPolicy(Spec):
    """A policy attachment; `name` is the user's."""

    policy_arn: str = ""


@dataclass(frozen=True)
class AccessKey(Spec):
    """`name`: the key id (delete, verify) or the user (create)."""

    user: str = ""
    rotation: bool = False  # a rotation's step (its new key keeps the secret it replaces, to put back)


@dataclass(frozen=True)
class Secret(Spec):
    """The stored secret of the user's key; `name` is where it is kept."""

    store: str = ""
    user: str = ""
    access_key_id: str = ""
    value: dict[str, str] | None = secret_field(default=None)  # to store (import-terraform)


# --- planning ------------------------------------------------------------------------------------
def read(aws: Aws, account: str, config: Config | None, state: State | None) -> ObservedShared | None:
    """The shared user as IAM has it, its policies and keys, and which key id the store holds."""
    rec = state.shared_account if state else None
    if rec is None and (config is None or not config.settings.enable_shared_service_account):
        return None
    if rec is not None:
        user, policy, store_kind = rec.user_name, rec.policy_name, rec.secret_store
    else:
        assert config is not None
        user = config.shared_user_name
        policy = config.shared_policy_name
        store_kind = config.settings.secret_store
    u = aws.iam.get_user(user)
    if u is None:
        return ObservedShared(user)
    policy_arn = naming.iam_policy_arn(aws.region, account, policy)
    attached = {p["PolicyArn"] for p in aws.iam.list_attached_user_policies(user)}
    exists = policy_arn in attached or aws.iam.get_policy(policy_arn) is not None
    parts: dict[str, bool] = {}  # the further invoke policies (policy_part_name): attached, or recorded
    for name in (arn.rsplit("/", 1)[-1] for arn in attached):
        if (naming.part_number(policy, name) or 1) > 1:
            parts[name] = True
    for part in rec.policy_parts if rec is not None else []:
        if part.name not in parts and aws.iam.get_policy(naming.iam_policy_arn(aws.region, account, part.name)):
            parts[part.name] = False
    stored = None
    if config is not None:
        doc = secrets.store_for(config, aws, store_kind, user).read()
        stored = (doc or {}).get("aws_access_key_id")
    return ObservedShared(
        user_name=user, user_arn=u["Arn"], user_tags={t["Key"]: t["Value"] for t in u.get("Tags", [])},
        policy_arn=policy_arn if exists else "", attached=policy_arn in attached,
        keys=tuple(k["AccessKeyId"] for k in aws.iam.list_access_keys(user)), stored_key_id=stored, parts=parts,
    )


def reconcile(state: State, observed: Observed) -> list[str]:
    """Refresh: the shared user's record from what IAM and the store have; drift for what changed."""
    rec, obs = state.shared_account, observed.shared
    if rec is None or obs is None or obs.user_name != rec.user_name:
        return []
    drift = []
    if obs.user_arn:
        rec.user_created, rec.user_arn = True, obs.user_arn
    elif rec.user_created:
        drift.append(f"shared user {rec.user_name}: deleted outside esmctl")
        rec.user_created = False
    if obs.policy_arn:
        rec.policy_created, rec.policy_arn = True, obs.policy_arn
    elif rec.policy_created:
        drift.append(f"shared invoke policy {rec.policy_name}: deleted outside esmctl")
        rec.policy_created = False
    if rec.policy_attached and not obs.attached and obs.user_arn:
        drift.append(f"shared user {rec.user_name}: the invoke policy was detached")
    rec.policy_attached = obs.attached
    for part in rec.policy_parts:
        if part.name in obs.parts:
            part.created, part.attached = True, obs.parts[part.name]
        elif part.created:
            drift.append(f"shared invoke policy {part.name}: deleted outside esmctl")
            part.created = part.attached = False
    if obs.stored_key_id and obs.stored_key_id in obs.keys:
        rec.access_key_id = obs.stored_key_id  # finishes a create or rotation that died before recording
    elif rec.access_key_id and rec.access_key_id not in obs.keys and obs.user_arn:
        drift.append(f"shared user {rec.user_name}: access key {rec.access_key_id} deleted outside esmctl")
        rec.access_key_id = ""
    extra = [k for k in obs.keys if k != rec.access_key_id]
    if extra:
        drift.append(f"shared user {rec.user_name}: {len(extra)} extra access key(s) ({', '.join(extra)})")
    return drift


def applies(config: Config, state: State | None) -> bool:
    """The configuration asks for the shared user, or the state still has one to tear down."""
    return config.settings.enable_shared_service_account or bool(state and state.shared_account)


def plan(ctx: Planning) -> None:
    """Created and kept in step with the endpoints, or torn down (`destroy`: the whole environment;
    `destroy --target` keeps it for the deployments that stay)."""
    if not (ctx.whole or ctx.destroy):
        return
    config, state = ctx.config, ctx.state
    rec: SharedAccountRecord | None = state.shared_account if state else None
    obs = ctx.observed.shared
    region, account = ctx.region, ctx.account
    enabled = bool(config and config.settings.enable_shared_service_account and not (ctx.destroy and ctx.whole))
    want_user = config.shared_user_name if config else ""
    want_store = config.settings.secret_store if config else ""
    moved_store = ""
    post: list[tuple[str, Spec, str]] = []
    if rec is not None and enabled and rec.user_name == want_user and rec.secret_store != want_store:
        moved_store = rec.secret_store  # a new key goes to the new store; the old secret is deleted
        post.append(("delete", Secret(rec.secret_ref or rec.user_name, rec.secret_store, rec.user_name),
                     f"moved to {want_store}"))
    if rec is not None and (not enabled or rec.user_name != want_user):
        post += _teardown(rec, obs, region, account)
        rec = None
        obs = None
    for verb, spec, reason in post:
        ctx.add(verb, spec, phase="post", reason=reason)
    if not enabled or config is None:
        return
    user, policy = want_user, config.shared_policy_name
    policy_arn = naming.iam_policy_arn(region, account, policy)
    endpoints = ctx.endpoint_names()
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
        ctx.notes.append(f"the shared user needs {len(parts)} invoke policies; IAM attaches at most "
                         f"{naming.USER_MANAGED_POLICIES} managed policies to a user unless the quota 'Managed "
                         "policies per user' is raised (up to 20)")
    user_exists = obs is not None and bool(obs.user_arn)
    if not user_exists:
        ctx.add("create", User(user), phase="pre")
    elif obs is not None and obs.user_tags.get(naming.TAG_ENVIRONMENT) != config.environment:
        from esmctl.resources.role import UNTAGGED
        ctx.add("tag", User(user), phase="pre", reason=UNTAGGED)
    # Beyond ~70 endpoints one policy would pass IAM's 6,144-character limit: more policies, each
    # with exact ARNs (`-2`, `-3` ...); part 1 is the policy itself.
    for part, chunk in sorted(parts.items()):
        if part == 1:
            _keep_policy(ctx, user, policy, policy_arn, chunk, doc_reason,
                         exists=obs is not None and bool(obs.policy_arn), attached=obs is not None and obs.attached,
                         recorded=rec.policy_endpoints if rec is not None else None)
        else:
            name = naming.policy_part_name(policy, part)
            _keep_policy(ctx, user, name, naming.iam_policy_arn(region, account, name), chunk,
                         f"allows InvokeEndpoint on {len(chunk)} more endpoints (IAM's policy size limit)",
                         exists=obs is not None and name in obs.parts,
                         attached=obs is not None and obs.parts.get(name, False), recorded=recorded.get(part))
    if rec is not None:
        for verb, spec, reason in _remove_parts(rec, obs, region, account, keep=set(parts)):
            ctx.add(verb, spec, phase="post", reason=reason)
    keys = obs.keys if obs is not None else ()
    stored = obs.stored_key_id if obs is not None and not moved_store else None
    if stored and stored in keys:
        for k in keys:
            if k != stored:
                ctx.add("delete", AccessKey(k, user), phase="pre", reason="not the stored key")
    else:
        for k in keys:  # their secret is not in the store: unusable, replace them
            ctx.add("delete", AccessKey(k, user), phase="pre", reason="its secret is not stored")
        where = "Secrets Manager " + secrets.secret_name(config.environment, user) \
            if want_store == "secretsmanager" else "a local 0600 file"
        ctx.add("create", AccessKey(user, user), phase="pre", reason=f"secret kept in {where}")


def _teardown(rec: SharedAccountRecord, obs: Any, region: str, account: str) -> list[tuple[str, Spec, str]]:
    """Everything of the recorded user, in an order IAM accepts."""
    out: list[tuple[str, Spec, str]] = []
    user_exists = obs is not None and obs.user_name == rec.user_name and bool(obs.user_arn)
    for k in obs.keys if obs is not None and user_exists else ():
        out.append(("delete", AccessKey(k, rec.user_name), ""))
    policy_arn = rec.policy_arn or naming.iam_policy_arn(region, account, rec.policy_name)
    if user_exists and obs is not None and obs.attached:
        out.append(("detach", UserPolicy(rec.user_name, policy_arn), ""))
    if (obs is not None and obs.policy_arn) or not user_exists:
        out.append(("delete", InvokePolicy(rec.policy_name, policy_arn), ""))
    out += _remove_parts(rec, obs if user_exists else None, region, account, keep={1})
    if user_exists:
        out.append(("delete", User(rec.user_name), ""))
    out.append(("delete", Secret(rec.secret_ref or rec.user_name, rec.secret_store, rec.user_name), ""))
    return out


def _keep_policy(ctx: Planning, user: str, name: str, arn: str, endpoints: list[str], create_reason: str, *,
                 exists: bool, attached: bool, recorded: list[str] | None) -> None:
    """One invoke policy of the shared user: created, or given a new version when the endpoints it
    allows changed (`recorded`: what the state says it allows), and attached to the user."""
    spec = InvokePolicy(name, arn, tuple(endpoints), user)
    if not exists:
        ctx.add("create", spec, phase="pre", reason=create_reason)
    elif recorded is None or sorted(recorded) != endpoints:
        if recorded == [naming.WIDE_POLICY]:
            n = len(endpoints)
            why = f'narrowed from Resource "*" to {n} endpoint{"s" if n != 1 else ""}'
        else:
            why = f"{len(recorded or [])} → {len(endpoints)} endpoints"
        ctx.add("update", replace(spec, user=""), phase="pre", reason=f"{why}; a new default version")
    if not attached:
        ctx.add("attach", UserPolicy(user, arn), phase="pre")


def _remove_parts(rec: SharedAccountRecord, obs: Any, region: str, account: str,
                  keep: set[int]) -> list[tuple[str, Spec, str]]:
    """Detach and delete the further invoke policies whose numbers are not in `keep` (fewer endpoints
    now, or the shared user goes). With no user in AWS, every recorded one is deleted (idempotent)."""
    out: list[tuple[str, Spec, str]] = []
    user_seen = obs is not None and bool(obs.user_arn)
    names = {p.name for p in rec.policy_parts} | set(obs.parts if obs is not None else {})
    for name in sorted(names, key=lambda n: naming.part_number(rec.policy_name, n) or 0):
        number = naming.part_number(rec.policy_name, name)
        if number is None or number in keep:
            continue
        arn = naming.iam_policy_arn(region, account, name)
        if obs is not None and obs.parts.get(name):
            out.append(("detach", UserPolicy(rec.user_name, arn), ""))
        if not user_seen or obs is None or name in obs.parts:
            out.append(("delete", InvokePolicy(name, arn), "not needed for this many endpoints"))
    return out


def plan_rotation(ctx: Planning) -> None:
    """`creds rotate`: converge leftovers (keys whose secret is not stored), then a new key, stored;
    verified; only then the old key deleted."""
    rec = ctx.state.shared_account if ctx.state else None
    obs = ctx.observed.shared
    if rec is None or obs is None or not obs.user_arn:
        raise EsmctlError("There is no shared service account to rotate.",
                          hint="Enable it in esmctl.yaml and run `esmctl deploy`.")
    user, current = rec.user_name, obs.stored_key_id or ""
    if current not in obs.keys:
        raise EsmctlError(f"The stored secret of {user} does not match any of its access keys.",
                          hint="Run `esmctl deploy`: it replaces a key whose secret was lost.")
    for k in obs.keys:
        if k != current:  # left by a rotation that died before finishing; its secret is not stored
            ctx.add("delete", AccessKey(k, user), phase="pre", reason="left over by an interrupted rotation")
    ctx.add("create", AccessKey(user, user, rotation=True), phase="pre", reason="the new key, stored")
    ctx.add("verify", AccessKey(user, user, rotation=True), phase="pre",
            reason="sts:GetCallerIdentity with the new key; on failure the old key is kept")
    ctx.add("delete", AccessKey(current, user, rotation=True), phase="pre", reason="the old one")


# --- handlers ------------------------------------------------------------------------------------
def _shared(run: Run) -> SharedAccountRecord:
    st = run.store.state
    if st.shared_account is None:
        assert run.config is not None
        c = run.config
        st.shared_account = SharedAccountRecord(user_name=c.shared_user_name, secret_store=c.settings.secret_store,
                                                policy_name=c.shared_policy_name)
    return st.shared_account


def _record_policy(run: Run, name: str, **fields: Any) -> None:
    """Record `fields` (arn, created, attached, endpoints) of invoke policy `name`: the policy
    itself in the shared record's `policy_*` fields, a further part (`-2`, `-3` ...) in its own
    record, added when missing (recorded before its create call)."""
    rec = _shared(run)
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


@handler("create", User, action="create_user", symbol="+", resource="shared user", order=0,
         iam={"iam:CreateUser": "user", "iam:TagUser": "user", "iam:GetUser": "user"})
def create_user(run: Run, a: Action) -> None:
    assert run.config is not None
    with run.store.change():
        _shared(run)
    try:
        user = run.aws.iam.create_user(a.name, tags=run.tags(S))
    except AlreadyExists:
        user = run.aws.iam.get_user(a.name) or {}
        tags = {t["Key"]: t["Value"] for t in user.get("Tags", [])}
        if tags.get(naming.TAG_ENVIRONMENT) != run.config.environment:
            raise AwsError(
                f"The IAM user {a.name} already exists and was not made by esmctl for this environment.",
                hint="Set `shared_service_account_name:` to another name, or delete that user.") from None
    with run.store.change():
        rec = _shared(run)
        rec.user_arn, rec.user_created = user.get("Arn", ""), True


@handler("tag", User, action="tag_user", symbol="~", resource="tags of shared user", order=0,
         iam={"iam:TagUser": "user"})
def tag_user(run: Run, a: Action) -> None:
    run.aws.iam.tag_user(a.name, run.tags(S))


@handler("delete", User, action="delete_user", symbol="-", resource="shared user", order=9,
         iam={"iam:DeleteUser": "user"})
def delete_user(run: Run, a: Action) -> None:
    run.aws.iam.delete_user(a.name)
    with run.store.change() as st:
        if st.shared_account is not None:
            st.shared_account.user_created = False


def _document(run: Run, s: InvokePolicy) -> str:
    assert run.config is not None
    return naming.invoke_policy(run.config.region, run.aws.account_id(), list(s.endpoints))


def _new_version(run: Run, arn: str, document: str) -> None:
    """Publish a new default version, first pruning the oldest so IAM's limit of 5 is never hit."""
    versions = run.aws.iam.list_policy_versions(arn)
    old = sorted((v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"])
    while len(old) >= 4:  # 4 old + the default = 5, IAM's limit
        run.aws.iam.delete_policy_version(arn, old.pop(0)["VersionId"])
    run.aws.iam.create_policy_version(arn, document=document)


_VERSIONS: dict[str, Scope] = {"iam:ListPolicyVersions": "invoke-policy", "iam:DeletePolicyVersion": "invoke-policy",
                             "iam:CreatePolicyVersion": "invoke-policy"}


@handler("create", InvokePolicy, action="create_policy", symbol="+", resource="shared invoke policy", order=1,
         iam={"iam:CreatePolicy": "invoke-policy", "iam:TagPolicy": "invoke-policy", **_VERSIONS})
def create_policy(run: Run, a: Action) -> None:
    s = a.spec
    assert isinstance(s, InvokePolicy)
    with run.store.change():
        _record_policy(run, a.name, arn=s.policy_arn)
    try:
        arn = run.aws.iam.create_policy(a.name, document=_document(run, s),
                                        description=naming.SHARED_POLICY_DESCRIPTION, tags=run.tags(S))
    except AlreadyExists:  # from a run that died before recording it: bring its document up to date
        arn = s.policy_arn
        _new_version(run, arn, _document(run, s))
    with run.store.change():
        _record_policy(run, a.name, arn=arn, created=True, endpoints=list(s.endpoints))


@handler("update", InvokePolicy, action="update_policy", symbol="~", resource="shared invoke policy", order=1,
         iam=_VERSIONS)
def update_policy(run: Run, a: Action) -> None:
    s = a.spec
    assert isinstance(s, InvokePolicy)
    _new_version(run, s.policy_arn, _document(run, s))
    with run.store.change():
        _record_policy(run, a.name, created=True, endpoints=list(s.endpoints))


@handler("delete", InvokePolicy, action="delete_policy", symbol="-", resource="shared invoke policy", order=8,
         iam={"iam:GetPolicy": "invoke-policy", "iam:ListPolicyVersions": "invoke-policy",
              "iam:DeletePolicyVersion": "invoke-policy", "iam:DeletePolicy": "invoke-policy"})
def delete_policy(run: Run, a: Action) -> None:
    s = a.spec
    assert isinstance(s, InvokePolicy)
    arn = s.policy_arn
    if run.aws.iam.get_policy(arn) is not None:
        for v in run.aws.iam.list_policy_versions(arn):  # IAM wants the old versions gone first
            if not v["IsDefaultVersion"]:
                run.aws.iam.delete_policy_version(arn, v["VersionId"])
        run.aws.iam.delete_policy(arn)
    with run.store.change() as st:
        rec = st.shared_account
        if rec is not None and a.name == rec.policy_name:
            rec.policy_created = False
        elif rec is not None:
            rec.policy_parts = [p for p in rec.policy_parts if p.name != a.name]


@handler("attach", UserPolicy, action="attach_user_policy", symbol="+", resource="user policy attachment", order=2,
         iam={"iam:AttachUserPolicy": "user"})
def attach(run: Run, a: Action) -> None:
    s = a.spec
    assert isinstance(s, UserPolicy)
    run.aws.iam.attach_user_policy(a.name, s.policy_arn)
    with run.store.change():
        _record_policy(run, s.policy_arn.rsplit("/", 1)[-1], attached=True, created=True)


@handler("detach", UserPolicy, action="detach_user_policy", symbol="-", resource="user policy attachment", order=7,
         iam={"iam:DetachUserPolicy": "user"})
def detach(run: Run, a: Action) -> None:
    s = a.spec
    assert isinstance(s, UserPolicy)
    run.aws.iam.detach_user_policy(a.name, s.policy_arn)
    name = s.policy_arn.rsplit("/", 1)[-1]
    with run.store.change() as st:
        rec = st.shared_account
        if rec is not None and name == rec.policy_name:
            rec.policy_attached = False
        elif rec is not None:
            for part in rec.policy_parts:
                part.attached = part.attached and part.name != name


_STORE: dict[str, Scope] = {"secretsmanager:CreateSecret": "secret", "secretsmanager:PutSecretValue": "secret",
          "secretsmanager:TagResource": "secret",  # CreateSecret with Tags also needs TagResource
          "secretsmanager:GetSecretValue": "secret"}


@handler("create", AccessKey, action="create_access_key", symbol="+", resource="access key for", order=3,
         iam={"iam:CreateAccessKey": "user", "iam:DeleteAccessKey": "user", **_STORE})
def create_key(run: Run, a: Action) -> None:
    s = a.spec
    assert isinstance(s, AccessKey) and run.config is not None
    rec = _shared(run)
    store = secrets.store_for(run.config, run.aws, rec.secret_store if s.rotation else None, s.user)
    if s.rotation:
        run.remember(ROLLBACK, store.read() or {})
    key = run.aws.iam.create_access_key(s.user)
    try:
        ref = store.write({"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]})
    except BaseException:
        # An unstored key is useless: delete it, unless the write took effect and only its answer was
        # lost (then the store holds it, and it is the key to keep: the next run deletes the other).
        stored = None
        with contextlib.suppress(Exception):
            stored = (store.read() or {}).get("aws_access_key_id")
        if stored != key["AccessKeyId"]:
            run.aws.iam.delete_access_key(s.user, key["AccessKeyId"])
        raise
    with run.store.change():
        rec = _shared(run)
        rec.access_key_id = key["AccessKeyId"]
        rec.access_key_created = iso(key.get("CreateDate") or utcnow())
        rec.secret_ref = ref
        if not s.rotation:
            rec.secret_store = run.config.settings.secret_store


@handler("verify", AccessKey, action="verify_access_key", symbol="", resource="access key of", order=4,
         iam={"iam:DeleteAccessKey": "user", **_STORE})
def verify_key(run: Run, a: Action) -> None:
    """sts:GetCallerIdentity with the new key; while IAM propagates it (InvalidClientTokenId for a few
    seconds) the AWS layer retries for up to about two minutes (esmctl/aws/consistency.py). If it never
    works: the old key's secret goes back in the store and the new key is deleted."""
    s = a.spec
    assert isinstance(s, AccessKey) and run.config is not None
    rec = _shared(run)
    store = secrets.store_for(run.config, run.aws, rec.secret_store, s.user)
    doc = store.read() or {}
    try:
        run.aws.with_credentials(doc["aws_access_key_id"], doc["aws_secret_access_key"],
                                 fresh=True).sts.caller_identity()
    except AwsError as e:
        old = run.recall(ROLLBACK) or {}
        new_id = doc.get("aws_access_key_id", "")
        if old:
            store.write(old)  # put the old, working key back
        run.aws.iam.delete_access_key(s.user, new_id)
        with run.store.change():
            rec.access_key_id = old.get("aws_access_key_id", "")
        raise AwsError(f"The new access key did not work ({e.message}); it was deleted and the old key kept.",
                       hint="Run `esmctl creds rotate` again later.") from None
    run.ui.ok(f"The new key works ({s.user}).")


@handler("delete", AccessKey, action="delete_access_key", symbol="-", resource="access key", order=6,
         iam={"iam:DeleteAccessKey": "user"})
def delete_key(run: Run, a: Action) -> None:
    s = a.spec
    assert isinstance(s, AccessKey)
    run.aws.iam.delete_access_key(s.user, a.name)
    with run.store.change() as st:
        if st.shared_account is not None and st.shared_account.access_key_id == a.name:
            st.shared_account.access_key_id = ""


@handler("create", Secret, action="store_secret", symbol="+", resource="stored secret", order=3, iam=_STORE)
def store_secret(run: Run, a: Action) -> None:
    """Keep an adopted key's secret (import-terraform) in the store; the state records where."""
    s = a.spec
    assert isinstance(s, Secret) and run.config is not None and s.value is not None
    store = secrets.store_for(run.config, run.aws if s.store == "secretsmanager" else None, s.store, s.user)
    ref = store.write(s.value)
    with run.store.change() as st:
        if st.shared_account is not None:
            st.shared_account.secret_ref = ref


@handler("delete", Secret, action="delete_secret", symbol="-", resource="stored secret", order=10,
         iam={"secretsmanager:DeleteSecret": "secret"})
def delete_secret(run: Run, a: Action) -> None:
    s = a.spec
    assert isinstance(s, Secret) and run.config is not None
    secrets.store_for(run.config, run.aws, s.store, s.user).delete()
    with run.store.change() as st:
        rec = st.shared_account
        if rec is not None and rec.user_name == s.user and not rec.user_created:
            st.shared_account = None  # everything of the old user is gone
