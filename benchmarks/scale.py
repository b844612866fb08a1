"""Scale: `plan --no-refresh` and one state write with 1,000 deployments (time and peak memory).

The state is what esmctl records after deploying N deployments and waiting (every record created,
endpoints InService, the role made), built with esmctl.state's own models; esmctl.yaml selects the
same N deployments, so the plan must show no changes (checked). Measured:

- `esmctl plan --no-refresh` as a subprocess: median of --runs wall times, and the process's peak
  RSS (ru_maxrss from wait4);
- in-process `Workspace.plan(refresh=False)` (config + state read + plan): time, tracemalloc peak;
- `esmctl.state.write` (serialize, rewrite the .backup, atomic replace with fsync): median of
  --writes, tracemalloc peak of one write; and, for orientation, serializing alone and reading.

Targets with 1,000 deployments: `plan --no-refresh` under 1 s, a state write under 0.1 s.

    python benchmarks/scale.py [--n 10 100 1000] [--runs 5] [--writes 20]
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

PLAN_TARGET = 1.0
WRITE_TARGET = 0.1


def timed(fn: Callable[[], Any], times: int) -> list[float]:
    out = []
    for _ in range(times):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def peak(fn: Callable[[], Any]) -> tuple[float, Any]:
    """tracemalloc's peak (MiB) above what was allocated before, while fn() runs."""
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        value = fn()
        return (tracemalloc.get_traced_memory()[1] - base) / 2**20, value
    finally:
        tracemalloc.stop()


def measure(n: int, root: Path, runs: int, writes: int) -> dict[str, Any]:
    from esmctl import state as st
    from esmctl.api import Workspace

    folder = root / f"n{n}"
    c.write_project(folder, n)
    state = c.synthetic_state({name: c.SELECTOR for name in c.names(n)})
    path = folder / "state" / "dev.json"
    st.write(path, state)
    size = path.stat().st_size

    ws = Workspace(folder / "esmctl.yaml", ui=c.quiet_ui())
    result = ws.plan(refresh=False)
    if result.plan.actions:
        sys.exit(f"N={n}: the synthetic state does not match esmctl.yaml: "
                 f"{[a.describe() for a in result.plan.actions][:3]}")

    def plan_in_process() -> Any:
        return Workspace(folder / "esmctl.yaml", ui=c.quiet_ui()).plan(refresh=False)

    inproc = c.median(timed(plan_in_process, 5))
    plan_mem, _ = peak(plan_in_process)

    env = c.fake_aws_env(None)
    c.check(c.esmctl("plan", "--no-refresh", cwd=folder, env=env), "esmctl plan --no-refresh")  # warm-up
    cli = [c.check(c.esmctl("plan", "--no-refresh", cwd=folder, env=env), "esmctl plan --no-refresh")
           for _ in range(runs)]
    cli_med = c.median([r.seconds for r in cli])
    cli_cpu = c.median([r.cpu for r in cli])
    rss = max(r.maxrss_kb for r in cli) / 1024
    if "No changes" not in cli[-1].out + cli[-1].err:
        print(f"(N={n}: the CLI plan did not say 'No changes':\n{cli[-1].out[-500:]})", file=sys.stderr)

    target = folder / "state" / "bench.json"
    st.write(target, state)  # so every measured write also rewrites the .backup, as in a real run
    write_times = timed(lambda: st.write(target, state), writes)
    write_mem, _ = peak(lambda: st.write(target, state))
    dump = c.median(timed(lambda: state.model_dump_json(indent=2, exclude_none=False), writes))
    read = c.median(timed(lambda: st.read(target), 5))
    return {"n": n, "size": size, "cli": cli_med, "cli_cpu": cli_cpu, "cli_min": min(r.seconds for r in cli),
            "cli_max": max(r.seconds for r in cli), "rss": rss, "inproc": inproc, "plan_mem": plan_mem,
            "write": c.median(write_times), "write_min": min(write_times), "write_max": max(write_times),
            "write_mem": write_mem, "dump": dump, "read": read}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[10, 100, 1000])
    ap.add_argument("--runs", type=int, default=5, help="`esmctl plan --no-refresh` runs (median)")
    ap.add_argument("--writes", type=int, default=20, help="state writes (median)")
    args = ap.parse_args()

    c.header("Scale")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        res = [measure(n, Path(tmp), args.runs, args.writes) for n in args.n]

    print(f"`esmctl plan --no-refresh`: median of {args.runs} subprocess runs (after a warm-up), peak RSS "
          f"of the process; in-process: `Workspace.plan(refresh=False)`, median of 5, tracemalloc peak.\n")
    print(c.table(
        ["N", "state file", "plan --no-refresh (CLI)", "min–max", "CPU (user+sys)", "peak RSS", "in-process plan",
         "plan peak (traced)"],
        [[r["n"], f"{r['size'] / 1024:.0f} KiB", c.ms(r["cli"]), f"{c.ms(r['cli_min'])}–{c.ms(r['cli_max'])}",
          c.ms(r["cli_cpu"]), f"{r['rss']:.0f} MiB", c.ms(r["inproc"]), f"{r['plan_mem']:.1f} MiB"] for r in res]))
    print(f"\n`esmctl.state.write`: median of {args.writes} (serialize + rewrite .backup + atomic replace, "
          "fsync); serialize = `model_dump_json` alone; read = `esmctl.state.read` (parse + validate).\n")
    print(c.table(
        ["N", "state write", "min–max", "write peak (traced)", "serialize", "read"],
        [[r["n"], c.ms(r["write"]), f"{c.ms(r['write_min'])}–{c.ms(r['write_max'])}", f"{r['write_mem']:.1f} MiB",
          c.ms(r["dump"]), c.ms(r["read"])] for r in res]))

    big = max(res, key=lambda r: r["n"])
    print()
    print(f"Target: plan --no-refresh with {big['n']} deployments < {PLAN_TARGET:g} s: {c.ms(big['cli'])} → "
          f"{c.verdict(big['cli'] < PLAN_TARGET)}")
    print(f"Target: one state write with {big['n']} deployments < {WRITE_TARGET:g} s: {c.ms(big['write'])} → "
          f"{c.verdict(big['write'] < WRITE_TARGET)}")
    c.footer(t0)


if __name__ == "__main__":
    main()
