"""State stage: esmctl's own record of what it made, one JSON document per environment.

Rules: written atomically (temp file, fsync, rename) with mode 0600 and the previous version kept
as `.backup`; `serial` grows by one on every write; `lineage` is set once. A document that is not
valid JSON, or of a newer schema, is refused and never overwritten. Commands that change things
hold `<environment>.lock` (O_EXCL) for their whole run. The document lives behind a `Backend`: a
local file here, or an S3 object (esmctl/remote.py, the only part that calls AWS).

Schema upgrades. `SCHEMA_VERSION` is the version this esmctl writes; `parse()` reads any version up
to it: before validating, it runs `UPGRADES[n]` for n = the document's version (a document without
`version` is version 1), n + 1, ... up to SCHEMA_VERSION, and sets `version` after each step. The
upgraded document is what the models see; it reaches the file or S3 only with the next write
(`dump()` writes SCHEMA_VERSION), so a read-only command leaves the stored document as it is. To
change the document's shape:
1. change the models and raise SCHEMA_VERSION from n to n + 1;
2. add `UPGRADES[n]`: a pure function that takes a version-n document (the dict `json.loads` gave)
   and returns the same facts as a version-(n + 1) document: fill a new field from what the old
   document says, rename or move a field, change a unit. No I/O, no AWS call, no clock: anything
   only AWS knows is left for `refresh` to fill;
3. test it in tests/unit/test_state.py on a real version-n document (as an older esmctl wrote it),
   and once through the chain from version 1;
4. say it in CHANGELOG.md and docs/state.md ("Schema versions"): an older esmctl refuses the
   upgraded document, so everyone sharing a remote state has to upgrade esmctl too.
Never change or delete a released upgrade: a state can be several versions old.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import os
import re
import socket
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from esmctl import __version__
from esmctl.errors import LockHeld, StateError

SCHEMA_VERSION = 2
HISTORY_KEEP = 20  # creation times kept for the ETA of later waits


def _v1_to_v2(doc: dict[str, Any]) -> dict[str, Any]:
    """2 adds `vanished` to endpoint records (refresh found the endpoint deleted outside esmctl, so the
    plan says why it is recreated) and `records` (per deployment and shared) where kinds added later
    keep theirs. An older esmctl, which rejects fields it does not know, then says "upgrade esmctl"
    for a version-2 state instead of "does not match the schema"."""
    for dep in (doc.get("deployments") or {}).values():
        ep = dep.get("endpoint") if isinstance(dep, dict) else None
        if isinstance(ep, dict):
            ep.setdefault("vanished", False)
    return doc


# Schema version n → the function turning a version-n document into a version-(n + 1) one (see the
# module docstring).
UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2}


def utcnow() -> dt.datetime:
    from esmctl.durations import utcnow as now  # one wall clock (ESMCTL_NOW fixes it)
    return now()


def iso(t: dt.datetime | None) -> str | None:
    return t.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z") if t else None


def parse_iso(s: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00")) if s else None


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)


class Resource(_Doc):
    """A resource esmctl made or is about to make. The name is recorded before the create call."""

    name: str
    arn: str = ""
    created: bool = False  # False: recorded, create call not confirmed yet


class ModelRecord(Resource):
    model_package: str
    selector: str
    forge_model_name: str


class ConfigRecord(Resource):
    model_name: str
    instance_type: str
    instance_count: int


class EndpointRecord(Resource):
    config_name: str = ""  # the endpoint config the endpoint was last confirmed to run on
    status: str = ""  # last status seen in AWS
    failure_reason: str = ""
    creating_since: str | None = None  # when the current create/update call was made
    vanished: bool = False  # refresh found it deleted outside esmctl (the plan says why it is recreated)


class Retired(_Doc):
    """An old model or endpoint config, deleted once the endpoint runs on its successor."""

    kind: Literal["model", "endpoint_config"]
    name: str


class ScheduleRecord(_Doc):
    """A one-time EventBridge Scheduler schedule that deletes the endpoint at `at` (a stop timer)."""

    name: str
    at: str  # ISO time, UTC
    role_name: str
    role_arn: str = ""
    created: bool = False
    fired: bool = False  # the endpoint vanished after `at`: stopped by the schedule
    cancel: bool = False  # `start` (or a new timer) replaces it


class DeploymentState(_Doc):
    selector: str
    suffix: str
    forge_model_name: str
    model: ModelRecord | None = None
    endpoint_config: ConfigRecord | None = None
    endpoint: EndpointRecord | None = None
    desired: Literal["running", "stopped"] = "running"
    retired: list[Retired] = Field(default_factory=list)
    untagged: list[str] = Field(default_factory=list)  # ARNs `refresh` found without esmctl's tags
    created_at: str | None = None
    started_at: str | None = None
    stopped_at: str | None = None
    stopped_by: str | None = None  # "user", "idle" or "schedule"
    stop_schedule: ScheduleRecord | None = None
    # A resource kind added after schema 2 keeps its records here under its kind's name, checked by
    # the kind's own model, so adding a kind needs no schema version (esmctl/resources/__init__.py).
    records: dict[str, Any] = Field(default_factory=dict)


class PolicyPart(Resource):
    """A further invoke policy of the shared user, when one managed policy cannot list every endpoint
    (IAM's 6,144-character limit): `{policy_name}-2`, `-3`, ..."""

    attached: bool = False
    endpoints: list[str] = Field(default_factory=list)


class SharedAccountRecord(_Doc):
    """The shared IAM user whose one access key may only invoke this environment's endpoints.

    The secret access key is never here: only where it is kept (`secret_ref`).
    """

    user_name: str
    user_arn: str = ""
    user_created: bool = False
    policy_name: str
    policy_arn: str = ""
    policy_created: bool = False
    policy_attached: bool = False
    policy_endpoints: list[str] = Field(default_factory=list)  # endpoint names the policy allows
    policy_parts: list[PolicyPart] = Field(default_factory=list)  # the further policies, beyond 70-odd endpoints
    access_key_id: str = ""
    access_key_created: str | None = None
    secret_store: Literal["secretsmanager", "local"] = "secretsmanager"
    secret_ref: str = ""  # the Secrets Manager secret's ARN, or the local file's path


class RoleRecord(Resource):
    created_by_esmctl: bool = True
    policy_attached: bool = False


class State(_Doc):
    version: int = SCHEMA_VERSION
    serial: int = 0
    lineage: str = Field(default_factory=lambda: str(uuid.uuid4()))
    esmctl_version: str = __version__
    account_id: str = ""
    region: str
    environment: str
    role: RoleRecord | None = None
    shared_account: SharedAccountRecord | None = None
    deployments: dict[str, DeploymentState] = Field(default_factory=dict)
    creation_seconds: list[float] = Field(default_factory=list)  # recent endpoint creation times
    records: dict[str, Any] = Field(default_factory=dict)  # shared records of kinds added after schema 2


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + ".backup")


def lock_path(path: Path) -> Path:
    return path.with_suffix(".lock")


def read(path: Path) -> State | None:
    """The state at `path`, or None when there is none yet."""
    raw = read_bytes(path)
    return None if raw is None else parse(raw, str(path))


def read_bytes(path: Path) -> bytes | None:
    """The state document at `path` as stored, or None when there is none yet."""
    try:
        if path.is_dir():
            raise StateError(f"The state path {path} is a directory, not a file.",
                             hint="Move it away or set `state:` in esmctl.yaml to a file path.")
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except PermissionError:
        raise StateError(f"The state file {path} is not readable (permissions).",
                         hint=f"Check its owner and mode: `ls -l {path}`.") from None


def _restore_hint(where: str) -> str:
    backup = f"{where}.backup"
    if where.startswith("s3://"):
        bucket, _, key = where.removeprefix("s3://").partition("/")
        return (f"Restore an earlier version: `aws s3 cp {backup} {where}` (bucket without versioning), or "
                f"`aws s3api list-object-versions --bucket {bucket} --prefix {key}` and `get-object --version-id`; "
                "or `esmctl state push --force FILE`. Then run `esmctl refresh`.")
    return f"Restore the previous version from {backup} (`cp {backup} {where}`), then run `esmctl refresh`."


def parse(raw: bytes, where: str) -> State:
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise StateError(
            f"The state file {where} is not valid JSON ({e}); esmctl will not overwrite it.",
            hint=_restore_hint(where),
        ) from None
    if not isinstance(doc, dict):
        raise StateError(f"The state file {where} is not a JSON object.", hint=_restore_hint(where))
    version = doc.get("version", 1)
    if isinstance(version, int) and version > SCHEMA_VERSION:
        raise StateError(
            f"The state file {where} has schema version {version}, written by esmctl "
            f"{doc.get('esmctl_version', '?')}; this esmctl ({__version__}) reads up to {SCHEMA_VERSION}.",
            hint="Upgrade esmctl (`pip install -U esmctl`); the state was left as it is.",
        )
    if isinstance(version, int) and not isinstance(version, bool) and version < SCHEMA_VERSION:
        doc = upgrade(doc, version, where)
    try:
        return State.model_validate(doc)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise StateError(
            f"The state file {where} does not match the schema ({loc}: {first['msg']}); "
            "esmctl will not overwrite it.",
            hint=_restore_hint(where),
        ) from None


def upgrade(doc: dict[str, Any], version: int, where: str) -> dict[str, Any]:
    """A version-`version` document brought to SCHEMA_VERSION through `UPGRADES`, one step at a time."""
    while version < SCHEMA_VERSION:
        step = UPGRADES.get(version)
        if step is None:
            raise StateError(
                f"The state file {where} has schema version {version}, which this esmctl ({__version__}) "
                f"cannot upgrade to {SCHEMA_VERSION}.",
                hint=_restore_hint(where),
            )
        try:
            doc = step(doc)
        except (KeyError, TypeError, ValueError, AttributeError) as e:  # a document an upgrade cannot read
            raise StateError(
                f"The state file {where} could not be upgraded from schema version {version} to "
                f"{version + 1} ({type(e).__name__}: {e}); esmctl will not overwrite it.",
                hint=_restore_hint(where),
            ) from None
        version += 1
        doc["version"] = version
    return doc


def dump(state: State) -> bytes:
    """The next version of the document: serial + 1, this esmctl's version and schema version."""
    state.serial += 1
    state.version = SCHEMA_VERSION
    state.esmctl_version = __version__
    return state.model_dump_json(indent=2, exclude_none=False).encode() + b"\n"


def write(path: Path, state: State) -> None:
    """Atomically replace the state: bump serial, keep the old file as .backup, mode 0600."""
    write_bytes(path, dump(state))


def write_bytes(path: Path, data: bytes) -> None:
    """Atomically replace the document at `path` with `data`, keeping the old file as .backup."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():  # the backup is the previous file itself (a hard link), not a copy
        link = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.bak")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(link)
        os.link(path, link)
        os.replace(link, backup_path(path))
    _atomic_write(path, data)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename durable too
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


class Backend(Protocol):
    """Where one environment's state document and its lock live: a local file or an S3 object."""

    where: str  # the document's path or s3:// URL, for messages
    lock_where: str

    def read(self) -> State | None: ...
    def read_bytes(self) -> bytes | None: ...
    def write(self, state: State) -> None: ...
    def write_bytes(self, data: bytes) -> None: ...
    def locked(self, command: str, on_stale: Callable[[LockInfo], None] | None = None
               ) -> contextlib.AbstractContextManager[None]: ...
    def read_lock(self) -> LockInfo | None: ...
    def unlock(self, *, force: bool = False) -> LockInfo | None: ...


class LocalBackend:
    """The state as a local file (`state/<environment>.json`), locked with `<environment>.lock`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)
        self.lock_where = str(lock_path(path))

    def read(self) -> State | None:
        return read(self.path)

    def read_bytes(self) -> bytes | None:
        return read_bytes(self.path)

    def write(self, state: State) -> None:
        write(self.path, state)

    def write_bytes(self, data: bytes) -> None:
        write_bytes(self.path, data)

    def locked(self, command: str, on_stale: Callable[[LockInfo], None] | None = None
               ) -> contextlib.AbstractContextManager[None]:
        return locked(self.path, command, on_stale)

    def read_lock(self) -> LockInfo | None:
        return read_lock(self.path)

    def unlock(self, *, force: bool = False) -> LockInfo | None:
        return unlock(self.path, force=force)


@dataclass(frozen=True)
class S3Url:
    """`s3://BUCKET/PREFIX/`: the state of environment E is the object `PREFIX` + `E.json`."""

    bucket: str
    prefix: str  # "" or ending in "/"

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def key(self, environment: str, suffix: str = ".json") -> str:
        return f"{self.prefix}{environment}{suffix}"


_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def parse_s3_url(value: str) -> S3Url:
    """`s3://bucket/prefix/` → S3Url; ValueError saying what is wrong. A prefix gets its trailing '/'."""
    rest = value.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise ValueError(f"{bucket!r} is not a valid S3 bucket name (3-63 characters: lowercase letters, digits, "
                         "dots, hyphens); write state: s3://BUCKET/PREFIX/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    if prefix.startswith("/") or "//" in prefix:
        raise ValueError(f"the prefix {prefix!r} has an empty path segment; write state: s3://BUCKET/PREFIX/")
    return S3Url(bucket, prefix)


class Store:
    """The state of one environment, shared by the executor's threads; every change is written."""

    def __init__(self, backend: Backend, state: State) -> None:
        self.backend = backend
        self.state = state
        self._lock = threading.RLock()

    @contextlib.contextmanager
    def change(self) -> Iterator[State]:
        """Mutate the state under the store's lock; it is written when the block ends."""
        with self._lock:
            yield self.state
            self.backend.write(self.state)

    def save(self) -> None:
        with self._lock:
            self.backend.write(self.state)


def check_replace(current: State | None, new: State, *, where: str, force: bool = False) -> None:
    """Terraform's rules for replacing a state wholesale (`state push`, `state migrate`): the same
    environment and region always; unless forced, the same lineage and a serial not older than the
    one there. Raises StateError naming both."""
    if current is None:
        return
    for what, a, b in (("environment", current.environment, new.environment), ("region", current.region, new.region),
                       ("AWS account", current.account_id, new.account_id)):
        if a and b and a != b:
            raise StateError(f"The state at {where} is for {what} {a}, the one to write for {b}; nothing was written.",
                             hint="Use the configuration (or --state) of that environment.")
    if force:
        return
    if current.lineage != new.lineage:
        raise StateError(
            f"The state at {where} has another lineage ({current.lineage}, serial {current.serial}) than the one "
            f"to write ({new.lineage}, serial {new.serial}): they record different deployments; nothing was written.",
            hint="Check that both are the state you mean; --force replaces it anyway.")
    if new.serial < current.serial:
        raise StateError(
            f"The state at {where} is newer (serial {current.serial}) than the one to write (serial {new.serial}); "
            "nothing was written.",
            hint="Pull the newer state first (`esmctl state pull`); --force replaces it anyway.")
    if new.serial == current.serial:
        raise StateError(
            f"The state at {where} has the same serial ({new.serial}) but other content; nothing was written.",
            hint="One of them was changed by hand; --force replaces the one there.")


# --- the lock ----------------------------------------------------------------------------------


@functools.cache
def machine_id() -> str:
    """This kernel boot and PID namespace: where a pid names the same process. Host names are not
    enough (cloned VMs, containers sharing the host's network); "" where /proc does not tell (not Linux)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        ns = os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""
    return f"{boot}/{ns}"


class LockInfo(BaseModel):
    pid: int
    host: str
    command: str
    since: str
    machine: str = ""  # machine_id() of the holder ("" in locks of older esmctl versions)

    @classmethod
    def mine(cls, command: str) -> LockInfo:
        return cls(pid=os.getpid(), host=socket.gethostname(), command=command, since=iso(utcnow()) or "",
                   machine=machine_id())

    @classmethod
    def parse(cls, raw: bytes, what: str) -> LockInfo:
        """The holder written in a lock (file or S3 object); a placeholder when it cannot be read."""
        try:
            return cls.model_validate_json(raw)
        except (ValidationError, ValueError):
            return cls(pid=0, host="?", command=f"? (unreadable {what})", since="?")

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, `{self.command}`, since {self.since}"

    def check_removable(self, *, force: bool) -> None:
        """`esmctl unlock` removes a lock whose holder is known to be gone; any other only with --force."""
        alive = self.alive()
        if force or alive is False:
            return
        where = "is still running" if alive else "ran on another machine, so esmctl cannot tell if it is alive"
        raise LockHeld(f"The lock holder ({self.describe()}) {where}.",
                       hint="Use `esmctl unlock --force` only if you are sure it is gone.")

    def alive(self) -> bool | None:
        """True/False for a holder on this machine; None when it runs elsewhere (unknown)."""
        if self.host != socket.gethostname():
            return None
        if self.machine and machine_id() and self.machine != machine_id():
            return None  # same host name, another machine or PID namespace: its pid means nothing here
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def read_lock(path: Path) -> LockInfo | None:
    lp = lock_path(path)
    try:
        raw = lp.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise StateError(f"The lock path {lp} is a directory, not a lock file.",
                         hint=f"Remove it (`rmdir {lp}`) if no esmctl run is using it.") from None
    except OSError:
        raw = b""
    return LockInfo.parse(raw, "lock file")


@contextlib.contextmanager
def locked(path: Path, command: str, on_stale: Callable[[LockInfo], None] | None = None) -> Iterator[None]:
    """Hold the environment's lock for the block; fail at once if someone else has it.

    A lock left by a process that is no longer running on this host (killed, crashed) is taken
    over, after `on_stale` is told; a live holder, or one on another host, makes this fail.
    """
    lp = lock_path(path)
    lp.parent.mkdir(parents=True, exist_ok=True)
    info = LockInfo.mine(command)
    # The lock appears with its content at once (link of a written temp file), so a competing
    # run never reads a half-written holder.
    tmp = lp.with_name(f".{lp.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(info.model_dump_json())
    os.chmod(tmp, 0o600)
    try:
        for attempt in range(2):
            try:
                os.link(tmp, lp)
                break
            except FileExistsError:
                raw = _read_bytes(lp)
                holder = read_lock(path)
                if holder is not None and holder.alive() is False and attempt == 0:
                    if on_stale:
                        on_stale(holder)
                    if _read_bytes(lp) == raw:  # still the same dead holder's lock
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(lp)
                    continue
                desc = holder.describe() if holder else "unknown holder"
                raise LockHeld(
                    f"The state of this environment is locked by {desc}.",
                    hint="Wait for that run to finish. If it died on another host, `esmctl unlock --force`.",
                ) from None
        else:  # pragma: no cover - the second attempt either breaks or raises
            raise LockHeld("Could not take the state lock.", hint="Run the command again.")
    finally:
        tmp.unlink(missing_ok=True)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lp)


def _read_bytes(p: Path) -> bytes | None:
    try:
        return p.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return None


def unlock(path: Path, *, force: bool = False) -> LockInfo | None:
    """Remove a lock left by a dead process. Refuses a live (or unknown) holder unless forced."""
    holder = read_lock(path)
    if holder is None:
        return None
    holder.check_removable(force=force)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(lock_path(path))
    return holder


def command_line() -> str:
    return " ".join(["esmctl", *sys.argv[1:]])[:200]
