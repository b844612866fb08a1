"""Configuration stage: esmctl.yaml + models.yaml → a validated `Config`.

No AWS calls and no boto3 here. Every problem in both files is collected and reported at once,
each with its file, line, key path and what would be valid (`ConfigError`).
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import reprlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from esmctl import hours, naming
from esmctl.errors import ConfigError, EsmctlError, Problem
from esmctl.state import S3Url, parse_s3_url

DEFAULT_CONFIG = "esmctl.yaml"
MAX_FILE_BYTES = 1_000_000  # a real esmctl.yaml or models.yaml is a few KB
ENVIRONMENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
MODEL_PACKAGE_RE = re.compile(r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/\S+$")
ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/\S+$")
# state_kms_key: what PutObject's SSEKMSKeyId takes — "Key ID, Key ARN, or Key Alias" (S3 API reference,
# PutObject); KMS writes them as 1234abcd-12ab-34cd-56ef-1234567890ab (or mrk-<32 hex> for a multi-Region
# key), arn:aws:kms:us-east-2:111122223333:key/<id>, alias/<name> and arn:aws:kms:…:alias/<name>, an
# alias name being letters, digits, '/', '_' and '-' (KMS API reference, CreateAlias and DescribeKey).
_KMS_ID = r"(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|mrk-[0-9a-fA-F]{32})"
_KMS_ALIAS = r"alias/[A-Za-z0-9/_-]{1,250}"
KMS_KEY_RE = re.compile(rf"^(?:{_KMS_ID}|{_KMS_ALIAS}|arn:aws[a-z-]*:kms:[a-z]{{2}}(?:-[a-z]+)+-\d:\d{{12}}:"
                        rf"(?:key/{_KMS_ID}|{_KMS_ALIAS}))$")
TAG_RE = re.compile(r"^[\w\s.:/=+\-@]*$")  # AWS: letters, digits, spaces and _.:/=+-@ (any script)
TAG_KEY_MAX, TAG_VALUE_MAX, TAGS_MAX = 128, 256, 48  # AWS allows 50 tags; esmctl adds 2
_short = reprlib.Repr()  # values quoted in messages: a huge or self-referencing input stays one line
_short.maxstring = _short.maxother = 60
_short.maxlist = _short.maxdict = 4
_short.maxlevel = 2


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Autoscaling(_Strict):
    """A selection's `autoscaling:` block: Application Auto Scaling keeps the endpoint's instance
    count between the bounds, tracking invocations per instance (per minute). Cooldowns are
    durations ("10m", "90s"); Application Auto Scaling takes whole seconds (PutScalingPolicy,
    TargetTrackingScalingPolicyConfiguration ScaleInCooldown/ScaleOutCooldown)."""

    min_instances: int = Field(ge=1)
    max_instances: int = Field(ge=1)
    target_invocations_per_instance: int = Field(ge=1)
    scale_in_cooldown: str = "10m"
    scale_out_cooldown: str = "1m"

    @property
    def scale_in_seconds(self) -> int:
        return _seconds(self.scale_in_cooldown)

    @property
    def scale_out_seconds(self) -> int:
        return _seconds(self.scale_out_cooldown)


def _seconds(text: str) -> int:
    from esmctl.durations import parse_duration
    return int(round(parse_duration(text, "cooldown")))


class Schedule(_Strict):
    """A selection's `schedule:` block: office hours in an IANA time zone (esmctl/hours.py)."""

    timezone: str
    running: str | list[str]

    @property
    def range_texts(self) -> list[str]:
        return [self.running] if isinstance(self.running, str) else list(self.running)

    @property
    def ranges(self) -> list[hours.Range]:
        return [hours.parse(r) for r in self.range_texts]


class Budget(_Strict):
    """`budget:`: the month's estimated spend that `deploy` will not plan past (esmctl/budget.py)."""

    monthly_usd: float = Field(gt=0)


class Selection(_Strict):
    """One entry of selected_models: which catalog model, on what hardware."""

    selector: str
    instance_type: str | None = None
    instance_count: int | None = Field(default=None, ge=1)
    autoscaling: Autoscaling | None = None
    schedule: Schedule | None = None


class Settings(_Strict):
    """esmctl.yaml: the module's variables plus esmctl's own keys."""

    models_yaml_path: str = "models.yaml"
    environment: str = "dev"
    region: str = "us-east-2"
    iam_role_name_prefix: str = "esm"
    tags: dict[str, str] = Field(
        default_factory=lambda: {"Environment": "dev", "Project": "esm-partner"}
    )
    enable_shared_service_account: bool = False
    shared_service_account_name: str = ""
    selected_models: dict[str, Selection] | None
    execution_role_arn: str = ""
    secret_store: Literal["secretsmanager", "local"] = "secretsmanager"
    state: str = ""
    state_kms_key: str = ""
    prices: dict[str, float] = Field(default_factory=dict)
    budget: Budget | None = None


class CatalogEntry(_Strict):
    """One model of models.yaml: the module's six required fields."""

    sagemaker_model_name: str
    forge_model_name: str
    endpoint_name: str
    model_package: str
    instance_type: str
    instance_count: int = Field(ge=1)


class Catalog(_Strict):
    models: dict[str, CatalogEntry]


@dataclass(frozen=True)
class Deployment:
    """A selected model with every default resolved: what should run."""

    name: str  # logical name, the key of selected_models
    selector: str
    sagemaker_model_name: str
    endpoint_name: str  # the catalog's base name; the endpoint is `{endpoint_name}-{suffix}`
    forge_model_name: str
    model_package: str
    instance_type: str
    instance_count: int
    autoscaling: Autoscaling | None = None
    schedule: Schedule | None = None


@dataclass(frozen=True)
class Config:
    """Both files, validated, with paths resolved."""

    path: Path
    settings: Settings
    catalog: Catalog
    catalog_path: Path
    deployments: dict[str, Deployment]

    @property
    def environment(self) -> str:
        return self.settings.environment

    @property
    def region(self) -> str:
        return self.settings.region

    @property
    def role_name(self) -> str:
        return naming.role_name(self.settings.iam_role_name_prefix, self.environment)

    @property
    def creates_role(self) -> bool:
        return not self.settings.execution_role_arn

    @property
    def shared_user_name(self) -> str:
        s = self.settings
        return naming.shared_user_name(
            s.iam_role_name_prefix, s.environment, s.shared_service_account_name
        )

    @property
    def shared_policy_name(self) -> str:
        return naming.shared_policy_name(self.settings.iam_role_name_prefix, self.environment,
                                         self.shared_user_name)

    @property
    def state_location(self) -> Path | S3Url:
        """Where the state lives: `state:` (a path, or s3://BUCKET/PREFIX/), else
        state/<environment>.json beside esmctl.yaml."""
        return self.resolve_state(self.settings.state)

    def resolve_state(self, value: str) -> Path | S3Url:
        """A `state:` value (or `state migrate --to`) as a location; paths are relative to esmctl.yaml."""
        if value.startswith("s3://"):
            return parse_s3_url(value)
        if value:
            p = Path(value)
            return p if p.is_absolute() else self.path.parent / p
        return self._default_state_path

    @property
    def _default_state_path(self) -> Path:
        return self.path.parent / "state" / f"{self.environment}.json"

    @property
    def state_path(self) -> Path:
        """The local state file (for remote state: where it would be locally)."""
        loc = self.state_location
        return loc if isinstance(loc, Path) else self._default_state_path


def load_raw(path: Path) -> dict[str, Any]:
    """esmctl.yaml's keys as written (unvalidated), or {} when it is not a mapping."""
    data, _, _ = _load_yaml(path, _read_text(path, DEFAULT_CONFIG))
    return data if isinstance(data, dict) else {}


def set_state_setting(path: Path, value: str) -> None:
    """Point `state:` in esmctl.yaml at `value`, editing only that line (comments stay)."""
    text = path.read_text(encoding="utf-8")
    line = f"state: {json.dumps(value)}"
    new, n = re.subn(r"(?m)^state:[^\n#]*(#.*)?$", lambda m: line + (f"  {m.group(1)}" if m.group(1) else ""),
                     text, count=1)
    if n == 0:
        new = text + ("" if text.endswith("\n") or not text else "\n") + line + "\n"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(new, encoding="utf-8")
    os.replace(tmp, path)


# --- reading YAML with positions -------------------------------------------------------------

Positions = dict[tuple[Any, ...], tuple[int, int]]
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_text(path: Path, what: str) -> str:
    try:
        if path.is_dir():
            raise ConfigError([Problem(str(path), "", f"{what} is a directory, not a file")])
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ConfigError(
                [Problem(str(path), "", f"{what} is {size:,} bytes; the limit is {MAX_FILE_BYTES:,}")]
            )
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        hint = "run `esmctl init` to write one" if what == DEFAULT_CONFIG else "check the path"
        raise ConfigError([Problem(str(path), "", f"{what} not found ({hint})")]) from None
    except PermissionError:
        raise ConfigError([Problem(str(path), "", f"{what} is not readable (permissions); check its owner "
                                   f"and mode: `ls -l {path}`")]) from None
    except UnicodeDecodeError as e:
        raise ConfigError([Problem(str(path), "", f"{what} is not UTF-8 text ({e.reason} at byte {e.start}); "
                                   "save it as UTF-8")]) from None
    except OSError as e:
        raise ConfigError([Problem(str(path), "", f"cannot read {what}: {e.strerror}")]) from None


def _load_yaml(path: Path, text: str) -> tuple[Any, Positions, list[Problem]]:
    """Parse YAML; return the data, the line/column of every key path, and key problems."""
    try:  # one parse (libyaml's when available) gives both the data and every key's position
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except RecursionError:
        raise ConfigError([Problem(str(path), "", "YAML nested too deeply to be a configuration")]) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        msg = f"YAML syntax error: {e.problem or e}"
        if e.context:
            msg += f" ({e.context})"
        raise ConfigError([Problem(str(path), "", msg, line, col)]) from None
    except yaml.YAMLError as e:
        raise ConfigError([Problem(str(path), "", f"YAML error: {e}")]) from None
    positions: Positions = {}
    problems: list[Problem] = []
    seen_nodes: set[int] = set()  # an alias is the same node again: walk it once

    def walk(n: yaml.Node | None, prefix: tuple[Any, ...]) -> None:
        if n is None or id(n) in seen_nodes:
            return
        seen_nodes.add(id(n))
        positions.setdefault(prefix, (n.start_mark.line + 1, n.start_mark.column + 1))
        if isinstance(n, yaml.MappingNode):
            seen: dict[str, tuple[Any, ...]] = {}
            for k, v in n.value:
                key = k.value
                if key in seen:
                    problems.append(
                        Problem(str(path), _dotted(prefix + (key,)), "duplicate key",
                                k.start_mark.line + 1, k.start_mark.column + 1)
                    )
                seen[key] = prefix + (key,)
                positions[prefix + (key,)] = (k.start_mark.line + 1, k.start_mark.column + 1)
                walk(v, prefix + (key,))
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                walk(v, prefix + (i,))

    try:
        walk(node, ())
    except RecursionError:
        raise ConfigError([Problem(str(path), "", "YAML nested too deeply to be a configuration")]) from None
    return data, positions, problems


def _dotted(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc)


def _position(positions: Positions, loc: tuple[Any, ...]) -> tuple[int | None, int | None]:
    loc = tuple(p if isinstance(p, str) else str(p) for p in loc)  # YAML keys are looked up as text
    while loc:
        if loc in positions:
            return positions[loc]
        loc = loc[:-1]
    return positions.get((), (None, None))


def _pydantic_problems(
    path: Path, err: ValidationError, positions: Positions, model: type[BaseModel]
) -> list[Problem]:
    out = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        is_key = bool(loc) and loc[-1] == "[key]"
        loc = loc[:-1] if is_key else loc
        line, col = _position(positions, loc)
        kind = e["type"]
        got = f"{type(e.get('input')).__name__} {_short.repr(e.get('input'))}"
        if is_key:
            msg = f"a name must be a string (got {got}); quote it"
        elif kind == "extra_forbidden":
            known = _known_keys(model, loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
            msg = f"unknown key {str(loc[-1])!r}"
            msg += f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
        elif kind == "missing":
            msg = "required key is missing"
        elif kind == "greater_than_equal":
            msg = f"must be at least {e['ctx']['ge']} (got {_short.repr(e.get('input'))})"
        elif kind == "greater_than":
            msg = f"must be more than {e['ctx']['gt']} (got {_short.repr(e.get('input'))})"
        elif loc[-2:] in (("running", "str"), ("running", "list[str]")):  # schedule.running: one message, not two
            if loc[-1] == "list[str]":
                continue
            loc = loc[:-1]
            msg = f"must be a range like \"Mon-Fri 08:00-19:00\" or a list of them (got {got})"
        elif kind == "literal_error":
            msg = f"must be one of {e['ctx']['expected']} (got {_short.repr(e.get('input'))})"
        elif kind.endswith("_type") or kind.endswith("_parsing"):
            want = kind.removesuffix("_type").removesuffix("_parsing")
            want = {"int": "a whole number", "bool": "true or false", "dict": "a mapping",
                    "string": "a string", "float": "a number", "model": "a mapping"}.get(want, want)
            msg = f"must be {want} (got {got})"
        else:
            msg = e["msg"]
        out.append(Problem(str(path), _dotted(loc), msg, line, col))
    return out


def _known_keys(model: type[BaseModel], parent: tuple[Any, ...]) -> list[str]:
    """Field names of the pydantic model found at `parent` (for the 'did you mean' hint)."""
    current: Any = model
    for part in parent:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if fields and part in fields:
            current = _inner_model(fields[part].annotation)
        elif current is Settings and parent and parent[0] == "selected_models":
            current = Selection
        elif current is Catalog:
            current = CatalogEntry
    fields = getattr(current, "model_fields", None)
    return sorted(fields) if fields else []


def _inner_model(annotation: Any) -> Any:
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


# --- the whole load ----------------------------------------------------------------------------


def load(path: str | os.PathLike[str] | None = None, *, region: str | None = None, state: str | None = None,
         check_regions: bool = True) -> Config:
    """Read and validate esmctl.yaml and its catalog. Raises ConfigError with every problem.

    `check_regions=False` leaves out one check, a model package ARN in another region than
    `region`, for `esmctl doctor`, which reports it as a finding of its own.
    """
    cfg_path = Path(path or os.environ.get("ESMCTL_CONFIG") or DEFAULT_CONFIG)
    problems: list[Problem] = []
    data, positions, dup = _load_yaml(cfg_path, _read_text(cfg_path, DEFAULT_CONFIG))
    problems += dup
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([Problem(str(cfg_path), "", "must be a YAML mapping of keys to values")])
    if region:
        data = {**data, "region": region}
    if state is not None:  # --state / ESMCTL_STATE
        data = {**data, "state": state}
    settings: Settings | None = None
    checkable: Settings | None = None  # the keys that are valid on their own: checked further
    try:
        settings = checkable = Settings.model_validate(data)
    except ValidationError as e:
        problems += _pydantic_problems(cfg_path, e, positions, Settings)
        checkable = _valid_part(data, e)

    # The catalog: always read, so its problems are reported together with esmctl.yaml's.
    models_rel = data.get("models_yaml_path", "models.yaml")
    catalog_path = cfg_path.parent / (models_rel if isinstance(models_rel, str) else "models.yaml")
    catalog: Catalog | None = None
    cat_positions: Positions = {}
    try:
        cat_data, cat_positions, dup = _load_yaml(catalog_path, _read_text(catalog_path, "models.yaml"))
        problems += dup
        if not isinstance(cat_data, dict):
            problems.append(Problem(str(catalog_path), "", "must be a mapping with a `models:` key"))
        else:
            try:
                catalog = Catalog.model_validate(cat_data)
            except ValidationError as e:
                problems += _pydantic_problems(catalog_path, e, cat_positions, Catalog)
    except ConfigError as e:
        if "models_yaml_path" in data:  # say where the path came from
            line, _ = _position(positions, ("models_yaml_path",))
            e.problems = [replace(p, message=f"{p.message}; it is models_yaml_path in {cfg_path}"
                                  + (f":{line}" if line else "")) if p.line is None else p for p in e.problems]
        problems += e.problems

    if catalog is not None:
        problems += _check_catalog(catalog_path, catalog, cat_positions)
    deployments: dict[str, Deployment] = {}
    if checkable is not None:
        problems += _check_settings(cfg_path, checkable, positions, region_flag=bool(region),
                                    state_flag=state is not None)
    if catalog is not None:
        # Checked even when other keys are invalid, so every problem shows up in one run.
        good_region = checkable is not None and REGION_RE.match(checkable.region)
        deployments, more = _resolve(
            cfg_path, _selections(data), checkable.region if checkable else "", catalog, positions, catalog_path,
            check_regions and bool(good_region), region_flag=bool(region)
        )
        problems += more
    if problems:
        raise ConfigError(problems)
    assert settings is not None and catalog is not None
    return Config(cfg_path, settings, catalog, catalog_path, deployments)


def _valid_part(data: dict[str, Any], err: ValidationError) -> Settings | None:
    """Settings from the keys (and the entries of tags/prices) that are valid on their own, so
    that their own checks run too: every problem in one run. Invalid ones fall back to defaults."""
    data = dict(data)
    for e in err.errors():
        top = e["loc"][0] if e["loc"] else None
        if top in ("tags", "prices") and len(e["loc"]) > 1 and isinstance(data.get(top), dict):
            data[top] = {k: v for k, v in data[top].items() if k != e["loc"][1]}
        else:
            data.pop(top, None)  # type: ignore[arg-type]
    data.setdefault("selected_models", {})  # checked on their own, in _resolve
    try:
        return Settings.model_validate(data)
    except ValidationError:
        return None


def _check_catalog(path: Path, catalog: Catalog, pos: Positions) -> list[Problem]:
    out = []
    if not catalog.models:
        out.append(Problem(str(path), "models", "the catalog is empty; add at least one model "
                           "(`esmctl init` writes the standard catalog)", *_position(pos, ("models",))))
    for sel, e in catalog.models.items():
        def bad(key: str, msg: str, sel: str = sel) -> None:
            out.append(Problem(str(path), f"models.{sel}.{key}", msg,
                               *_position(pos, ("models", sel, key))))
        if not MODEL_PACKAGE_RE.match(e.model_package):
            bad("model_package", "must be a SageMaker model package ARN "
                "(arn:aws:sagemaker:REGION:ACCOUNT:model-package/NAME)")
        if not naming.INSTANCE_TYPE_RE.match(e.instance_type):
            bad("instance_type", f"{e.instance_type!r} is not an instance type like ml.g5.2xlarge")
        for key, name in (
            ("sagemaker_model_name", naming.model_name(e.sagemaker_model_name, "0" * 8)),
            ("endpoint_name", naming.endpoint_name(e.endpoint_name, "0" * 8)),
            ("endpoint_name", naming.endpoint_config_name(e.endpoint_name, "0" * 8)),
        ):
            why = naming.sagemaker_name_problem(name)
            if why:
                bad(key, f"with the 9-character suffix added, {why}")
    return out


def _check_settings(path: Path, s: Settings, pos: Positions, region_flag: bool = False,
                    state_flag: bool = False) -> list[Problem]:
    out = []

    def bad(loc: tuple[Any, ...], msg: str) -> None:
        if loc == ("state",) and state_flag:  # given with --state / ESMCTL_STATE, not in the file
            out.append(Problem("--state", "", msg))
            return
        out.append(Problem(str(path), _dotted(loc), msg, *_position(pos, loc)))

    env_ok = bool(ENVIRONMENT_RE.match(s.environment))  # else the IAM names below only repeat it
    if not env_ok:
        bad(("environment",), "must be 1-32 letters, digits, '-' or '_', starting with a letter or digit")
    if not REGION_RE.match(s.region):
        if region_flag:
            out.append(Problem("--region", "", f"{s.region!r} is not an AWS region name like us-east-2"))
        else:
            bad(("region",), f"{s.region!r} is not an AWS region name like us-east-2")
    for key, value in s.tags.items():
        if key.lower().startswith(("aws:", "esmctl:")):
            bad(("tags", key), f"tag keys starting with {key.split(':')[0]}: are reserved "
                f"({'by AWS' if key.lower().startswith('aws:') else 'esmctl sets them'}); rename the tag")
        elif not 1 <= len(key) <= TAG_KEY_MAX or not TAG_RE.match(key):
            bad(("tags", key), f"a tag key must be 1-{TAG_KEY_MAX} letters, digits, spaces and _.:/=+-@")
        if len(value) > TAG_VALUE_MAX or not TAG_RE.match(value):
            bad(("tags", key), f"a tag value must be at most {TAG_VALUE_MAX} letters, digits, spaces and _.:/=+-@")
    if len(s.tags) > TAGS_MAX:
        bad(("tags",), f"{len(s.tags)} tags; at most {TAGS_MAX} (AWS allows 50 and esmctl adds 2)")
    prefix_problem = naming.iam_name_problem(
        naming.role_name(s.iam_role_name_prefix, s.environment), naming.IAM_ROLE_MAX, "role name"
    )
    if prefix_problem and s.execution_role_arn == "" and env_ok:
        bad(("iam_role_name_prefix",), prefix_problem)
    if s.state.startswith("s3://"):
        try:
            parse_s3_url(s.state)
        except ValueError as e:
            bad(("state",), str(e))
        if s.secret_store == "local":
            bad(("secret_store",), "a local secret file is not shared with the others who use the remote state "
                "(their runs would replace the key); use secret_store: secretsmanager with state: s3://...")
    elif "://" in s.state:  # don't write a local folder named "gs:"
        bad(("state",), f"remote state in {s.state.split('://')[0]}:// is not supported; use s3://BUCKET/PREFIX/, "
            "a local path, or \"\" for state/<environment>.json")
    if s.state_kms_key and not KMS_KEY_RE.match(s.state_kms_key):
        bad(("state_kms_key",), f"{_short.repr(s.state_kms_key)} is not a KMS key: use a key ARN "
            "(arn:aws:kms:REGION:ACCOUNT:key/ID), an alias (alias/NAME or its ARN), a key ID, or \"\" for SSE-S3")
    elif s.state_kms_key and not s.state.startswith("s3://"):
        where = "--state" if state_flag else "`state:`"
        bad(("state_kms_key",), f"encrypts a remote state in S3 with that KMS key, but {where} is a local file, "
            "so it would do nothing; set state: s3://BUCKET/PREFIX/, or remove state_kms_key")
    if s.execution_role_arn and not ROLE_ARN_RE.match(s.execution_role_arn):
        bad(("execution_role_arn",), "must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME) or \"\"")
    if s.enable_shared_service_account and env_ok:
        user = naming.shared_user_name(s.iam_role_name_prefix, s.environment, s.shared_service_account_name)
        key = "shared_service_account_name" if s.shared_service_account_name else "iam_role_name_prefix"
        why = naming.iam_name_problem(user, naming.IAM_USER_MAX, "user name") or naming.iam_name_problem(
            naming.shared_policy_name(s.iam_role_name_prefix, s.environment, user),
            naming.IAM_POLICY_MAX, "policy name")
        if why:
            bad((key,), why)
    for itype, price in s.prices.items():
        if not naming.INSTANCE_TYPE_RE.match(itype):
            bad(("prices", itype), f"{itype!r} is not an instance type like ml.g5.2xlarge")
        elif price < 0 or not math.isfinite(price):
            bad(("prices", itype), f"a price must be a number of USD per hour, 0 or more (got {price})")
    return out


def _selections(data: dict[str, Any]) -> dict[str, Selection]:
    """The entries of selected_models that are well-formed on their own."""
    raw = data.get("selected_models")
    out = {}
    for name, value in (raw if isinstance(raw, dict) else {}).items():
        try:
            out[str(name)] = Selection.model_validate(value)
        except ValidationError:
            # Reported by the Settings validation; keep what is usable for the other checks.
            if isinstance(value, dict) and isinstance(value.get("selector"), str):
                it = value.get("instance_type")
                out[str(name)] = Selection.model_construct(
                    selector=value["selector"], instance_type=it if isinstance(it, str) else None,
                    instance_count=None, autoscaling=None, schedule=None)
    return out


def _resolve(
    path: Path, selections: dict[str, Selection], region: str, catalog: Catalog, pos: Positions,
    catalog_path: Path, check_regions: bool = True, region_flag: bool = False,
) -> tuple[dict[str, Deployment], list[Problem]]:
    out: list[Problem] = []
    deployments: dict[str, Deployment] = {}
    lowered: dict[str, str] = {}
    for name, sel in selections.items():
        loc = ("selected_models", name)

        def bad(key: str | None, msg: str, loc: tuple[Any, ...] = loc) -> None:
            full = loc + tuple(int(k) if k.isdigit() else k for k in (key.split(".") if key else ()))
            out.append(Problem(str(path), _dotted(full), msg, *_position(pos, full)))

        if not naming.LOGICAL_NAME_RE.match(name):
            bad(None, "a deployment name must be 1-63 letters, digits, '_' or '-'")
        if name.lower() in lowered:
            bad(None, f"differs only in case from {lowered[name.lower()]!r}; use distinct names")
        lowered.setdefault(name.lower(), name)
        entry = catalog.models.get(sel.selector)
        if entry is None:
            known = ", ".join(sorted(catalog.models)) or "(none: the catalog is empty)"
            close = difflib.get_close_matches(sel.selector, list(catalog.models), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            bad("selector", f"unknown selector {sel.selector!r}; {hint}known in {catalog_path}: {known}")
            continue
        itype = sel.instance_type or entry.instance_type
        if sel.instance_type is not None and not naming.INSTANCE_TYPE_RE.match(sel.instance_type):
            bad("instance_type", f"{sel.instance_type!r} must look like ml.<family>.<size>, e.g. ml.g5.2xlarge")
        count = sel.instance_count if sel.instance_count is not None else entry.instance_count
        scaling, bad_scaling = sel.autoscaling, []
        if scaling is not None:
            bad_scaling = _check_autoscaling(scaling, count, sel.instance_count is not None)
            for key, msg in bad_scaling:
                bad(key, msg)
        if sel.schedule is not None:
            for key, msg in _check_schedule(sel.schedule):
                bad(key, msg)
        pkg_region = naming.arn_region(entry.model_package)
        if check_regions and pkg_region and pkg_region != region:
            given = " (given with --region)" if region_flag else ""
            bad("selector", f"model package of {sel.selector!r} is in {pkg_region} but region is "
                f"{region}{given}; model package ARNs are regional: deploy in {pkg_region} or use the "
                f"package ARN for {region} in {catalog_path}")
        deployments[name] = Deployment(
            name=name, selector=sel.selector, sagemaker_model_name=entry.sagemaker_model_name,
            endpoint_name=entry.endpoint_name, forge_model_name=entry.forge_model_name,
            model_package=entry.model_package, instance_type=itype,
            instance_count=count, autoscaling=sel.autoscaling if not bad_scaling else None,
            schedule=sel.schedule,
        )
    return deployments, out


def _check_autoscaling(a: Autoscaling, count: int, count_given: bool) -> list[tuple[str, str]]:
    """(key, problem) of an `autoscaling:` block: bounds in order, the starting count within them,
    cooldowns that are durations."""
    out = []
    if a.min_instances > a.max_instances:
        out.append(("autoscaling.min_instances", f"min_instances ({a.min_instances}) is more than max_instances "
                    f"({a.max_instances})"))
    elif not a.min_instances <= count <= a.max_instances:
        where = "instance_count" if count_given else "instance_count (the catalog's)"
        out.append(("instance_count" if count_given else "autoscaling",
                    f"{where} {count} is the starting count and must lie within autoscaling's "
                    f"[{a.min_instances}, {a.max_instances}]"))
    for key in ("scale_in_cooldown", "scale_out_cooldown"):
        try:
            _seconds(getattr(a, key))
        except EsmctlError:
            out.append((f"autoscaling.{key}", f"{getattr(a, key)!r} is not a duration; use e.g. 10m, 90s or 1h"))
    return out


def _check_schedule(s: Schedule) -> list[tuple[str, str]]:
    out = []
    try:
        hours.zone(s.timezone)
    except ValueError as e:
        out.append(("schedule.timezone", str(e)))
    texts = s.range_texts
    if not texts:
        out.append(("schedule.running", "give at least one range, e.g. \"Mon-Fri 08:00-19:00\""))
    ranges = []
    for i, text in enumerate(texts):
        try:
            ranges.append(hours.parse(text))
        except ValueError as e:
            out.append(("schedule.running" + (f".{i}" if not isinstance(s.running, str) else ""), str(e)))
    if len(ranges) == len(texts) > 1 and hours.clash(ranges):
        out.append(("schedule.running", "two ranges overlap or touch (one's end would stop the other); "
                    "join them into one"))
    return out


def load_catalog(path: Path) -> Catalog:
    """Only the catalog (for `esmctl catalog` where there is no esmctl.yaml)."""
    data, positions, problems = _load_yaml(path, _read_text(path, "models.yaml"))
    if not isinstance(data, dict):
        raise ConfigError(problems + [Problem(str(path), "", "must be a mapping with a `models:` key")])
    try:
        catalog = Catalog.model_validate(data)
    except ValidationError as e:
        raise ConfigError(problems + _pydantic_problems(path, e, positions, Catalog)) from None
    problems += _check_catalog(path, catalog, positions)
    if problems:
        raise ConfigError(problems)
    return catalog
