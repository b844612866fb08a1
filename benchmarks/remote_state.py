"""Remote state: what keeping the state in S3 costs, against a local state file.

For N deployments (default 1, 10, 50) the real `esmctl deploy --yes` runs from an empty sandbox
account twice — `state:` local, then `state: s3://…` (bucket versioning off, so every state write
also rewrites the `.backup` object) — followed by a no-op `esmctl plan`. Reported: wall time of
each, the S3 requests esmctl made (counted in the sandbox server, by method), and the state writes
they stand for. Then: how long a second `deploy` takes to fail while the lock is held (it must
fail at once, not wait).

    python benchmarks/remote_state.py [--n 1 10 50] [--creating 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

BUCKET = "bench-state"


def s3_counter() -> Counter[str]:
    """Count esmctl's S3 requests in the sandbox (GET / PUT / DELETE ...)."""
    from esmctl.sandbox import control

    counts: Counter[str] = Counter()

    def hook(info: Any) -> None:
        if info.service == "s3" and info.from_esmctl:
            verb = next((v for v in ("Get", "Update", "Delete", "Create") if info.operation.startswith(v)), "?")
            counts[{"Get": "GET", "Update": "PUT", "Delete": "DELETE", "Create": "POST"}.get(verb, "?")] += 1
        return None

    control.request_hook = hook
    return counts


def project(url: str, root: Path, n: int, *, remote: bool, creating: float) -> tuple[Path, dict[str, str], Any]:
    """An empty sandbox account and a fresh project of N deployments; with `remote`, its state in a new
    bucket. Returns the folder, the environment for esmctl and an S3 client (None when local)."""
    c.reset_sandbox(url, creating_seconds=creating)
    folder = Path(tempfile.mkdtemp(dir=root))
    cfg = c.write_project(folder, n)
    s3 = None
    if remote:
        import boto3

        s3 = boto3.client("s3", endpoint_url=url, region_name=c.REGION, aws_access_key_id="testing",
                          aws_secret_access_key="testing")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": c.REGION})
        cfg.write_text(cfg.read_text() + f"state: s3://{BUCKET}/esm/\n")
    return folder, c.fake_aws_env(url, poll_interval=0.2), s3


def one(url: str, root: Path, n: int, remote: bool, creating: float) -> dict[str, Any]:
    folder, env, s3 = project(url, root, n, remote=remote, creating=creating)
    counts = s3_counter()
    d = c.check(c.esmctl("deploy", "--yes", cwd=folder, env=env, timeout=600), f"deploy N={n}")
    deploy_s3 = dict(counts)
    counts.clear()
    p = c.check(c.esmctl("plan", cwd=folder, env=env), f"plan N={n}")
    plan_s3 = dict(counts)
    if s3 is not None:
        doc = json.loads(s3.get_object(Bucket=BUCKET, Key="esm/dev.json")["Body"].read())
    else:
        doc = json.loads((folder / "state" / "dev.json").read_text())
    return {"deploy": d.seconds, "plan": p.seconds, "deploy_s3": deploy_s3, "plan_s3": plan_s3,
            "serial": doc["serial"]}


def lock_wait(url: str, root: Path, creating: float) -> float:
    """Wall time of a second `deploy` while a first one (waiting for its endpoint) holds the S3 lock."""
    import subprocess

    folder, env, s3 = project(url, root, 1, remote=True, creating=creating)
    first = subprocess.Popen([*c.esmctl_command(), "deploy", "--yes"], cwd=folder, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 60
    while time.monotonic() < end:
        try:
            s3.head_object(Bucket=BUCKET, Key="esm/dev.lock")
            break
        except Exception:  # noqa: BLE001 - not there yet
            time.sleep(0.05)
    second = c.esmctl("deploy", "--yes", cwd=folder, env=env)
    first.wait(timeout=300)
    if first.returncode != 0 or second.code != 1 or "is locked by" not in second.err:
        sys.exit(f"the second deploy did not fail on the lock (first exit {first.returncode}):\n{second.err[-2000:]}")
    return second.seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[1, 10, 50])
    ap.add_argument("--creating", type=float, default=2.0, help="simulated creating time, seconds")
    args = ap.parse_args()
    c.header("Remote state (S3) against a local state file")
    print(f"`esmctl deploy --yes` from an empty account (simulated creating time {args.creating:g} s, "
          "ESMCTL_POLL_INTERVAL=0.2), then `esmctl plan`; one run per cell.\n")
    t0 = time.perf_counter()
    rows = []
    with c.sandbox() as server, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        one(server.url, root, 1, False, 0.0)  # warm-up
        for n in args.n:
            loc = one(server.url, root, n, False, args.creating)
            rem = one(server.url, root, n, True, args.creating)
            print(f"(N={n}: local {loc['deploy']:.1f} s, s3 {rem['deploy']:.1f} s)", file=sys.stderr)
            s3_total = sum(rem["deploy_s3"].values())
            rows.append([n, f"{loc['deploy']:.2f} s", f"{rem['deploy']:.2f} s",
                         f"{rem['deploy'] - loc['deploy']:+.2f} s", rem["serial"],
                         f"{s3_total} ({', '.join(f'{k} {v}' for k, v in sorted(rem['deploy_s3'].items()))})",
                         f"{loc['plan']:.2f} s", f"{rem['plan']:.2f} s",
                         ", ".join(f"{k} {v}" for k, v in sorted(rem["plan_s3"].items())) or "-"])
        held = lock_wait(server.url, root, max(args.creating, 3.0))
    print(c.table(["N", "deploy local", "deploy s3", "difference", "state writes (serial)", "S3 requests of deploy",
                   "plan local", "plan s3", "S3 requests of plan"], rows))
    print(f"\nA second `esmctl deploy --yes` while the lock is held fails in {held:.2f} s (whole process, "
          "including Python start-up): it does not wait for the holder.")
    c.footer(t0)


if __name__ == "__main__":
    main()
