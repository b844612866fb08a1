"""API calls as a function of N: how many AWS requests `plan`, one wait poll and a no-op `deploy` make.

Every request is counted with a botocore before-send hook (`Aws.on_request`), so retries count too.
For N = 10, 100, 1000 deployments made by esmctl's own executor in the sandbox:

- waiting: endpoints stay Creating (creating_seconds = 3600). One poll cycle of `Waiter.wait` over
  all N (timeout 0 and a fake clock/sleep: exactly one poll), and — for information — `plan` while
  they are Creating.
- steady: the same N made again with creating_seconds = 0, so they are InService; `refresh` is
  counted (it records InService), then `plan` (refresh), a no-op `Workspace.deploy(yes=True)` and
  the same preceded by the pre-deploy checks (as `esmctl deploy --yes` runs it), each with a fresh
  Workspace (a new process's view: the account id is not cached).

Targets: plan ≤ 4 + 3·⌈N/100⌉ requests; one poll = ⌈N/100⌉ requests.

    python benchmarks/api_calls.py [--n 10 100 1000] [--info-max-n 100]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402


def workspace(folder: Path, url: str) -> tuple[Any, c.Calls]:
    from esmctl.api import Workspace

    ws = Workspace(folder / "esmctl.yaml", endpoint_url=url, ui=c.quiet_ui())
    calls = c.Calls()
    ws.aws.on_request(calls.hook)
    return ws, calls


def one_poll(ws: Any) -> list[Any]:
    """Exactly one poll cycle of the real Waiter over every deployment's endpoint."""
    from esmctl.wait import Waiter, Waiting, WaitTimeout

    state = ws.read_state()
    items = [Waiting(name, dep.endpoint.name) for name, dep in state.deployments.items()]
    waiter = Waiter(ws.aws.sagemaker, interval=0.0, timeout=0.0, clock=lambda: 0.0, sleep=lambda _s: None)
    try:
        waiter.wait(items)
    except WaitTimeout:
        pass  # still Creating after the one poll: expected
    return items


def measure(n: int, url: str, root: Path, info_max: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    pages = math.ceil(n / 100)

    # --- waiting: N endpoints Creating ---------------------------------------------------------
    folder = root / f"waiting-{n}"
    c.reset_sandbox(url, creating_seconds=3600)
    t0 = time.perf_counter()
    made = c.deploy_in_process(folder, url, n)
    setup = time.perf_counter() - t0
    rows.append({"n": n, "op": "deploy (create N, --no-wait)", "calls": made["total"], "target": None,
                 "ops": made["by_operation"], "note": "setup (state written once at the end)", "seconds": setup})

    ws, calls = workspace(folder, url)
    ws.aws.account_id()  # a waiter runs inside deploy, which already knows the account
    total, ops, items = calls.measure(lambda: one_poll(ws))
    creating = sum(1 for w in items if w.seen is not None and w.seen.status == "Creating")
    rows.append({"n": n, "op": "one poll cycle, N waiting", "calls": total, "target": pages, "ops": ops,
                 "note": f"{creating}/{n} seen Creating", "seconds": calls.seconds})

    ws, calls = workspace(folder, url)
    total, ops, _ = calls.measure(lambda: ws.plan(refresh=True))
    rows.append({"n": n, "op": "plan while N are Creating", "calls": total, "target": None, "ops": ops,
                 "note": "no target; shows the per-endpoint describes", "seconds": calls.seconds})

    # --- steady: N endpoints InService ---------------------------------------------------------
    folder = root / f"steady-{n}"
    c.reset_sandbox(url, creating_seconds=0)
    c.deploy_in_process(folder, url, n)
    ws, calls = workspace(folder, url)
    if n <= info_max:  # either way the state now says InService, as after a deploy that waited
        total, ops, _ = calls.measure(ws.refresh)
        rows.append({"n": n, "op": "refresh (esmctl refresh)", "calls": total, "target": None, "ops": ops,
                     "note": "no target; checks every resource's tags", "seconds": calls.seconds})
    else:
        ws.deploy(yes=True)  # a no-op that records what the refresh learned

    ws, calls = workspace(folder, url)
    total, ops, result = calls.measure(lambda: ws.plan(refresh=True))
    assert not result.plan.actions, [a.describe() for a in result.plan.actions][:5]
    rows.append({"n": n, "op": "plan (refresh)", "calls": total, "target": 4 + 3 * pages, "ops": ops,
                 "note": "no changes", "seconds": calls.seconds})

    ws, calls = workspace(folder, url)
    total, ops, result = calls.measure(lambda: ws.deploy(yes=True))
    assert result.outcome is None, "the deploy was expected to be a no-op"
    rows.append({"n": n, "op": "deploy --yes, no-op", "calls": total, "target": None, "ops": ops,
                 "note": "nothing to do", "seconds": calls.seconds})

    if n > info_max:
        return rows
    ws, calls = workspace(folder, url)

    def cli_deploy() -> Any:  # what `esmctl deploy --yes` does: the pre-deploy checks, then deploy
        ws.preflight()
        return ws.deploy(yes=True)

    total, ops, result = calls.measure(cli_deploy)
    assert result.outcome is None, "the deploy was expected to be a no-op"
    rows.append({"n": n, "op": "esmctl deploy --yes, no-op (+ pre-deploy checks)", "calls": total, "target": None,
                 "ops": ops, "note": "Workspace.preflight() + deploy()", "seconds": calls.seconds})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[10, 100, 1000])
    ap.add_argument("--info-max-n", type=int, default=100,
                    help="count `refresh` and `deploy` with its pre-deploy checks (no targets; O(N) requests, "
                    "slow in the sandbox) only up to this N")
    args = ap.parse_args()

    c.header("API calls per operation")
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    with c.sandbox() as server, c.fake_aws_process_env(), tempfile.TemporaryDirectory() as tmp:
        for n in args.n:
            rows += measure(n, server.url, Path(tmp), args.info_max_n)
            print(f"(N = {n} measured, {time.perf_counter() - t0:.0f} s so far)", file=sys.stderr)

    def target(r: dict[str, Any]) -> str:
        if r["target"] is None:
            return "-"
        return f"≤ {r['target']}" if r["op"].startswith("plan") else f"= {r['target']}"

    def ok(r: dict[str, Any]) -> str:
        if r["target"] is None:
            return ""
        return c.verdict(r["calls"] <= r["target"] if r["op"].startswith("plan") else r["calls"] == r["target"])

    print(c.table(["operation", "N", "requests", "target", "result", "time", "per operation", "note"],
                  [[r["op"], r["n"], r["calls"], target(r), ok(r), c.ms(r["seconds"]), c.fmt_ops(r["ops"]), r["note"]]
                   for r in rows]))
    print("\n(time: in-process against the local sandbox, for orientation only; the counts are the measure.)")
    if any(n > args.info_max_n for n in args.n):
        print(f"(`refresh` and `esmctl deploy` with its pre-deploy checks are counted for N ≤ {args.info_max_n} "
              "only, to keep the run within about three minutes: both grow with N; see --info-max-n.)")

    print("\nRequests as a function of N (from the counts above):\n")
    by_op: dict[str, dict[int, int]] = {}
    for r in rows:
        by_op.setdefault(r["op"], {})[r["n"]] = r["calls"]
    ns = sorted({r["n"] for r in rows})
    fit_rows = []
    for op, counts in by_op.items():
        fit_rows.append([op, *[counts.get(n, "") for n in ns], fit(counts)])
    print(c.table(["operation", *[f"N={n}" for n in ns], "fits"], fit_rows))
    c.footer(t0)


def fit(counts: dict[int, int]) -> str:
    """The simplest formula that matches: a + b·⌈N/100⌉, or a + b·N."""
    ns = sorted(counts)
    if len(ns) < 2:
        return ""
    for per, label in ((lambda n: math.ceil(n / 100), "⌈N/100⌉"), (lambda n: n, "N")):
        x0, x1 = per(ns[0]), per(ns[-1])
        if x1 == x0:
            continue
        b = (counts[ns[-1]] - counts[ns[0]]) / (x1 - x0)
        a = counts[ns[0]] - b * x0
        if b == int(b) and a == int(a) and all(counts[n] == a + b * per(n) for n in ns):
            a, b = int(a), int(b)
            if b == 0:
                return str(a)
            return f"{a} + {b}·{label}" if a else f"{b}·{label}"
    if len(ns) >= 3:  # a + b·⌈N/100⌉ + c·N through three points, checked on all
        from fractions import Fraction

        pts = [ns[0], ns[len(ns) // 2], ns[-1]]
        rows = [[Fraction(1), Fraction(math.ceil(n / 100)), Fraction(n), Fraction(counts[n])] for n in pts]
        try:
            for i in range(3):  # Gauss-Jordan elimination
                pivot = next(r for r in range(i, 3) if rows[r][i] != 0)
                rows[i], rows[pivot] = rows[pivot], rows[i]
                rows[i] = [x / rows[i][i] for x in rows[i]]
                for r in range(3):
                    if r != i:
                        rows[r] = [x - rows[r][i] * y for x, y in zip(rows[r], rows[i], strict=True)]
        except StopIteration:
            return "(no simple fit)"
        a, b, k = (rows[i][3] for i in range(3))
        if all(x.denominator == 1 for x in (a, b, k)) and all(
                counts[n] == a + b * math.ceil(n / 100) + k * n for n in ns):
            return f"{a} + {b}·⌈N/100⌉ + {k}·N"
    return "(no simple fit)"


if __name__ == "__main__":
    main()
