"""Execute stage: the only code that changes AWS. Runs a Plan through the handlers' registry
(esmctl/resources/) and knows no resource kind.

Rules: a name goes into the state (and the state to disk) before the call that creates it (each
handler's job), so a run killed at any instant is finished by the next one; deletes treat "not
found" as done; each deployment's steps run in order, deployments run in parallel (`parallelism`
at once); one failing deployment does not stop the others. Phases: "pre" (shared resources, in
order), "apply" (gate steps first, then the rest of each deployment), the wait for the endpoints
the applied steps started (one listing per poll for all), "after_wait" (for the deployments whose
endpoint settled), "post" (teardown of shared resources, and stop timers).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from esmctl import naming, resources
from esmctl.errors import EsmctlError, Interrupted
from esmctl.plan import Plan
from esmctl.resources import Action, Run
from esmctl.state import utcnow as state_utcnow

if TYPE_CHECKING:
    from esmctl.aws import Aws
    from esmctl.config import Config
    from esmctl.events import Reporter
    from esmctl.state import Store
    from esmctl.wait import Waiter

DEFAULT_PARALLELISM = 16  # deployments worked on at once; AWS throttling paces the calls (see aws/)


NEXT_AFTER_BUG = ("The state is saved; run `esmctl deploy` again to resume (`esmctl -v deploy` shows details; "
                  "please report it).")


def unexpected(e: BaseException) -> str:
    return f"unexpected {type(e).__name__}: {e} — {NEXT_AFTER_BUG}"


@dataclass
class Outcome:
    """What a run did; `failures` non-empty means exit 1."""

    done: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    still_busy: list[str] = field(default_factory=list)


class Executor:
    def __init__(self, *, aws: Aws, store: Store, config: Config | None, ui: Reporter, waiter: Waiter,
                 parallelism: int = DEFAULT_PARALLELISM, wait: bool = True,
                 clock: Callable[[], float] = time.monotonic, utcnow: Callable[[], dt.datetime] = state_utcnow) -> None:
        self.aws = aws
        self.ui = ui
        self.run_ctx = Run(aws=aws, store=store, config=config, ui=ui, waiter=waiter, clock=clock, utcnow=utcnow)
        self.parallelism = max(1, parallelism)
        self.wait = wait
        self.cancel = threading.Event()
        self._stopped = threading.Event()  # a gate step met an error that stops the run (e.g. not subscribed)
        self._stop_reason = "see above"
        self.outcome = Outcome()
        self._olock = threading.Lock()

    # --- the run -----------------------------------------------------------------------------
    def run(self, plan: Plan) -> Outcome:
        self.aws.cancel.clear()
        try:
            for a in plan.in_phase("pre"):
                self._do(a)
            applied = self._apply(plan.by_deployment("apply"))
            waiting = [(a.deployment, a.name, str(a.handler.waits)) for a in plan.in_phase("apply")
                       if a.handler.waits and a.deployment in applied]
            waiting += [(d, n, "InService") for d, n in plan.wait_for]
            if self.wait and waiting:
                settled = self._settle(waiting)
                self._parallel({d: acts for d, acts in plan.by_deployment("after_wait").items() if d in settled})
            elif waiting:
                self.outcome.still_busy += [n for _, n, _ in waiting]
            if not self.outcome.failures:
                post = plan.by_deployment("post")
                for a in post.pop(naming.SHARED, []):
                    self._do(a)
                self._parallel(post)  # stop timers: each new role waits out IAM's delay once, side by side
        except KeyboardInterrupt:
            self.cancel.set()
            self.aws.cancel.set()
            busy = [n for of in resources.hooks("busy") for n in of(self.run_ctx.store.state)]
            raise Interrupted(
                "Interrupted; the state is saved."
                + (f" Still being created or updated in AWS: {', '.join(busy)}." if busy else ""),
                hint="Run `esmctl deploy` (or `esmctl status`) to pick the wait up again.",
            ) from None
        return self.outcome

    def _settle(self, waiting: list[tuple[str, str, str]]) -> set[str]:
        """Wait through the kind that started the waits; what settled, and what is still busy."""
        settle = resources.hooks("settle")[0]
        settled, still_busy = settle(self.run_ctx, waiting, self._fail)
        self.outcome.still_busy += still_busy
        return set(settled)

    def _apply(self, chains: dict[str, list[Action]]) -> set[str]:
        """Every gate step first (the first deployment's alone), then the rest of each deployment's steps.

        A gate is where AWS checks something for every deployment at once (CreateModel: the Marketplace
        subscription; DescribeModelPackage answers for any account), so an error that stops the run
        (`stops_run`) stops it before anything billable exists. The first one alone meets IAM's delay for
        a new execution role, instead of every worker retrying (and spending the account's rate) at once.
        """
        gates = {d: [a for a in acts if a.handler.gate] for d, acts in chains.items()}
        gates = {d: g for d, g in gates.items() if g}
        first = dict(list(gates.items())[:1])
        made = self._parallel(first)
        if not self._stopped.is_set() and not self.cancel.is_set():
            made |= self._parallel({d: g for d, g in gates.items() if d not in first})
        if self._stopped.is_set():
            skipped = sorted(d for d in chains if d not in first)
            what = next(a.handler.gate for g in gates.values() for a in g)
            if skipped:
                self._fail(f"Stopped before {what} for {', '.join(skipped)}: {self._stop_reason}.")
            return set()
        rest = {d: [a for a in acts if not a.handler.gate] for d, acts in chains.items()
                if d not in gates or d in made}
        return self._parallel(rest)

    def _parallel(self, chains: dict[str, list[Action]]) -> set[str]:
        """Run each deployment's steps in order, deployments side by side; return those that succeeded."""
        ok: set[str] = set()
        if not chains:
            return ok

        def run_chain(dep: str, acts: list[Action]) -> None:
            try:
                for a in acts:
                    if self.cancel.is_set():
                        return
                    self._do(a)
                ok.add(dep)
            except EsmctlError as e:
                if e.stops_run:
                    self._stop_reason = e.stops_run
                    self._stopped.set()
                self._fail(f"{dep}: {e.message}" + (f" — {e.hint}" if e.hint else ""))
            except Exception as e:  # a bug or an unforeseen answer: this deployment fails, the run goes on
                self._fail(f"{dep}: {unexpected(e)}")

        pool = ThreadPoolExecutor(max_workers=min(self.parallelism, len(chains)), thread_name_prefix="esmctl")
        try:
            futures = [pool.submit(run_chain, d, acts) for d, acts in chains.items()]
            for f in futures:
                while True:
                    try:
                        f.result(timeout=0.2)  # short timeouts keep Ctrl-C responsive
                        break
                    except TimeoutError:
                        continue
        except KeyboardInterrupt:
            self.cancel.set()
            self.aws.cancel.set()  # a worker waiting out AWS's eventual consistency stops at once
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        return ok

    def _fail(self, msg: str) -> None:
        with self._olock:
            self.outcome.failures.append(msg)
        self.ui.error(msg)

    # --- one step ------------------------------------------------------------------------------
    def _do(self, a: Action) -> None:
        if not a.handler.quiet:
            self.ui.step(a.describe().replace("  (", " (", 1))
        try:
            a.handler.run(self.run_ctx, a)
        except EsmctlError:
            raise
        except Exception as e:  # never an "Internal error" from inside a run: say what step and what next
            raise EsmctlError(f"{a.describe().split('  (')[0].strip()}: unexpected {type(e).__name__}: {e}",
                              hint=NEXT_AFTER_BUG, details=traceback.format_exc()) from None
