"""Embedding throughput: `esmctl embed` against sandbox endpoints of known capacity, next to the
serial loop of InvokeEndpoint that the esm SDK's notebook runs.

The data: N synthetic proteins (N = 1,000 and 10,000 by default), lengths log-normal (median 300,
σ 0.6 in log space, clipped to 50..1000), residues drawn with UniProtKB's amino-acid frequencies,
all from one seed (the smaller set is the start of the larger one); all distinct.

The endpoints: one project with two deployments of ESMC-300M, one with 1 instance and one with 4,
deployed by esmctl into an in-process sandbox server with its AWS behaviours off (no
eventual-consistency delays, no rate limits) and endpoints InService at once. The sandbox's model
then holds a slot for `--base` seconds per call plus `--per-token` seconds per token of a `logits`
request (residues + BOS + EOS; `encode` costs the base only); each instance has
`--concurrency-per-instance` slots and a call finding none free is throttled at once
(ThrottlingException, no queueing). These are the sandbox's numbers, not the real model's: chosen so
that the capacity stays well below what two cores can drive (the client and the sandbox spend
~7–10 ms of CPU per call together).

Capacity of an endpoint = instances × slots per instance / mean latency, the mean latency being the
sandbox's per-call latency averaged over the data set's lengths (Little's law: no client can do
better). Measured per case (instances × N):

- `Workspace.embed` — the library path `esmctl embed` runs (esmctl/embed.py: read the FASTA,
  dedupe, one `logits` per protein with adaptive concurrency, journal, write the .npz) — in a
  child interpreter, as a real client is never in the endpoint's process (in the sandbox's process
  the server's threads would compete with it for the GIL): the job's own seconds (its Summary) and
  sequences/s, and that as a fraction of the capacity; calls ok and throttled as the sandbox
  served them (`control.invocations()`); the peak concurrency limit the client reached; the mean
  and peak busy slots of the endpoint (sampled in the sandbox every 50 ms); the child's CPU time
  per sequence (user + system, interpreter start included) and its wall time;
- once, the real CLI (`esmctl embed … --json`, a subprocess) for the smallest N on the endpoint
  with the most instances, measured the same way: the CLI's overhead over the library path;
- the serial loop of the SDK's notebook with plain boto3 (default client config; in this process,
  where one call at a time leaves the server's threads idle): for each protein `encode` then
  `logits` (mean embedding), one at a time, on the endpoint with the most instances, for a
  length-stratified sample of `--serial-sample` proteins of the largest data set (running 10,000
  serially would take an hour).

Targets: at the largest N with the most instances, ≥ 85 % of the endpoint's capacity, and
≥ 5× the serial loop's sequences/s.

    python benchmarks/embed.py [--n 1000 10000] [--instances 1 4] [--serial-sample 150]
                               [--base 0.1] [--per-token 0.0005] [--concurrency-per-instance 4]
                               [--seed 14] [--no-cli]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

CAPACITY_TARGET = 0.85
SPEEDUP_TARGET = 5.0
MEDIAN_LENGTH, SIGMA, SHORTEST, LONGEST = 300, 0.6, 50, 1000
# UniProtKB/Swiss-Prot amino-acid composition, percent.
COMPOSITION = {"A": 8.25, "R": 5.53, "N": 4.06, "D": 5.45, "C": 1.37, "Q": 3.93, "E": 6.75, "G": 7.07,
               "H": 2.27, "I": 5.96, "L": 9.66, "K": 5.84, "M": 2.42, "F": 3.86, "P": 4.70, "S": 6.56,
               "T": 5.34, "W": 1.08, "Y": 2.92, "V": 6.87}
SAMPLE_EVERY = 0.05  # seconds between samples of the endpoint's busy slots


# --- the data ---------------------------------------------------------------------------------------


def proteins(n: int, seed: int) -> list[str]:
    """N distinct synthetic proteins; the first k of proteins(n) are proteins(k)."""
    rng = random.Random(seed)
    letters, weights = list(COMPOSITION), list(COMPOSITION.values())
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        length = min(LONGEST, max(SHORTEST, round(rng.lognormvariate(math.log(MEDIAN_LENGTH), SIGMA))))
        seq = "".join(rng.choices(letters, weights, k=length))
        if seq not in seen:
            seen.add(seq)
            out.append(seq)
    return out


def write_fasta(path: Path, seqs: list[str]) -> Path:
    path.write_text("".join(f">p{i:05d}\n{s}\n" for i, s in enumerate(seqs, 1)))
    return path


def stratified(seqs: list[str], k: int) -> list[str]:
    """k proteins at evenly spaced ranks of length: the sample's lengths follow the data set's."""
    ranked = sorted(seqs, key=len)
    k = min(k, len(ranked))
    return [ranked[int((i + 0.5) * len(ranked) / k)] for i in range(k)]


# --- the sandbox's model ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    base: float
    per_token: float
    slots: int  # per instance

    def logits_seconds(self, residues: int) -> float:
        return self.base + self.per_token * (residues + 2)  # BOS and EOS

    def mean_latency(self, seqs: list[str]) -> float:
        return statistics.fmean(self.logits_seconds(len(s)) for s in seqs)

    def capacity(self, instances: int, seqs: list[str]) -> float:
        """Sequences per second the endpoint can serve at most (one `logits` call each)."""
        return instances * self.slots / self.mean_latency(seqs)

    def apply(self) -> None:
        from esmctl.sandbox import control

        control.invoke_base_seconds = self.base
        control.invoke_seconds_per_token = self.per_token
        control.concurrency_per_instance = self.slots


def write_project(folder: Path, instances: list[int]) -> Path:
    """esmctl.yaml with one ESMC-300M deployment per instance count (`i1`, `i4`, ...)."""
    path = c.write_project(folder, 0)
    text = path.read_text().replace("selected_models: {}\n", "selected_models:\n")
    for k in instances:
        text += f"  i{k}:\n    selector: {c.SELECTOR}\n    instance_count: {k}\n"
    path.write_text(text)
    return path


class SlotWatch:
    """Samples the endpoint's busy slots in the sandbox every SAMPLE_EVERY seconds."""

    def __init__(self, endpoint: str) -> None:
        self.key = (c.ACCOUNT, c.REGION, endpoint)
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="slot-watch")

    def _run(self) -> None:
        from esmctl.sandbox import control

        while not self._stop.wait(SAMPLE_EVERY):
            self.samples.append(control.busy_slots(self.key))

    def __enter__(self) -> SlotWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def mean(self) -> float:
        return statistics.fmean(self.samples) if self.samples else 0.0

    @property
    def peak(self) -> int:
        return max(self.samples, default=0)


def served() -> Counter[str]:
    """The sandbox's invocations since the last reset_invocations(), by "api outcome"."""
    from esmctl.sandbox import control

    return Counter(f"{i.api} {i.outcome}" for i in control.invocations())


# --- the measurements ----------------------------------------------------------------------------------


# The library path, run in its own interpreter: a real client never shares a process (and its GIL)
# with the endpoint, and in the sandbox's process the server's threads would slow it down.
LIBRARY = """
import json, sys
from pathlib import Path
from esmctl.api import Workspace
from esmctl.events import Quiet
cfg, deployment, fasta, out, url = sys.argv[1:]
ws = Workspace(Path(cfg), endpoint_url=url, reporter=Quiet())
print(json.dumps(ws.embed(deployment, Path(fasta), Path(out)).to_json()))
"""


def run_job(path: str, url: str, cfg: Path, deployment: str, endpoint: str, fasta: Path, out: Path,
            n: int) -> dict[str, Any]:
    """One embed job in a child process: `Workspace.embed` ("library") or `esmctl embed --json` ("CLI").
    Checks that the output holds every protein."""
    import numpy as np

    from esmctl.sandbox import control

    if path == "library":
        cmd = [sys.executable, "-c", LIBRARY, str(cfg), deployment, str(fasta), str(out), url]
    else:
        cmd = [*c.esmctl_command(), "embed", str(fasta), "-o", str(out), "--deployment", deployment, "--json"]
    control.reset_invocations()
    with SlotWatch(endpoint) as watch:
        r = c.check(c.run(cmd, cwd=cfg.parent, env=c.fake_aws_env(url), timeout=3600), f"{path} embed (N={n})")
    summary = json.loads(r.out)
    if summary["failed"] or summary["done"] != n:
        sys.exit(f"{path} N={n}: {summary['done']} done, {summary['failed']} failed: {summary['failures'][:3]}")
    with np.load(out) as z:
        if z["embeddings"].shape[0] != n:
            sys.exit(f"{out}: {z['embeddings'].shape[0]} rows for {n} proteins")
    return {"summary": summary, "wall": r.seconds, "cpu": r.cpu, "served": served(), "busy_mean": watch.mean,
            "busy_peak": watch.peak}


def run_serial(url: str, endpoint: str, forge_model: str, sample: list[str]) -> dict[str, Any]:
    """The SDK notebook's loop with plain boto3: for each protein `encode`, then `logits`."""
    import boto3

    from esmctl.client import envelope
    from esmctl.sandbox import control

    runtime = boto3.client("sagemaker-runtime", region_name=c.REGION, endpoint_url=url)

    def invoke(api: str, request: dict[str, Any]) -> dict[str, Any]:
        resp = runtime.invoke_endpoint(EndpointName=endpoint, Body=json.dumps(envelope(api, request)),
                                       ContentType="application/json", Accept="application/json",
                                       CustomAttributes="return_bytes=false")
        return json.loads(resp["Body"].read())[api]  # type: ignore[no-any-return]

    config = {"sequence": False, "return_embeddings": False, "return_hidden_states": False,
              "ith_hidden_layer": -1, "return_mean_embedding": True, "return_mean_hidden_states": False,
              "sae_config": None}
    invoke("encode", {"model": forge_model, "inputs": {"sequence": "MKT"}})  # the client's first request
    control.reset_invocations()
    t0 = time.perf_counter()
    for seq in sample:
        tokens = invoke("encode", {"model": forge_model, "inputs": {"sequence": seq}})["outputs"]["sequence"]
        answer = invoke("logits", {"model": forge_model, "inputs": {"sequence": tokens}, "logits_config": config})
        assert answer["mean_embedding"] is not None
    wall = time.perf_counter() - t0
    return {"wall": wall, "rate": len(sample) / wall, "served": served()}


# --- the report -----------------------------------------------------------------------------------------


def pct(x: float) -> str:
    return f"{x * 100:.1f} %"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[1000, 10000], help="data set sizes")
    ap.add_argument("--instances", type=int, nargs="+", default=[1, 4], help="instance counts of the endpoints")
    ap.add_argument("--serial-sample", type=int, default=150, help="proteins in the serial loop")
    ap.add_argument("--base", type=float, default=0.1, help="sandbox model: seconds per call")
    ap.add_argument("--per-token", type=float, default=0.0005, help="sandbox model: seconds per token of logits")
    ap.add_argument("--concurrency-per-instance", type=int, default=4, help="sandbox model: slots per instance")
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--no-cli", action="store_true", help="skip the run of the real `esmctl embed`")
    args = ap.parse_args()
    ns, counts = sorted(set(args.n)), sorted(set(args.instances))
    model = Model(args.base, args.per_token, args.concurrency_per_instance)

    c.header("Embedding throughput")
    t0 = time.perf_counter()
    data = proteins(ns[-1], args.seed)
    lengths = [len(s) for s in data]
    print(f"Data: {ns[-1]:,} synthetic proteins (seed {args.seed}), lengths log-normal, median {MEDIAN_LENGTH}, "
          f"σ {SIGMA}, clipped to {SHORTEST}..{LONGEST}: median {statistics.median(lengths):.0f}, mean "
          f"{statistics.fmean(lengths):.0f}, {sum(x == LONGEST for x in lengths)} at {LONGEST}; each smaller N is "
          "the start of this set.\n")
    print(f"Sandbox model (not the real model's speed): {model.base * 1000:g} ms a call + {model.per_token * 1000:g} "
          f"ms a token of `logits` (a 300-residue protein: {model.logits_seconds(300) * 1000:.0f} ms), "
          f"{model.slots} concurrent calls per instance, a call beyond them throttled at once. AWS behaviours "
          "off (no delays, no rate limits).\n")

    from esmctl.api import Workspace
    from esmctl.events import Quiet

    results: dict[tuple[str, int, int], dict[str, Any]] = {}
    with c.sandbox() as server, c.fake_aws_process_env(server.url), tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        c.reset_sandbox(server.url, creating_seconds=0.0)
        folder = root / "project"
        cfg = write_project(folder, counts)
        ws = Workspace(cfg, endpoint_url=server.url, reporter=Quiet())
        result = ws.deploy(yes=True)
        if result.outcome is not None and result.outcome.failures:
            sys.exit(f"deploy failed: {result.outcome.failures}")
        state = ws.read_state()
        assert state is not None
        endpoints = {}
        for k in counts:
            record = state.deployments[f"i{k}"].endpoint
            assert record is not None
            endpoints[k] = record.name
        forge_model = state.deployments[f"i{counts[-1]}"].forge_model_name
        model.apply()
        # warm-up, not measured: the sandbox's first invocations load the Forge stand-in
        ws.embed(f"i{counts[-1]}", write_fasta(root / "warm.fasta", data[:50]), root / "warm.npz")

        cases = [("library", k, n) for k in counts for n in ns]
        if not args.no_cli:
            cases.append(("CLI", counts[-1], ns[0]))
        for path, k, n in cases:
            fasta = root / f"n{n}.fasta"
            if not fasta.exists():
                write_fasta(fasta, data[:n])
            cap = model.capacity(k, data[:n])
            print(f"({path}: {k} instance(s), N={n:,}, capacity {cap:.1f}/s, ~{n / cap:.0f} s ...)", file=sys.stderr)
            results[(path, k, n)] = r = run_job(path, server.url, cfg, f"i{k}", endpoints[k], fasta,
                                                root / f"{path}-i{k}-n{n}.npz", n)
            print(f"(done: {n / r['summary']['seconds']:.1f}/s, {pct(n / r['summary']['seconds'] / cap)} of "
                  "capacity)", file=sys.stderr)

        sample = stratified(data, args.serial_sample)
        print(f"(serial loop: {len(sample)} proteins ...)", file=sys.stderr)
        serial = run_serial(server.url, endpoints[counts[-1]], forge_model, sample)

    rows = []
    for (path, k, n), r in results.items():
        s = r["summary"]
        cap = model.capacity(k, data[:n])
        rate = n / s["seconds"]
        rows.append([f"`{path}`" if path == "CLI" else path, f"{n:,}", k,
                     f"{model.mean_latency(data[:n]) * 1000:.0f} ms", f"{cap:.1f}", f"{rate:.1f}",
                     f"**{pct(rate / cap)}**", f"{rate / serial['rate']:.1f}×",
                     f"{r['served']['logits ok']:,}", r["served"]["logits ThrottlingException"],
                     s["concurrency"], f"{r['busy_mean']:.1f} / {r['busy_peak']} / {k * model.slots}",
                     f"{r['cpu'] / n * 1000:.1f} ms", f"{s['seconds']:.1f} s", f"{r['wall']:.1f} s"])
    print(c.table(["path", "N", "instances", "mean latency", "capacity (seq/s)", "achieved (seq/s)",
                   "of capacity", "vs serial loop", "logits calls ok", "throttled", "peak concurrency limit",
                   "busy slots (mean / peak / all)", "client CPU per seq", "job time", "process wall"], rows))
    expected = statistics.fmean(2 * model.base + model.per_token * (len(s) + 2) for s in sample)
    print(f"\nSerial loop (plain boto3 in this process, `encode` then `logits` per protein, one at a time, on the "
          f"{counts[-1]}-instance endpoint): {len(sample)} proteins (length-stratified sample, mean length "
          f"{statistics.fmean(len(s) for s in sample):.0f}) in {serial['wall']:.1f} s = **{serial['rate']:.2f} "
          f"seq/s**; {serial['served']['encode ok']} encode + {serial['served']['logits ok']} logits calls; the "
          f"sandbox's model time alone is {expected * 1000:.0f} ms a protein ({1 / expected:.2f} seq/s).")

    k, n = counts[-1], ns[-1]
    rate = n / results[("library", k, n)]["summary"]["seconds"]
    frac, up = rate / model.capacity(k, data[:n]), rate / serial["rate"]
    print(f"\nTarget ≥ {CAPACITY_TARGET:.0%} of capacity at N={n:,}, {k} instances: {pct(frac)} → "
          f"{c.verdict(frac >= CAPACITY_TARGET)}")
    print(f"Target ≥ {SPEEDUP_TARGET:g}× the serial loop at N={n:,}, {k} instances: {up:.1f}× → "
          f"{c.verdict(up >= SPEEDUP_TARGET)}")
    c.footer(t0)


if __name__ == "__main__":
    main()
