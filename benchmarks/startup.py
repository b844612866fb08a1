"""Startup: how long the offline commands take, against `python -c "import boto3"` on the same machine.

Each command runs as a fresh process (the installed `esmctl` console script) in a folder with a
two-deployment esmctl.yaml, models.yaml and a matching state, with fake credentials and no network.
Runs are interleaved round-robin (so drift in the machine's speed hits every command alike); the
median of --runs is reported, and its ratio to the median of `python -c "import boto3"`.

Then each command runs once more with PYTHONPROFILEIMPORTTIME=1 (python -X importtime): whether it
imported boto3, botocore or moto, and the five packages whose modules took the most import time
(self time summed per top-level package), to guide the optimisation.

Target: every offline command at most 0.5× `python -c "import boto3"`, and none imports boto3/moto.

    python benchmarks/startup.py [--runs 21]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

TARGET = 0.5
HEAVY = ("boto3", "botocore", "moto")
COMMANDS: list[tuple[str, list[str]]] = [
    ("esmctl --help", ["--help"]),
    ("esmctl output --json", ["output", "--json"]),
    ("esmctl validate", ["validate"]),
    ("esmctl catalog", ["catalog"]),
    ("esmctl plan --no-refresh", ["plan", "--no-refresh"]),
]
_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)")


def import_profile(stderr: str) -> tuple[dict[str, float], dict[str, float], float]:
    """From `-X importtime` output: self import time (ms) per top-level package and per module; the total."""
    per: dict[str, float] = defaultdict(float)
    modules: dict[str, float] = {}
    for line in stderr.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        name, self_ms = m.group(4), int(m.group(1)) / 1000
        modules[name] = self_ms
        per[name.split(".")[0]] += self_ms
    return dict(per), modules, sum(per.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=21, help="runs per command (≥ 15; the median is reported)")
    args = ap.parse_args()
    if args.runs < 15:
        ap.error("--runs must be at least 15")

    c.header("Startup")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        c.write_project(folder, 2)
        from esmctl import state as st

        st.write(folder / "state" / "dev.json", c.synthetic_state({n: c.SELECTOR for n in c.names(2)}))
        env = c.fake_aws_env(None)
        py = sys.executable
        esm = c.esmctl_command()
        cases: list[tuple[str, list[str]]] = [
            ('python -c "import boto3"', [py, "-c", "import boto3"]),
            ('python -c "pass"', [py, "-c", "pass"]),
            *[(label, [*esm, *argv]) for label, argv in COMMANDS],
        ]
        for label, cmd in cases:  # warm the page cache and the .pyc files; check they work
            c.check(c.run(cmd, cwd=folder, env=env), label)
        times: dict[str, list[float]] = {label: [] for label, _ in cases}
        cpu: dict[str, list[float]] = {label: [] for label, _ in cases}
        for _ in range(args.runs):
            for label, cmd in cases:
                r = c.check(c.run(cmd, cwd=folder, env=env), label)
                times[label].append(r.seconds)
                cpu[label].append(r.cpu)
        profiles = {}
        for label, cmd in cases:
            r = c.check(c.run(cmd, cwd=folder, env={**env, "PYTHONPROFILEIMPORTTIME": "1"}), label)
            profiles[label] = import_profile(r.err)

    base = c.median(times['python -c "import boto3"'])
    base_cpu = c.median(cpu['python -c "import boto3"'])
    print(f"Median of {args.runs} runs each, wall time of the whole process; ratio = median / median of "
          f'`python -c "import boto3"` ({c.ms(base)}). The CPU columns (user + system time of the process) '
          "are less disturbed by other load on the machine; the target is on wall time.\n")
    rows = []
    verdicts = []
    for label, _ in cases:
        med = c.median(times[label])
        per, modules, total = profiles[label]
        heavy = sorted({m.split(".")[0] for m in modules if m.split(".")[0] in HEAVY})
        is_cmd = label.startswith("esmctl")
        ok = med / base <= TARGET and not heavy
        if is_cmd:
            verdicts.append((label, med / base, heavy, ok))
        med_cpu = c.median(cpu[label])
        rows.append([label, c.ms(med), f"{c.ms(min(times[label]))}–{c.ms(max(times[label]))}",
                     f"{med / base:.2f}", f"≤ {TARGET}" if is_cmd else "-", c.verdict(ok) if is_cmd else "",
                     c.ms(med_cpu), f"{med_cpu / base_cpu:.2f}", ", ".join(heavy) or "none", f"{total:.0f} ms"])
    print(c.table(["command", "wall median", "min–max", "ratio", "target", "result", "CPU median", "CPU ratio",
                   "boto3/botocore/moto", "import time (self, summed)"], rows))

    print("\nHeaviest imports per command, from one PYTHONPROFILEIMPORTTIME=1 run (self import time: "
          "summed per top-level package, and the single slowest modules; the interpreter's own startup "
          "modules are included):\n")
    top_rows = []
    for label, _ in cases:
        per, modules, _ = profiles[label]
        top = sorted(per.items(), key=lambda kv: -kv[1])[:5]
        top_mods = sorted(modules.items(), key=lambda kv: -kv[1])[:5]
        top_rows.append([label, ", ".join(f"{k} {v:.0f} ms" for k, v in top),
                         ", ".join(f"{k} {v:.0f} ms" for k, v in top_mods)])
    print(c.table(["command", "top 5 packages", "top 5 modules"], top_rows))

    print()
    for label, ratio, heavy, ok in verdicts:
        why = f"ratio {ratio:.2f}" + (f", imports {', '.join(heavy)}" if heavy else "")
        print(f"{label}: {c.verdict(ok)} ({why})")
    c.footer(t0)


if __name__ == "__main__":
    main()
