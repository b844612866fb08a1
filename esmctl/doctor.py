"""Preflight stage: `esmctl doctor`, and the cheap checks `deploy` runs before it creates anything.

Each check is a function that returns `Finding`s (name, level ok/warning/error, message, fix). They
only read (STS, Describe/List/Get calls, Service Quotas, IAM's policy simulator, the state file),
except the subscription probe: a SageMaker model created and deleted at once, which costs nothing
(and probe models a dead doctor run left behind, deleted after ten minutes).
Nothing here changes the state, and nothing here renders (the CLI does).

The checks, in order:
- configuration: esmctl.yaml + models.yaml load (the model package region is checked separately);
- credentials: `sts:GetCallerIdentity` works (account, principal) and they do not expire within
  EXPIRY_WARNING; expired → error;
- region: every selected model package ARN is in the configured region;
- subscription: `DescribeModelPackage` for each selected package proves it exists in the region;
  only CreateModel checks the Marketplace subscription, so with an execution role at hand doctor
  creates and deletes a probe model (free); otherwise "subscription not verified" (a warning);
- quota: per instance type, "<type> for endpoint usage" (Service Quotas) covers the instances in
  use in this region plus those this deploy adds; a quota Service Quotas does not list → warning;
- permissions: `iam:SimulatePrincipalPolicy` for the actions esmctl calls; when it cannot be
  simulated → warning, never an error;
- state: readable, and not locked by a live run.
CHEAP (credentials, region, subscription, quota) is what `deploy` runs first.

A check that crashes (a bug, or an error it does not expect) becomes an error finding of its own,
"<check> crashed: <type>: <message>", and the other checks still run: `doctor --json` always prints
one document. The traceback goes to `on_crash` (the reporter's -v details).

Everything comes in as arguments (configuration, AWS session, state backend, `on_crash`): this module
knows nothing of `esmctl.api` or of the terminal.
"""

from __future__ import annotations

import datetime as dt
import re
import traceback
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from esmctl import errors as error_codes
from esmctl import naming
from esmctl import state as state_mod
from esmctl.errors import AwsError, ConfigError, EsmctlError, NotFound, NotSubscribed

if TYPE_CHECKING:
    from esmctl.aws import Aws
    from esmctl.config import Config, Deployment
    from esmctl.state import State

T = TypeVar("T")
OnCrash = Callable[[str], None]  # is given the traceback of a crashed check
Connect = Callable[["Config"], "Aws"]  # the AWS session for the configuration `diagnose` loaded
Level = Literal["ok", "warning", "error"]
LEVELS: tuple[Level, ...] = ("ok", "warning", "error")
EXPIRY_WARNING = dt.timedelta(minutes=15)  # an endpoint takes 10-15 minutes to create
QUOTA_SERVICE_CODE = "sagemaker"
# Endpoint statuses whose instances count against the quota (Failed and OutOfService hold none).
HOLDING_INSTANCES = frozenset({"InService", "Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})
CREDENTIAL_CODES = error_codes.CREDENTIAL_CODES | {"NoCredentials", "SSO"}  # and aws/errors.translate's own codes
ACCESS_CODES = error_codes.ACCESS_CODES
ASSUMED_ROLE = re.compile(r"^arn:(?P<partition>aws[a-z-]*):sts::(?P<account>\d{12}):assumed-role/(?P<role>[^/]+)/")

MARKETPLACE_FIX = (
    "Subscribe in AWS Marketplace: sign in to the AWS console as this account, open AWS Marketplace, "
    "search 'EvolutionaryScale ESM', open the model ({selector}), choose Continue to Subscribe and accept "
    "the offer; wait until Marketplace → Manage subscriptions shows it as active (a few minutes), then run "
    "`esmctl doctor` again. Also check that models.yaml has the model package ARN for {region} (the "
    "subscription's Configure/Launch page shows the ARN per region)."
)
CRASH_FIX = "Run `esmctl -v doctor` for details and report it"
CREDENTIALS_FIX = (
    "Refresh them: `aws sso login --profile NAME` for SSO, or export fresh keys; "
    "`aws sts get-caller-identity` tells when they work."
)


@dataclass(frozen=True)
class Finding:
    """One result of a check: `fix` says what to do when the level is not ok."""

    name: str
    level: Level
    message: str
    fix: str = ""

    def to_json(self) -> dict[str, str]:
        return asdict(self)


def ok(name: str, message: str) -> Finding:
    return Finding(name, "ok", message)


def warning(name: str, message: str, fix: str = "") -> Finding:
    return Finding(name, "warning", message, fix)


def error(name: str, message: str, fix: str = "") -> Finding:
    return Finding(name, "error", message, fix)


def crashed(name: str, e: BaseException, on_crash: OnCrash | None = None) -> Finding:
    """The error finding for a check that raised `e` (call it in the `except` block: the traceback
    goes to `on_crash`)."""
    if on_crash is not None:
        on_crash(f"{name} crashed:\n{traceback.format_exc()}")
    return error(name, f"{name} crashed: {type(e).__name__}: {e}", CRASH_FIX)


def _safely(name: str, check: Callable[[], T], fallback: Callable[[Finding], T], on_crash: OnCrash | None) -> T:
    """`check()`; when it raises anything (an EsmctlError it does not handle, a KeyError …),
    `fallback` of the crash finding, so the other checks still run."""
    try:
        return check()
    except EsmctlError as e:  # an AWS or esmctl error the check did not expect: its own words and next step
        return fallback(error(name, e.message, e.hint))
    except Exception as e:  # a crashing check must not take the others down
        return fallback(crashed(name, e, on_crash))


def _only(f: Finding) -> list[Finding]:
    return [f]


def _nothing_else(f: Finding) -> tuple[list[Finding], Any]:
    return [f], None


def errors(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.level == "error"]


def summary(findings: list[Finding]) -> dict[str, int]:
    return {level: sum(1 for f in findings if f.level == level) for level in LEVELS}


def report(findings: list[Finding]) -> dict[str, Any]:
    """The `doctor --json` document."""
    return {"ok": not errors(findings), "summary": summary(findings),
            "findings": [f.to_json() for f in findings]}


# --- the checks ------------------------------------------------------------------------------------


def check_credentials(aws: Aws, *, now: dt.datetime | None = None,
                      warn_within: dt.timedelta = EXPIRY_WARNING) -> tuple[list[Finding], dict[str, Any] | None]:
    """Who the credentials are (GetCallerIdentity) and when they expire; the identity when they work."""
    now = now or state_mod.utcnow()
    try:
        method, expiry = aws.credential_expiry()
    except AwsError as e:
        return [error("credentials", e.message, e.hint)], None
    source = f" (from {method})" if method else ""
    if expiry is not None and expiry <= now:
        return [error("credentials", f"the AWS credentials{source} expired at {state_mod.iso(expiry)}",
                      CREDENTIALS_FIX)], None
    try:
        ident = aws.sts.caller_identity()
    except AwsError as e:
        if e.code in CREDENTIAL_CODES:
            return [error("credentials", f"the AWS credentials{source} do not work: {e.message}",
                          CREDENTIALS_FIX)], None
        return [error("credentials", f"cannot check the credentials{source}: {e.message}", e.hint)], None
    who = f"account {ident.get('Account', '?')} as {ident.get('Arn', '?')}{source}"
    if expiry is None:  # SSO and assumed-role credentials learn their expiry on first use
        try:
            expiry = aws.credential_expiry()[1]
        except AwsError:
            expiry = None
    if expiry is None:
        return [ok("credentials", who)], ident
    left = expiry - now
    if left <= warn_within:
        minutes = max(1, int(left.total_seconds() // 60))
        return [warning("credentials", f"{who}; they expire in {minutes} min, at {state_mod.iso(expiry)}",
                        "Refresh them before a long run (creating an endpoint takes 10-15 minutes): "
                        "`aws sso login --profile NAME`, or assume the role again.")], ident
    return [ok("credentials", f"{who}; valid until {state_mod.iso(expiry)}")], ident


def check_region(cfg: Config, targets: Iterable[str] = ()) -> list[Finding]:
    """Every selected model package ARN is in the configured region (ARNs are regional)."""
    deps = _selected(cfg, targets)
    if not deps:
        return [ok("region", f"{cfg.region}: no deployments selected")]
    wrong = [(d, naming.arn_region(d.model_package)) for d in deps]
    wrong = [(d, r) for d, r in wrong if r and r != cfg.region]
    if not wrong:
        return [ok("region", f"{cfg.region} matches the model package ARN of every selected deployment")]
    regions = sorted({r for _, r in wrong if r})
    which = "; ".join(f"{d.name} ({d.selector}) is in {r}" for d, r in wrong)
    return [error("region", f"region is {cfg.region}, but the model package of {which}",
                  f"Model package ARNs are regional: deploy in {' or '.join(regions)} (`region:` in "
                  f"{cfg.path.name} or --region), or put the package ARN for {cfg.region} in "
                  f"{cfg.catalog_path.name} (the Marketplace subscription shows the ARN per region).")]


def check_subscriptions(aws: Aws, cfg: Config, targets: Iterable[str] = (), *,
                        probe_role: str | None = None) -> list[Finding]:
    """Is this account subscribed to each distinct selected model package?

    DescribeModelPackage answers for any account (the SageMaker Python SDK calls it before
    CreateModel, and unsubscribed runs fail only at CreateModel): it proves the ARN exists in the
    region, not the subscription. The one signal SageMaker gives is CreateModel itself, which costs
    nothing: with `probe_role` (an execution role that exists), a probe model is created and
    deleted at once. Without one, the package is reported "exists; subscription not verified"
    (a warning): never "subscribed" unless verified.
    """
    packages: dict[str, list[Deployment]] = {}
    for d in _selected(cfg, targets):
        packages.setdefault(d.model_package, []).append(d)
    if probe_role is not None and packages:
        remove_leftover_probes(aws, state_mod.utcnow())  # once, before the probes
    out: list[Finding] = []
    for arn, deps in packages.items():
        selector = ", ".join(sorted({d.selector for d in deps}))
        users = ", ".join(d.name for d in deps)
        name = f"subscription {selector}"
        fix = MARKETPLACE_FIX.format(selector=selector, region=cfg.region)
        pkg_region = naming.arn_region(arn)
        if pkg_region and pkg_region != cfg.region:
            out.append(warning(name, f"not checked: the package {arn} is in {pkg_region} (see region)",
                               "Fix the region first."))
            continue
        try:
            described = aws.sagemaker.describe_model_package(arn)
        except NotFound:
            out.append(error(name, f"this account cannot see the model package {arn} in {cfg.region} "
                                   f"(used by {users}): the ARN is wrong for this region, or the listing is gone",
                             fix))
            continue
        except AwsError as e:
            out.append(_subscription_error(name, arn, users, e, fix))
            continue
        status = str(described.get("ModelPackageStatus") or "")
        label = described.get("ModelPackageName") or arn
        if status and status != "Completed":
            out.append(warning(name, f"the model package {label} is {status}, not Completed (used by {users})",
                               "Wait until it is Completed, or check the subscription in AWS Marketplace."))
            continue
        if probe_role is None:
            out.append(warning(name, f"the model package {label} exists in {cfg.region}; subscription not verified "
                                     f"(used by {users})", NOT_VERIFIED_FIX))
            continue
        out.append(_probe(aws, cfg, arn, label, users, probe_role, name, fix))
    return out


NOT_VERIFIED_FIX = (
    "Only CreateModel tells whether the account is subscribed: `esmctl deploy` creates every model before any "
    "endpoint config or endpoint, so an unsubscribed package stops it before anything is billed. Once the "
    "execution role exists (after a first deploy, or with execution_role_arn), `esmctl doctor` verifies it with a "
    "probe model; or check AWS Marketplace → Manage subscriptions."
)


PROBE_PREFIX = "esmctl-probe-"
PROBE_LEFTOVER_AGE = dt.timedelta(minutes=10)  # older probe models were left by a doctor run that died


def _probe(aws: Aws, cfg: Config, arn: str, label: str, users: str, role: str, name: str, fix: str) -> Finding:
    """CreateModel + DeleteModel of a throw-away model: SageMaker's own subscription check (free)."""
    probe = f"{PROBE_PREFIX}{naming.new_suffix()}"
    try:
        aws.sagemaker.create_model(probe, role_arn=role, model_package=arn,
                                   tags=naming.tags(dict(cfg.settings.tags), cfg.environment, naming.SHARED))
    except NotSubscribed:
        return error(name, f"this AWS account is not subscribed to the AWS Marketplace offering of {label} "
                           f"(used by {users}; CreateModel refused a probe model)", fix)
    except AwsError as e:
        return warning(name, f"the model package {label} exists in {cfg.region}; subscription not verified: the "
                             f"probe CreateModel failed ({e.code or 'error'}: {e.message})", NOT_VERIFIED_FIX)
    try:
        aws.sagemaker.delete_model(probe)
    except AwsError as e:
        return ok(name, f"subscribed (verified: SageMaker accepted a probe model of {label}); deleting the probe "
                        f"model {probe} failed ({e.code}), delete it yourself (it costs nothing)")
    return ok(name, f"subscribed (verified: SageMaker accepted a probe model of {label}, deleted at once; "
                    f"used by {users})")


def _subscription_error(name: str, arn: str, users: str, e: AwsError, fix: str) -> Finding:
    if isinstance(e, NotSubscribed):
        return error(name, f"this AWS account is not subscribed to the AWS Marketplace offering of {arn} "
                           f"(used by {users})", fix)
    if e.code in ACCESS_CODES:
        return error(name, f"access to the model package {arn} was denied (used by {users}): the account is "
                           "not subscribed, or the caller may not call sagemaker:DescribeModelPackage",
                     fix + " If the subscription is active, allow sagemaker:DescribeModelPackage.")
    if e.code in CREDENTIAL_CODES:
        return error(name, e.message, e.hint)
    return warning(name, f"could not check the subscription to {arn}: {e.message}", e.hint)


def instances_to_add(cfg: Config, state: State | None, targets: Iterable[str] = ()) -> dict[str, int]:
    """Per instance type, the instances a deploy would start beyond those running now.

    A deployment running on its recorded endpoint config with the same type and count adds none; a
    new or vanished one adds its count; a changed type or count adds the whole new fleet, because
    SageMaker starts it before it stops the old one. Stopped deployments stay stopped: none.
    """
    out: dict[str, int] = {}
    for d in _selected(cfg, targets):
        dep = state.deployments.get(d.name) if state else None
        if dep is not None and dep.desired == "stopped":
            continue
        cfg_rec, ep = (dep.endpoint_config, dep.endpoint) if dep else (None, None)
        running = (ep is not None and ep.created and ep.status != "Failed" and cfg_rec is not None
                   and (cfg_rec.instance_type, cfg_rec.instance_count) == (d.instance_type, d.instance_count))
        add = 0 if running else d.instance_count
        out[d.instance_type] = out.get(d.instance_type, 0) + add
    return out


def instances_in_use(aws: Aws) -> dict[str, int]:
    """Per instance type, the instances of every endpoint in this account and region.

    ListEndpoints, then DescribeEndpoint (its current config) and DescribeEndpointConfig (the
    instance type and count of each variant): two calls per endpoint, configs read once each.
    Endpoints that hold no instances (Failed, OutOfService) are left out.
    """
    usage: dict[str, int] = {}
    configs: dict[str, dict[str, Any] | None] = {}
    for summary_ in aws.sagemaker.list_endpoints():
        if summary_.get("EndpointStatus") not in HOLDING_INSTANCES:
            continue
        described = aws.sagemaker.describe_endpoint(summary_["EndpointName"])
        config_name = (described or {}).get("EndpointConfigName")
        if not config_name:
            continue
        if config_name not in configs:
            configs[config_name] = aws.sagemaker.describe_endpoint_config(config_name)
        current = {v.get("VariantName"): v.get("CurrentInstanceCount") for v in
                   (described or {}).get("ProductionVariants", [])}
        for variant in (configs[config_name] or {}).get("ProductionVariants", []):
            itype = variant.get("InstanceType")
            if not itype:
                continue  # serverless
            count = current.get(variant.get("VariantName")) or variant.get("InitialInstanceCount") or 0
            usage[itype] = usage.get(itype, 0) + int(count)
    return usage


def quota_name(instance_type: str) -> str:
    return f"{instance_type} for endpoint usage"


def check_quotas(aws: Aws, cfg: Config, state: State | None, targets: Iterable[str] = ()) -> list[Finding]:
    """Per selected instance type: quota ≥ in use + to add. Unknown quota → warning."""
    adding = instances_to_add(cfg, state, targets)
    if not adding:
        return []
    names = [quota_name(t) for t in adding]
    try:
        quotas = aws.quotas.find(QUOTA_SERVICE_CODE, names) if any(adding.values()) else {}
    except AwsError as e:
        if e.code in CREDENTIAL_CODES:
            return [error("quota", e.message, e.hint)]
        return [warning(f"quota {t}", f"could not read the Service Quotas for SageMaker: {e.message}",
                        "Allow servicequotas:ListServiceQuotas and servicequotas:ListAWSDefaultServiceQuotas, "
                        f"or check '{quota_name(t)}' in the Service Quotas console yourself.")
                for t in sorted(adding)]
    try:
        usage = instances_in_use(aws) if quotas else {}
    except AwsError as e:
        return [warning(f"quota {t}", f"could not count the instances in use: {e.message}", e.hint)
                for t in sorted(adding)]
    out: list[Finding] = []
    for itype, add in sorted(adding.items()):
        name, qname = f"quota {itype}", quota_name(itype)
        if add == 0:
            out.append(ok(name, f"nothing to add on {itype}: the deployments using it already run"))
            continue
        quota = quotas.get(qname)
        if quota is None:
            out.append(warning(name, f"no Service Quotas entry '{qname}' in {cfg.region}, so the quota is unknown "
                                     f"({add} instance{'s' if add != 1 else ''} to add)",
                               f"Check '{qname}' in the Service Quotas console (Amazon SageMaker, {cfg.region}); "
                               "if SageMaker does not offer the instance type there, choose another instance_type."))
            continue
        limit = int(quota.get("Value", 0))
        used = usage.get(itype, 0)
        detail = f"'{qname}' is {limit}: {used} in use + {add} to add"
        if used + add <= limit:
            out.append(ok(name, detail))
            continue
        code = quota.get("QuotaCode", "")
        out.append(error(name, f"the quota is too low: {detail} = {used + add}",
                         f"Request an increase to at least {used + add} in the Service Quotas console (Amazon "
                         f"SageMaker → '{qname}', {cfg.region}), or `aws service-quotas "
                         f"request-service-quota-increase --service-code sagemaker --quota-code {code} "
                         f"--desired-value {used + add} --region {cfg.region}`; or choose another instance_type "
                         "in esmctl.yaml."))
    return out


def needed_actions(cfg: Config) -> list[str]:
    """The IAM actions esmctl calls for this configuration: exactly those of `esmctl permissions`
    (esmctl/permissions.py, built from what each handler declares)."""
    from esmctl import permissions
    return permissions.actions(cfg, "all")


def principal_for_simulation(aws: Aws, arn: str) -> str | None:
    """The IAM ARN to simulate for the caller: an assumed role's session → the role's ARN (with its
    path, from GetRole when allowed). None for the root user and federated users."""
    if re.match(r"^arn:aws[a-z-]*:iam::\d{12}:root$", arn) or ":federated-user/" in arn:
        return None
    m = ASSUMED_ROLE.match(arn)
    if m is None:
        return arn
    try:
        role = aws.iam.get_role(m["role"])
    except AwsError:
        role = None
    if role and role.get("Arn"):
        return str(role["Arn"])
    return f"arn:{m['partition']}:iam::{m['account']}:role/{m['role']}"


def check_permissions(aws: Aws, cfg: Config, caller_arn: str) -> list[Finding]:
    """`iam:SimulatePrincipalPolicy` for the actions esmctl needs, each statement of `esmctl permissions`
    on its own resources (this environment's names); a warning when it cannot be run."""
    from esmctl import permissions

    principal = principal_for_simulation(aws, caller_arn)
    if principal is None:
        if caller_arn.endswith(":root"):
            return [warning("permissions", "signed in as the account's root user: every action is allowed, "
                                           "but AWS advises against using it for daily work",
                            "Use an IAM role or user (for example through IAM Identity Center / SSO).")]
        return [warning("permissions", f"could not check permissions: {caller_arn} cannot be simulated",
                        "Compare your policies with `esmctl permissions` (the policy esmctl needs).")]
    account = caller_arn.split(":")[4] if caller_arn.count(":") >= 5 else ""
    doc = permissions.policy(cfg, None, "all", account=account)
    actions = needed_actions(cfg)
    results: list[dict[str, Any]] = []
    try:
        for acts, resources in permissions.simulations(doc):
            results += aws.iam.simulate_principal_policy(principal, acts, resources)
    except AwsError as e:
        return [warning("permissions", f"could not check permissions ({e.code or 'error'}: iam:SimulatePrincipalPolicy "
                                       f"for {principal})",
                        "Allow iam:SimulatePrincipalPolicy on your own user or role so `esmctl doctor` can check, "
                        "or compare your policies with `esmctl permissions`.")]
    denied = sorted({str(r.get("EvalActionName")) for r in results if r.get("EvalDecision") != "allowed"})
    if not denied:
        return [ok("permissions", f"{principal} may call all {len(actions)} actions esmctl needs (simulated on "
                                  "this environment's resources)")]
    return [error("permissions", f"{principal} may not call {len(denied)} of the {len(actions)} actions esmctl "
                                 f"needs: {', '.join(denied)}",
                  "Ask an administrator to allow them for your role or user: `esmctl permissions --json` prints "
                  "the policy esmctl needs. (Simulated without condition keys, permissions boundaries or SCPs.)")]


def check_state(backend: state_mod.Backend) -> tuple[list[Finding], State | None]:
    """The state (file or S3 object) can be read, and no live esmctl run holds its lock."""
    out: list[Finding] = []
    state: State | None = None
    path = backend.where
    try:
        state = backend.read()
    except EsmctlError as e:  # StateError, or an AWS error reading remote state
        out.append(error("state", e.message, e.hint))
    else:
        if state is None:
            out.append(ok("state", f"no state yet at {path} (nothing deployed in this environment)"))
        else:
            n = len(state.deployments)
            out.append(ok("state", f"{path} is readable: serial {state.serial}, {n} deployment{'s' if n != 1 else ''}"))
    try:
        holder = backend.read_lock()
    except OSError as e:  # e.g. the lock path is a directory
        out.append(error("lock", f"the lock file {backend.lock_where} cannot be read ({e.strerror or e})",
                         f"If no esmctl run is active, remove it (`rm -r {backend.lock_where}`)."))
        return out, state
    except EsmctlError as e:
        out.append(error("lock", e.message, e.hint))
        return out, state
    if holder is not None:
        alive = holder.alive()
        if alive is False:
            out.append(warning("lock", f"a lock was left by {holder.describe()}, which is no longer running",
                               "The next command that changes things takes it over; `esmctl unlock` removes it now."))
        elif alive is None:
            out.append(error("lock", f"the state is locked by {holder.describe()} (another host)",
                             "Wait for that run to finish; if it died, `esmctl unlock --force`."))
        else:
            out.append(error("lock", f"the state is locked by {holder.describe()}",
                             "Wait for that run to finish."))
    return out, state


# --- running them --------------------------------------------------------------------------------


def run_checks(cfg: Config, aws: Aws, *, backend: state_mod.Backend | None = None, targets: Iterable[str] = (),
               cheap: bool = False, now: dt.datetime | None = None, on_crash: OnCrash | None = None) -> list[Finding]:
    """All checks in order (`cheap`: only credentials, region, subscription and quota).

    The state in `backend` tells the quota check what already runs; without it every selected
    deployment counts as new. A check that crashes is an error finding; the others still run.
    """
    targets = list(targets)
    findings: list[Finding] = []
    state: State | None = None
    state_findings: list[Finding] = []
    if backend is not None:
        state_findings, state = _safely("state", lambda: check_state(backend), _nothing_else, on_crash)
    creds, ident = _safely("credentials", lambda: check_credentials(aws, now=now), _nothing_else, on_crash)
    findings += creds
    findings += _safely("region", lambda: check_region(cfg, targets), _only, on_crash)
    if ident is None:
        why = "the credentials check crashed" if any(f.fix == CRASH_FIX for f in creds) else \
            "the credentials do not work"
        findings.append(warning("AWS checks", "skipped the subscription, quota"
                                + ("" if cheap else " and permission") + f" checks: {why}",
                                "Fix the credentials first (see above)."))
    else:
        findings += _safely("subscription", lambda: check_subscriptions(
            aws, cfg, targets, probe_role=None if cheap else probe_role(cfg, state)), _only, on_crash)
        findings += _safely("quota", lambda: check_quotas(aws, cfg, state, targets), _only, on_crash)
        if not cheap:
            arn = str(ident.get("Arn", ""))
            findings += _safely("permissions", lambda: check_permissions(aws, cfg, arn), _only, on_crash)
    if not cheap:
        findings += state_findings
    return findings


def diagnose(config_path: str | Path | None = None, *, region: str | None = None, state: str | None = None,
             connect: Connect, now: dt.datetime | None = None, on_crash: OnCrash | None = None) -> list[Finding]:
    """`esmctl doctor`: every check for the configuration at `config_path` (`region` and `state`
    override what it says, as --region and --state do); `connect(config)` gives the AWS session.

    A model package in another region makes the configuration invalid for every other command;
    here it is the `region` finding, and the other checks still run. Never raises: a crash is a
    finding (its traceback goes to `on_crash`, the reporter's -v details).
    """
    try:
        return _diagnose(config_path, region=region, state=state, connect=connect, now=now, on_crash=on_crash)
    except Exception as e:  # outside any one check (a bug): still a finding, not a traceback
        return [crashed("doctor", e, on_crash)]


def _diagnose(config_path: str | Path | None, *, region: str | None, state: str | None, connect: Connect,
              now: dt.datetime | None, on_crash: OnCrash | None) -> list[Finding]:
    from esmctl import config as config_mod

    try:
        cfg = config_mod.load(config_path, region=region, state=state, check_regions=False)
    except ConfigError as e:
        n = len(e.problems)
        shown = "; ".join(p.render() for p in e.problems[:3]) + ("; ..." if n > 3 else "")
        return [error("configuration", f"{n} problem{'s' if n != 1 else ''} in the configuration: {shown}",
                      "Fix the files; `esmctl validate` lists every problem with its file and line.")]
    except Exception as e:
        return [crashed("configuration", e, on_crash)]
    n = len(cfg.deployments)
    findings = [ok("configuration", f"{cfg.path} and {cfg.catalog_path} are valid: {n} deployment"
                                    f"{'s' if n != 1 else ''}, environment {cfg.environment!r}, region {cfg.region}")]
    try:
        aws = connect(cfg)
    except AwsError as e:
        no_aws: Finding | None = error("credentials", e.message, e.hint)
    except Exception as e:
        no_aws = crashed("credentials", e, on_crash)
    else:
        no_aws = None
    if no_aws is not None:
        loc = cfg.state_location
        state_findings = _safely("state", lambda: check_state(state_mod.LocalBackend(loc))[0], _only, on_crash) \
            if isinstance(loc, Path) else \
            [warning("state", f"the remote state {loc} was not checked: reading it needs working credentials",
                     "Fix the credentials first (see above).")]
        return findings + [no_aws, *_safely("region", lambda: check_region(cfg), _only, on_crash), *state_findings]
    from esmctl.remote import backend_for

    backend: state_mod.Backend | None = None
    no_backend: list[Finding] = []
    try:
        backend = backend_for(cfg.state_location, cfg.environment, lambda: aws.s3,
                              kms_key=cfg.settings.state_kms_key)
    except Exception as e:
        no_backend = [crashed("state", e, on_crash)]
    return findings + run_checks(cfg, aws, backend=backend, now=now, on_crash=on_crash) + no_backend


def remove_leftover_probes(aws: Aws, now: dt.datetime) -> list[str]:
    """Delete probe models older than PROBE_LEFTOVER_AGE (a younger one may be another doctor's, in use)."""
    gone = []
    for m in aws.sagemaker.list_models():
        created = m.get("CreationTime")
        if not str(m.get("ModelName", "")).startswith(PROBE_PREFIX) or not isinstance(created, dt.datetime):
            continue
        if now - (created if created.tzinfo else created.replace(tzinfo=dt.UTC)) > PROBE_LEFTOVER_AGE:
            aws.sagemaker.delete_model(m["ModelName"])
            gone.append(m["ModelName"])
    return gone


def probe_role(cfg: Config, state: State | None) -> str | None:
    """An execution role that exists, for the subscription probe: the configured one, or esmctl's."""
    if cfg.settings.execution_role_arn:
        return cfg.settings.execution_role_arn
    if state is not None and state.role is not None and state.role.created and state.role.arn:
        return state.role.arn
    return None


def _selected(cfg: Config, targets: Iterable[str]) -> list[Deployment]:
    targets = set(targets)
    return [d for name, d in cfg.deployments.items() if not targets or name in targets]
