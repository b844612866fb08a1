"""Parallel deploy: wall time of the real `esmctl deploy --yes` for N = 1, 10, 50 deployments.

Each run starts from an empty sandbox account and no state (POST /moto-api/reset, fresh folder),
with a fixed simulated creating time (endpoints stay Creating for CREATING seconds after their
CreateEndpoint) and ESMCTL_POLL_INTERVAL=0.2. Default parallelism and `--parallelism 1` are run
side by side. Reported: wall(N), wall(N)/wall(1), the time beyond the creating time, and
(wall(N) − wall(1)) / (N − 1): what each additional deployment costs.

Target: wall(50)/wall(1) ≤ 1.3 with the default parallelism, with the sandbox's AWS behaviours on
(rate limits, eventual-consistency delays: docs/aws-behaviour.md) and --latency 0.1.

With --latency S the sandbox answers every request S seconds late (a sleep in its request hook,
which lets other requests run meanwhile), like AWS's API latency: without it the sandbox answers in a
few milliseconds and is CPU-bound, so parallelism can show no gain.

Each cell is the median of --repeat runs, after one unmeasured warm-up deploy (the sandbox's very
first requests load moto's IAM policies). `--parallelism 1` is skipped for an N whose predicted
time (extrapolated from the smaller N measured) × --repeat exceeds --serial-budget seconds, so the
script stays within about three minutes on two cores; the output says so.

    python benchmarks/parallel_deploy.py [--n 1 10 50] [--creating 5] [--latency 0] [--repeat 2]
                                         [--serial-budget 90]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

TARGET = 1.3


THROTTLED: Counter[str] = Counter()  # requests the sandbox's rate limits refused, per operation


def count_throttling() -> None:
    """Count what the sandbox's token buckets refuse (botocore retries those; none may fail the run)."""
    from esmctl.sandbox import control

    take = control.take_token

    def counting(service: str, operation: str, family: str) -> bool:
        ok = take(service, operation, family)
        if not ok:
            THROTTLED[f"{service}:{operation}"] += 1
        return ok

    control.take_token = counting  # type: ignore[method-assign]


def deploy_once(url: str, root: Path, n: int, parallelism: int | None, creating: float, latency: float = 0.0,
                immediate: bool = False) -> float:
    """Wall seconds of one `esmctl deploy --yes` of N deployments from scratch; checks they are InService."""
    c.reset_sandbox(url, creating_seconds=creating, aws_behaviour=not immediate)
    if latency:
        from esmctl.sandbox import control

        def slow(_info: object) -> None:  # every request answers `latency` seconds later, as over a network
            time.sleep(latency)

        control.request_hook = slow
    folder = Path(tempfile.mkdtemp(dir=root))
    c.write_project(folder, n)
    env = c.fake_aws_env(url, poll_interval=0.2)
    args = ["deploy", "--yes"] + ([] if parallelism is None else ["--parallelism", str(parallelism)])
    r = c.check(c.esmctl(*args, cwd=folder, env=env, timeout=600), f"esmctl {' '.join(args)} (N={n})")
    state = json.loads((folder / "state" / "dev.json").read_text())
    up = [d for d in state["deployments"].values() if d["endpoint"]["status"] == "InService"]
    if len(up) != n:
        sys.exit(f"N={n}: only {len(up)} endpoints InService after deploy:\n{r.err[-2000:]}")
    return r.seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[1, 10, 50])
    ap.add_argument("--creating", type=float, default=5.0, help="simulated creating time, seconds")
    ap.add_argument("--latency", type=float, default=0.0,
                    help="seconds the sandbox waits before answering each request (AWS API latency; default 0)")
    ap.add_argument("--repeat", type=int, default=2, help="runs per cell (the median is reported)")
    ap.add_argument("--immediate", action="store_true",
                    help="turn the sandbox's AWS behaviours off (eventual-consistency delays, rate limits); "
                    "by default they are on, as in `esmctl sandbox` (docs/aws-behaviour.md)")
    ap.add_argument("--serial-budget", type=float, default=90.0,
                    help="skip --parallelism 1 for an N whose runs are predicted to take longer than this (seconds)")
    args = ap.parse_args()
    ns = sorted(args.n)

    c.header("Parallel deploy")
    latency = f", {args.latency * 1000:g} ms added to every request" if args.latency else ""
    print(f"`esmctl deploy --yes`, simulated creating time {args.creating:g} s{latency}, ESMCTL_POLL_INTERVAL=0.2, "
          f"median of {args.repeat} runs per cell (after one unmeasured warm-up run), each from an empty "
          "account and no state.\n")
    from esmctl.sandbox import control

    control.reset()
    if args.immediate:
        print("Sandbox AWS behaviours: off (--immediate).\n")
    else:
        limits = ", ".join(f"{k} {r:g}/s burst {b:g}" for k, (r, b) in control.rate_limits.items())
        print("Sandbox AWS behaviours on (defaults): a new role is refused for "
              f"{control.role_propagation_seconds:g} s, "
              f"a new endpoint config for {control.config_lookup_seconds:g} s; rate limits per API operation: "
              f"{limits}.\n")
    count_throttling()
    t0 = time.perf_counter()
    runs: dict[tuple[str, int], list[float]] = {}
    throttled: dict[tuple[str, int], int] = {}
    skipped: dict[int, str] = {}
    with c.sandbox() as server, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # warm-up: the sandbox's first requests are slow
        deploy_once(server.url, root, 1, None, args.creating, immediate=args.immediate)
        for n in ns:
            wall = {k: c.median(v) for k, v in runs.items()}
            predicted = predict(wall, "serial", n)
            if predicted is not None and predicted * args.repeat > args.serial_budget:
                skipped[n] = (f"--parallelism 1 with N={n} skipped: predicted {predicted:.0f} s a run "
                              f"(× {args.repeat} runs > --serial-budget {args.serial_budget:g} s).")
            for _ in range(args.repeat):
                for mode, p in (("default", None), ("serial", 1)):
                    if mode == "serial" and n in skipped:
                        continue
                    THROTTLED.clear()
                    w = deploy_once(server.url, root, n, p, args.creating, args.latency, args.immediate)
                    throttled[(mode, n)] = sum(THROTTLED.values())
                    runs.setdefault((mode, n), []).append(w)
                    print(f"({mode} N={n}: {w:.1f} s)", file=sys.stderr)
    wall = {k: c.median(v) for k, v in runs.items()}

    from esmctl.execute import DEFAULT_PARALLELISM

    rows = []
    for mode, label in (("default", f"default ({DEFAULT_PARALLELISM})"), ("serial", "--parallelism 1")):
        base = wall.get((mode, ns[0]))
        for n in ns:
            w = wall.get((mode, n))
            if w is None:
                rows.append([label, n, "skipped", "", "", "", ""])
                continue
            per = f"{(w - base) / (n - ns[0]) * 1000:.0f} ms" if base and n > ns[0] else "-"
            spread = f"{min(runs[(mode, n)]):.2f}–{max(runs[(mode, n)]):.2f} s"
            rows.append([label, n, f"{w:.2f} s", spread, f"{w / base:.2f}" if base else "",
                         f"{w - args.creating:.2f} s", per])
    print(c.table(["parallelism", "N", "wall (median)", "min–max", f"wall(N)/wall({ns[0]})", "wall − creating time",
                   f"per deployment beyond {ns[0]}"], rows))
    for line in skipped.values():
        print(f"\n{line}")
    if not args.immediate:
        print("\nRequests throttled by the sandbox (last run of each cell; botocore retried them, no call failed): "
              + ", ".join(f"{m} N={n}: {v}" for (m, n), v in sorted(throttled.items())))

    print()
    big = ns[-1]
    if ("default", big) in wall and ("default", ns[0]) in wall:
        ratio = wall[("default", big)] / wall[("default", ns[0])]
        print(f"Target wall({big})/wall({ns[0]}) ≤ {TARGET}: {ratio:.2f} → {c.verdict(ratio <= TARGET)}")
    for n in ns:
        if ("serial", n) in wall:
            print(f"N={n}: --parallelism 1 takes {wall[('serial', n)] / wall[('default', n)]:.2f}× as long as the "
                  "default parallelism")
    c.footer(t0)


def predict(wall: dict[tuple[str, int], float], mode: str, n: int) -> float | None:
    """Linear extrapolation from the two largest N measured in this mode (None: not enough data)."""
    known = sorted(k for m, k in wall if m == mode)
    if len(known) == 1:  # one point: proportional (a serial run does the deployments one after another)
        return wall[(mode, known[0])] * n / known[0] if mode == "serial" else None
    if len(known) < 2:
        return None
    n0, n1 = known[-2], known[-1]
    slope = (wall[(mode, n1)] - wall[(mode, n0)]) / (n1 - n0)
    return wall[(mode, n1)] + slope * (n - n1)


if __name__ == "__main__":
    main()
