"""Shared helpers for the benchmarks: the sandbox, projects with N deployments, running esmctl, tables.

Each benchmark is a script (`python benchmarks/<name>.py`) that measures side by side in one run
and prints Markdown tables (pasted as they are into docs/performance.md). Nothing here talks to a
real AWS account: the environment always carries fake credentials and the sandbox's URL.

Importing this module is cheap (no boto3, no moto): the startup benchmark imports it too.
"""

from __future__ import annotations

import contextlib
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
CATALOG = REPO / "models.yaml"  # the catalog shipped at the repository root
EXAMPLES = REPO / "esmctl" / "examples"
REGION = "us-east-2"
ACCOUNT = "123456789012"  # moto's default account, which the sandbox reports
SELECTOR = "ESMC-300M"
ENVIRONMENT = "dev"


# --- projects -------------------------------------------------------------------------------------


def names(n: int) -> list[str]:
    """Logical deployment names m0001 ... mNNNN."""
    return [f"m{i:04d}" for i in range(1, n + 1)]


def write_project(folder: Path, n: int, *, environment: str = ENVIRONMENT) -> Path:
    """esmctl.yaml with N deployments (all ESMC-300M, catalog defaults) and models.yaml; returns esmctl.yaml."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(CATALOG, folder / "models.yaml")
    lines = [
        "models_yaml_path: models.yaml",
        f"environment: {environment}",
        f"region: {REGION}",
        "iam_role_name_prefix: esm",
        "tags:",
        f"  Environment: {environment}",
        "  Project: esm-partner",
        "enable_shared_service_account: false",
    ]
    if n:
        lines.append("selected_models:")
        for name in names(n):
            lines += [f"  {name}:", f"    selector: {SELECTOR}"]
    else:
        lines.append("selected_models: {}")
    path = folder / "esmctl.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def write_example(folder: Path, example: str = "multi_model") -> Path:
    """One of esmctl's bundled examples (esmctl.yaml + models.yaml) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLES / f"{example}.yaml", folder / "esmctl.yaml")
    shutil.copy(EXAMPLES / "models.yaml", folder / "models.yaml")
    return folder / "esmctl.yaml"


def catalog_entry(selector: str = SELECTOR) -> dict[str, Any]:
    doc = yaml.safe_load(CATALOG.read_text())
    return dict(doc["models"][selector])


def synthetic_state(deployments: dict[str, str], *, environment: str = ENVIRONMENT, seed: int = 1) -> Any:
    """A State as esmctl leaves it after deploying `deployments` (logical name -> selector) and waiting:
    every record created, endpoints InService, the role made and its policy attached.

    The records are the ones the executor writes (names from esmctl.naming, lowercase SageMaker ARNs),
    so `plan --no-refresh` against the matching esmctl.yaml shows no changes.
    """
    from esmctl import naming
    from esmctl import state as st

    rng = random.Random(seed)
    doc = yaml.safe_load(CATALOG.read_text())["models"]
    created = "2025-01-06T09:00:00Z"
    role = naming.role_name("esm", environment)
    out = st.State(region=REGION, environment=environment, account_id=ACCOUNT, serial=len(deployments) * 6 + 4,
                   role=st.RoleRecord(name=role, arn=f"arn:aws:iam::{ACCOUNT}:role/{role}", created=True,
                                      created_by_esmctl=True, policy_attached=True),
                   creation_seconds=[round(rng.uniform(540, 900), 1) for _ in range(st.HISTORY_KEEP)])
    suffixes: set[str] = set()
    for dname, selector in deployments.items():
        cat = doc[selector]
        suffix = f"{rng.getrandbits(32):08x}"
        while suffix in suffixes:
            suffix = f"{rng.getrandbits(32):08x}"
        suffixes.add(suffix)
        model = naming.model_name(cat["sagemaker_model_name"], suffix)
        config = naming.endpoint_config_name(cat["endpoint_name"], suffix)
        endpoint = naming.endpoint_name(cat["endpoint_name"], suffix)
        out.deployments[dname] = st.DeploymentState(
            selector=selector, suffix=suffix, forge_model_name=cat["forge_model_name"],
            model=st.ModelRecord(name=model, arn=naming.sagemaker_arn(REGION, ACCOUNT, "model", model), created=True,
                                 model_package=cat["model_package"], selector=selector,
                                 forge_model_name=cat["forge_model_name"]),
            endpoint_config=st.ConfigRecord(name=config, created=True,
                                            arn=naming.sagemaker_arn(REGION, ACCOUNT, "endpoint-config", config),
                                            model_name=model, instance_type=cat["instance_type"],
                                            instance_count=int(cat["instance_count"])),
            endpoint=st.EndpointRecord(name=endpoint, arn=naming.sagemaker_arn(REGION, ACCOUNT, "endpoint", endpoint),
                                       created=True, config_name=config, status="InService"),
            desired="running", created_at=created, started_at=created,
        )
    return out


# --- the environment and running esmctl ------------------------------------------------------------


def fake_aws_env(url: str | None = None, *, poll_interval: float = 0.2) -> dict[str, str]:
    """os.environ without the caller's AWS/esmctl settings, with fake credentials (and the sandbox URL)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ESMCTL_"))}
    env.update({
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION, "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "ESMCTL_POLL_INTERVAL": str(poll_interval), "NO_COLOR": "1", "COLUMNS": "200",
    })
    if url:
        env["AWS_ENDPOINT_URL"] = url
    return env


@contextlib.contextmanager
def fake_aws_process_env(url: str | None = None) -> Iterator[None]:
    """The same, for boto3 inside this process (restored afterwards)."""
    saved = dict(os.environ)
    fake = fake_aws_env(url)
    os.environ.clear()
    os.environ.update(fake)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def esmctl_command() -> list[str]:
    """The installed console script next to this interpreter, else `python -m esmctl`."""
    script = Path(sys.executable).with_name("esmctl")
    if script.exists():
        return [str(script)]
    found = shutil.which("esmctl")
    return [found] if found else [sys.executable, "-m", "esmctl"]


@dataclass
class Run:
    code: int
    seconds: float
    out: str
    err: str
    maxrss_kb: int = 0
    cpu: float = 0.0  # user + system CPU seconds of the process: less sensitive than wall time to other load


def run(cmd: Sequence[str], *, cwd: Path, env: dict[str, str], timeout: float = 300) -> Run:
    """Run a command to its end: wall time around the whole process, its peak RSS from wait4()."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(list(cmd), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        timer = threading.Timer(timeout, p.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(p.pid, 0)
        finally:
            timer.cancel()
        seconds = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(p.returncode, seconds, out.read().decode(errors="replace"), err.read().decode(errors="replace"),
                   int(usage.ru_maxrss), usage.ru_utime + usage.ru_stime)


def esmctl(*args: str, cwd: Path, env: dict[str, str], timeout: float = 300) -> Run:
    return run([*esmctl_command(), *args], cwd=cwd, env=env, timeout=timeout)


def check(r: Run, what: str) -> Run:
    if r.code != 0:
        sys.exit(f"{what} failed (exit {r.code}):\n{r.out[-2000:]}\n{r.err[-3000:]}")
    return r


# --- the sandbox ---------------------------------------------------------------------------------


@contextlib.contextmanager
def sandbox() -> Iterator[Any]:
    """An in-process sandbox server (patched moto); `control` steers its timings."""
    import logging

    from esmctl import sandbox as sb

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no log line per request
    server = sb.start_server(port=0)
    try:
        yield server
    finally:
        server.stop()
        sb.control.reset()


def reset_sandbox(url: str, *, creating_seconds: float, quota: int = 2000, aws_behaviour: bool = False) -> None:
    """A clean account, with endpoints that stay Creating for `creating_seconds`.

    `aws_behaviour`: keep the sandbox's AWS behaviours on (eventual-consistency delays, rate limits;
    docs/aws-behaviour.md); off by default here, since most benchmarks measure esmctl itself.

    The account's instance quota for each catalog instance type is raised to `quota` (the sandbox
    shows AWS's default of 4 otherwise, and `deploy`'s pre-deploy check would refuse N > 4).
    """
    from esmctl.sandbox import control

    req = urllib.request.Request(f"{url}/moto-api/reset", data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        resp.read()
    control.reset()
    if not aws_behaviour:
        control.immediate()
    control.creating_seconds = creating_seconds
    control.updating_seconds = creating_seconds
    types = {m["instance_type"] for m in yaml.safe_load(CATALOG.read_text())["models"].values()}
    control.quota_instances = {t: quota for t in types}


def quiet_ui() -> Any:
    """A UI that prints nothing (in-process runs with thousands of steps)."""
    from rich.console import Console

    from esmctl.ui import UI

    ui = UI(interactive=False, color=False)
    ui.err = Console(file=open(os.devnull, "w"), no_color=True)  # lives as long as the UI
    ui.out = Console(file=open(os.devnull, "w"), no_color=True)
    return ui


@contextlib.contextmanager
def deferred_state_writes() -> Iterator[dict[Path, Any]]:
    """Skip the per-step state writes while setting up big fixtures, then write each state once.

    The executor writes the whole state twice per resource (record, then confirm): for 1,000
    deployments that is 6,000 writes of a document growing to ~1 MB, minutes spent on a fixture
    that is not what is measured. The records are exactly the executor's; only the intermediate
    copies on disk are skipped. Yields the last state seen per path.
    """
    from esmctl import state as st

    real = st.write
    last: dict[Path, Any] = {}

    def skip(path: Path, state: Any) -> None:
        state.serial += 1
        last[path] = state

    st.write = skip  # type: ignore[assignment]
    try:
        yield last
    finally:
        st.write = real  # type: ignore[assignment]
    for path, state in last.items():
        state.serial -= 1  # write() bumps it again
        real(path, state)


def deploy_in_process(folder: Path, url: str, n: int, *, parallelism: int = 16) -> dict[str, Any]:
    """N deployments made by esmctl's own planner and executor (no wait); the state written once.

    Returns the number of requests it took, in total and per operation.
    """
    from esmctl.api import Workspace

    write_project(folder, n)
    ws = Workspace(folder / "esmctl.yaml", endpoint_url=url, ui=quiet_ui())
    calls = Calls()
    ws.aws.on_request(calls.hook)
    with deferred_state_writes():
        result = ws.deploy(yes=True, wait=False, parallelism=parallelism)
    assert result.outcome is not None and not result.outcome.failures, result.outcome
    state = ws.read_state()
    assert state is not None and len(state.deployments) == n
    return {"total": calls.total, "by_operation": calls.by_operation()}


# --- counting requests -----------------------------------------------------------------------------


@dataclass
class Calls:
    """Counts every AWS request (botocore's before-send event: one per HTTP attempt, retries too)."""

    counts: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def hook(self, **kwargs: Any) -> None:
        event = str(kwargs.get("event_name", ""))  # before-send.<service>.<Operation>
        parts = event.split(".")
        self.counts[".".join(parts[1:3]) if len(parts) >= 3 else event] += 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def reset(self) -> None:
        self.counts.clear()

    def by_operation(self) -> dict[str, int]:
        return dict(sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def measure(self, fn: Callable[[], Any]) -> tuple[int, dict[str, int], Any]:
        """Requests made by fn(), in total and per operation, and what fn returned; `self.seconds` its time."""
        self.reset()
        t0 = time.perf_counter()
        value = fn()
        self.seconds = time.perf_counter() - t0
        return self.total, self.by_operation(), value


def fmt_ops(ops: dict[str, int]) -> str:
    """`ListEndpoints 2, GetRole 1` (service prefixes dropped)."""
    return ", ".join(f"{k.split('.', 1)[-1]} {v}" for k, v in ops.items()) or "-"


# --- statistics and output -------------------------------------------------------------------------


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table with aligned columns."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|",
                      *(line(r) for r in cells[1:])])


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def machine() -> dict[str, str]:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        nproc = os.cpu_count() or 0
    return {"nproc": str(nproc), "python": platform.python_version(), "cpu": cpu,
            "os": f"{platform.system()} {platform.release()}"}


def header(title: str) -> None:
    """The benchmark's title and the machine; stdout line-buffered so it interleaves with progress on stderr."""
    with contextlib.suppress(AttributeError):
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    m = machine()
    print(f"## {title}\n")
    print(f"machine: nproc {m['nproc']}, Python {m['python']}, CPU {m['cpu']}, {m['os']}; {load()} at the start")
    print(f"code: {revision()}\n")


def revision() -> str:
    """The commit measured, and whether esmctl/ had uncommitted changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "esmctl"], cwd=REPO, capture_output=True,
                               text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    if not head:
        return "unknown (not a git checkout)"
    return f"esmctl at {head}" + (" with uncommitted changes in esmctl/" if dirty else "")


def load() -> str:
    """The 1/5/15-minute load averages: other work on the machine makes wall times noisy."""
    try:
        return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "load average unknown"


def footer(t0: float) -> None:
    print(f"\nTotal time {time.perf_counter() - t0:.0f} s; {load()} at the end.")
