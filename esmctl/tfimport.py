"""Import stage for `esmctl import-terraform`: a Terraform state of the module → esmctl's state.

Reads either a state file (format version 4: `terraform state pull`, `terraform.tfstate`) or the
JSON of `terraform show -json`, finds the module's resources (its role, `random_id.instance_suffix`,
`aws_sagemaker_model`/`_endpoint_configuration`/`_endpoint` per deployment, the shared user with its
policy, attachment and access key) and builds what esmctl needs to adopt them under the same names:
the esmctl.yaml settings, a State, and the access key's secret (for the secret store, never the
state). Pure: no AWS calls and no files written here (api.Workspace.import_terraform does that).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from esmctl import naming
from esmctl.config import Catalog
from esmctl.errors import EsmctlError
from esmctl.state import (
    ConfigRecord,
    DeploymentState,
    EndpointRecord,
    ModelRecord,
    RoleRecord,
    SharedAccountRecord,
    State,
)

ROLE_RE = re.compile(r"^(?P<prefix>.+)-sagemaker-exec-(?P<env>.+)$")
SAGEMAKER_ARN_RE = re.compile(r"^arn:aws[a-z-]*:sagemaker:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):")
IAM_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::(?P<account>\d{12}):")
TYPES = ("aws_sagemaker_model", "aws_sagemaker_endpoint_configuration", "aws_sagemaker_endpoint", "random_id",
         "aws_iam_role", "aws_iam_role_policy_attachment", "aws_iam_user", "aws_iam_policy",
         "aws_iam_user_policy_attachment", "aws_iam_access_key")


class ImportError_(EsmctlError):
    """The Terraform state cannot be imported as it is."""


@dataclass(frozen=True)
class TfResource:
    module: str  # "" for the root module, else "module.NAME" (possibly nested)
    type: str
    name: str
    index: Any  # for_each key (str), count index (int) or None
    attrs: dict[str, Any]

    @property
    def address(self) -> str:
        idx = "" if self.index is None else f"[{json.dumps(self.index)}]"
        return f"{self.module + '.' if self.module else ''}{self.type}.{self.name}{idx}"


@dataclass
class Imported:
    settings: dict[str, Any]  # esmctl.yaml keys
    state: State
    module: str
    access_key: tuple[str, str] | None = None  # (id, secret) when the state holds the secret
    notes: list[str] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)  # what was adopted, for `terraform state rm`
    complete: bool = True  # every resource of the module was adopted (so `terraform state rm MODULE`)


def read(raw: bytes, where: str) -> list[TfResource]:
    """The managed resources of a Terraform state (v4) or `terraform show -json` document."""
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ImportError_(f"{where} is not JSON ({e}).",
                           hint="Give a state file (`terraform state pull > tf.json`) or `terraform show -json` output."
                           ) from None
    if not isinstance(doc, dict):
        raise ImportError_(f"{where} is not a Terraform state (not a JSON object).")
    if "format_version" in doc:
        if "values" not in doc:
            what = "a plan, not a state" if "planned_values" in doc else "an empty state"
            raise ImportError_(f"{where} is `terraform show -json` output of {what}.",
                               hint="Run `terraform show -json` without a plan file, in the module's directory.")
        return list(_show_resources((doc.get("values") or {}).get("root_module") or {}))
    version = doc.get("version")
    if version != 4:
        raise ImportError_(
            f"{where} is a Terraform state of format version {version!r}; esmctl reads version 4 "
            "(Terraform 0.12 and later).",
            hint="Run `terraform state pull > tf.json` with a current Terraform and import that.")
    out = []
    for r in doc.get("resources") or []:
        if r.get("mode", "managed") != "managed":
            continue
        for inst in r.get("instances") or []:
            if inst.get("deposed"):  # an old object of an interrupted replacement, not the current one
                continue
            out.append(TfResource(r.get("module", ""), r.get("type", ""), r.get("name", ""), inst.get("index_key"),
                                  inst.get("attributes") or {}))
    return out


def _show_resources(module: dict[str, Any]) -> Any:
    for r in module.get("resources") or []:
        if r.get("mode", "managed") != "managed" or r.get("deposed_key"):
            continue
        addr = r.get("address", "")
        mod = addr.rsplit(f".{r.get('type')}.", 1)[0] if addr.count(".") > 1 and addr.startswith("module.") else ""
        yield TfResource(mod, r.get("type", ""), r.get("name", ""), r.get("index"), r.get("values") or {})
    for child in module.get("child_modules") or []:
        yield from _show_resources(child)


def modules_with_endpoints(resources: list[TfResource]) -> list[str]:
    """The module instances that hold the module's role or SageMaker resources."""
    found = {r.module for r in resources if r.type.startswith("aws_sagemaker_")
             or (r.type == "aws_iam_role" and ROLE_RE.match(str(r.attrs.get("name", ""))))}
    return sorted(found)


def pick_module(resources: list[TfResource], module: str | None) -> str:
    mods = modules_with_endpoints(resources)
    listed = ", ".join(m or "(root)" for m in mods) or "none"
    if module is not None:
        want = module if module.startswith("module.") or module == "" else f"module.{module}"
        if want not in mods:
            raise ImportError_(f"The Terraform state has no ESM module at {want or '(root)'}.",
                               hint=f"Modules with SageMaker resources: {listed}.")
        return want
    if not mods:
        raise ImportError_("The Terraform state holds no SageMaker endpoint or ESM execution role: nothing to import.",
                           hint="Check that this is the state of the configuration that uses the ESM module.")
    if len(mods) > 1:
        raise ImportError_(f"The Terraform state holds {len(mods)} ESM modules: {listed}.",
                           hint="Import one environment at a time: --module NAME.")
    return mods[0]


def adopt(resources: list[TfResource], catalog: Catalog, *, module: str | None = None,
          secret_store: str = "secretsmanager") -> Imported:
    """esmctl's settings and state for the module's resources in `resources`."""
    mod = pick_module(resources, module)
    mine = [r for r in resources if r.module == mod and r.type in TYPES]
    by_type: dict[str, list[TfResource]] = defaultdict(list)
    for r in mine:
        by_type[r.type].append(r)
    notes: list[str] = []

    roles = [r for r in by_type["aws_iam_role"] if ROLE_RE.match(str(r.attrs.get("name", "")))]
    if len(roles) != 1:
        raise ImportError_(f"Expected the module's execution role ({{prefix}}-sagemaker-exec-{{environment}}) in "
                           f"{mod or 'the root module'}, found {len(roles)}.",
                           hint="Is this the state of the ESM module?")
    role = roles[0]
    m = ROLE_RE.match(role.attrs["name"])
    assert m is not None
    prefix, environment = m.group("prefix"), m.group("env")
    tags = {str(k): str(v) for k, v in (role.attrs.get("tags") or {}).items()}
    role_attached = any(a.attrs.get("role") == role.attrs["name"] and
                        str(a.attrs.get("policy_arn", "")).endswith(":iam::aws:policy/" + naming.MANAGED_POLICY_NAME)
                        for a in by_type["aws_iam_role_policy_attachment"])

    # The suffixes: the module's `random_id.instance_suffix` (byte_length 4), not some other random_id.
    by_type["random_id"] = [r for r in by_type["random_id"]
                            if r.name == "instance_suffix" or r.attrs.get("byte_length") == 4]
    keyed = {t: {r.index: r for r in by_type[t]} for t in
             ("aws_sagemaker_model", "aws_sagemaker_endpoint_configuration", "aws_sagemaker_endpoint", "random_id")}
    names = sorted({k for k in keyed["aws_sagemaker_model"] if isinstance(k, str)}
                   | {k for k in keyed["aws_sagemaker_endpoint"] if isinstance(k, str)})
    region = account = ""
    for r in mine:
        am = SAGEMAKER_ARN_RE.match(str(r.attrs.get("arn", "")))
        if am:
            region, account = am.group("region"), am.group("account")
            break
    if not account:
        im = IAM_ARN_RE.match(str(role.attrs.get("arn", "")))
        account = im.group("account") if im else ""
    if not region:
        raise ImportError_("The Terraform state has no SageMaker resource with an ARN, so its region is unknown.",
                           hint="Apply the Terraform configuration first, or start with `esmctl init` and `deploy`.")

    state = State(region=region, environment=environment, account_id=account,
                  role=RoleRecord(name=role.attrs["name"], arn=str(role.attrs.get("arn", "")), created=True,
                                  created_by_esmctl=True, policy_attached=role_attached))
    selected: dict[str, dict[str, Any]] = {}
    addresses = [role.address] + [a.address for a in by_type["aws_iam_role_policy_attachment"]]
    for name in names:
        model, cfg, ep, rid = (keyed[t].get(name) for t in (
            "aws_sagemaker_model", "aws_sagemaker_endpoint_configuration", "aws_sagemaker_endpoint", "random_id"))
        if model is None or cfg is None:
            missing = "no model" if model is None else "no endpoint config"
            raise ImportError_(f"{name}: the Terraform state has {missing} for it, so it cannot be adopted as it is.",
                               hint="Run `terraform apply` once so the module is complete, then import again.")
        suffix = str(rid.attrs.get("hex", "")) if rid is not None else str(model.attrs["name"]).rsplit("-", 1)[-1]
        if not re.fullmatch(r"[0-9a-f]{8}", suffix):
            raise ImportError_(f"{name}: the instance suffix {suffix!r} is not 8 hex digits.",
                               hint="Is this the state of the ESM module (random_id byte_length 4)?")
        package = _first(model.attrs.get("primary_container")).get("model_package_name", "")
        selector = _selector(catalog, name, str(model.attrs["name"]), suffix, package)
        entry = catalog.models[selector]
        variant = _first(cfg.attrs.get("production_variants"))
        itype = str(variant.get("instance_type") or entry.instance_type)
        count = int(variant.get("initial_instance_count") or entry.instance_count)
        selected[name] = {"selector": selector, "instance_type": itype, "instance_count": count}
        dep = DeploymentState(selector=selector, suffix=suffix, forge_model_name=entry.forge_model_name,
                              desired="running")
        dep.model = ModelRecord(name=model.attrs["name"], arn=str(model.attrs.get("arn", "")), created=True,
                                model_package=package, selector=selector, forge_model_name=entry.forge_model_name)
        dep.endpoint_config = ConfigRecord(name=cfg.attrs["name"], arn=str(cfg.attrs.get("arn", "")), created=True,
                                           model_name=model.attrs["name"], instance_type=itype, instance_count=count)
        if ep is not None:
            dep.endpoint = EndpointRecord(name=ep.attrs["name"], arn=str(ep.attrs.get("arn", "")), created=True,
                                          config_name=str(ep.attrs.get("endpoint_config_name") or cfg.attrs["name"]))
        else:
            notes.append(f"{name}: the Terraform state has no endpoint (deleted to save cost?); "
                         "`esmctl deploy` creates it again, `esmctl stop` keeps it stopped")
            dep.endpoint = EndpointRecord(name=f"{entry.endpoint_name}-{suffix}")
        # esmctl finds its resources by its tags: the next deploy adds them (shown by `plan`).
        dep.untagged = [rec.arn for rec in (dep.model, dep.endpoint_config, dep.endpoint) if rec.arn]
        state.deployments[name] = dep
        addresses += [r.address for r in (model, cfg, ep, rid) if r is not None]

    settings: dict[str, Any] = {
        "environment": environment, "region": region, "iam_role_name_prefix": prefix, "tags": tags,
        "enable_shared_service_account": False,
        "selected_models": selected,
    }
    access_key: tuple[str, str] | None = None
    users = by_type["aws_iam_user"]
    if len(users) > 1:
        raise ImportError_(f"Expected one shared service user, found {len(users)}.")
    if users:
        user = users[0]
        uname = str(user.attrs["name"])
        settings["enable_shared_service_account"] = True
        settings["shared_service_account_name"] = "" if uname == naming.shared_user_name(prefix, environment, "") \
            else uname
        # The invoke policy: the one attached to the user, else the one with the module's name.
        attached_arns = {a.attrs.get("policy_arn") for a in by_type["aws_iam_user_policy_attachment"]
                         if a.attrs.get("user") == uname}
        want = naming.shared_policy_name(prefix, environment, uname)
        policies = [p for p in by_type["aws_iam_policy"] if p.attrs.get("arn") in attached_arns] or \
            [p for p in by_type["aws_iam_policy"] if p.attrs.get("name") == want]
        if len(policies) > 1:
            policies = [p for p in policies if p.attrs.get("name") == want] or policies[:1]
        policy = policies[0] if policies else None
        attachments = [a for a in by_type["aws_iam_user_policy_attachment"]
                       if a.attrs.get("user") == uname and policy is not None
                       and a.attrs.get("policy_arn") == policy.attrs.get("arn")]
        attached = bool(attachments)
        keys = [k for k in by_type["aws_iam_access_key"] if k.attrs.get("user") in (uname, None)]
        if len(keys) > 1:
            raise ImportError_(f"The shared user {uname} has {len(keys)} access keys in the Terraform state; the "
                               "module makes one.", hint="Delete the extra key with Terraform first.")
        rec = SharedAccountRecord(
            user_name=uname, user_arn=str(user.attrs.get("arn", "")), user_created=True,
            policy_name=str(policy.attrs["name"]) if policy else naming.shared_policy_name(prefix, environment, uname),
            policy_arn=str(policy.attrs.get("arn", "")) if policy else "", policy_created=policy is not None,
            policy_attached=attached, policy_endpoints=[naming.WIDE_POLICY] if policy else [],
            secret_store="local" if secret_store == "local" else "secretsmanager")
        if keys:
            k = keys[0].attrs
            rec.access_key_id = str(k.get("id", ""))
            rec.access_key_created = k.get("create_date")
            if k.get("secret"):
                access_key = (rec.access_key_id, str(k["secret"]))
            else:
                notes.append(f"access key {rec.access_key_id}: its secret is not in the Terraform state (encrypted "
                             "with a PGP key?); `esmctl deploy` replaces the key with one whose secret it stores")
        state.shared_account = rec
        addresses += [r.address for r in (user, policy, *keys, *attachments) if r]
    settings["secret_store"] = secret_store
    others = sorted(r.address for r in resources if r.module == mod and r.address not in set(addresses))
    if others:
        notes.append(f"{len(others)} other resource(s) of {mod or 'the root module'} stay in Terraform: "
                     + ", ".join(others[:5]) + (" ..." if len(others) > 5 else ""))
    return Imported(settings, state, mod, access_key, notes, addresses, complete=not others)


def _first(v: Any) -> dict[str, Any]:
    if isinstance(v, list) and v and isinstance(v[0], dict):
        return v[0]
    return v if isinstance(v, dict) else {}


def _selector(catalog: Catalog, deployment: str, model_name: str, suffix: str, package: str) -> str:
    """The catalog entry the module made this model from: its name is `{sagemaker_model_name}-{suffix}`."""
    base = model_name.removesuffix(f"-{suffix}")
    candidates = [s for s, e in catalog.models.items() if e.sagemaker_model_name == base]
    if len(candidates) > 1:
        candidates = [s for s in candidates if catalog.models[s].model_package == package] or candidates
    if not candidates:
        raise ImportError_(f"{deployment}: no entry of models.yaml has sagemaker_model_name {base!r} "
                           f"(model {model_name}).",
                           hint="Use the models.yaml the Terraform configuration used (models_yaml_path), "
                           "then import again.")
    return sorted(candidates)[0]
