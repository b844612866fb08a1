"""`esmctl embed` through the real command against the sandbox server: a FASTA file with duplicates
and bad records, throttling, a run killed halfway and resumed, and a stopped deployment."""

from __future__ import annotations

import json
import os
import random
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from esmctl import vocab
from tests.e2e.conftest import AtRequest, Env, deploy

pytestmark = pytest.mark.e2e
RESIDUES = "ACDEFGHIKLMNPQRSTVWY"
BAD = {"bad_letters": "MKT1AYIAK", "bad_empty": "", "bad_long": "A" * 50_001}


def synthetic(n: int, *, seed: int = 7, duplicates: int = 0, bad: bool = False) -> tuple[str, list[str]]:
    """A FASTA text of `n` records of realistic lengths (log-normal, median ~300), and the ids of the
    distinct valid records in input order. Duplicates repeat earlier sequences under new ids."""
    rnd = random.Random(seed)
    unique = n - duplicates - (len(BAD) if bad else 0)
    seqs = ["M" + "".join(rnd.choice(RESIDUES) for _ in range(max(20, min(1000, int(rnd.lognormvariate(5.6, 0.5))))))
            for _ in range(unique)]
    lines, ids = [], []
    for i, s in enumerate(seqs):
        lines += [f">p{i} synthetic protein", s[:60], s[60:]]
        ids.append(f"p{i}")
    for j in range(duplicates):
        lines += [f">dup{j}", seqs[rnd.randrange(unique)]]
    if bad:
        for name, s in BAD.items():
            lines += [f">{name}", s]
    return "\n".join(lines) + "\n", ids


@pytest.fixture(autouse=True)
def quick_model(sandbox: Any) -> None:
    """The stand-in model answers at once (its latency is the benchmark's business, not these tests')."""
    sandbox.invoke_base_seconds = sandbox.invoke_seconds_per_token = 0.0


def served_logits(sandbox: Any) -> Counter[str]:
    """How many `logits` answers the sandbox's container gave per sequence (as tokens → letters)."""
    return Counter(r.sequence for r in sandbox.invocations() if r.api == "logits" and r.outcome == "ok")


def load(path: Path) -> dict[str, Any]:
    with np.load(path) as z:
        return {name: z[name] for name in z.files}


def test_embed_a_fasta_with_duplicates_and_bad_records_once_per_protein_also_under_throttling(
        cli: Env, sandbox: Any) -> None:
    cli.example("basic")
    deploy(cli)
    text, ids = synthetic(2000, duplicates=100, bad=True)
    (cli.folder / "in.fasta").write_text(text)

    r = cli.run("embed", "in.fasta", "-o", "out.npz", timeout=300)
    assert r.code == 0, r.text
    assert "1897 embedded, 0 already done, 3 rejected, 100 duplicate, 0 failed" in r.err
    out = load(cli.folder / "out.npz")
    assert list(out["ids"]) == ids
    assert out["embeddings"].shape == (len(ids), 960) and out["embeddings"].dtype == np.float32
    rejected = (cli.folder / "out.npz.rejected.tsv").read_text().splitlines()
    assert [line.split("\t")[0] for line in rejected[1:]] == list(BAD)
    assert len((cli.folder / "out.npz.duplicates.tsv").read_text().splitlines()) == 1 + 100
    served = served_logits(sandbox)
    assert len(served) == len(ids) == 1897 and max(served.values()) == 1  # one logits call per distinct protein

    # 30 % of the invocations throttled: the same output, still one served call per protein.
    sandbox.reset_invocations()
    sandbox.invoke_throttle_rate = 0.3
    r = cli.run("embed", "in.fasta", "-o", "throttled.npz", "--json", timeout=300)
    assert r.code == 0, r.text
    doc = json.loads(r.out)
    assert doc["throttled"] > 300 and doc["done"] == len(ids) and doc["rejected"] == 3 and doc["failed"] == 0
    assert (cli.folder / "throttled.npz").read_bytes() == (cli.folder / "out.npz").read_bytes()
    served = served_logits(sandbox)
    assert len(served) == len(ids) and max(served.values()) == 1


def test_a_run_killed_halfway_resumes_without_calling_for_finished_records(cli: Env, sandbox: Any,
                                                                          sandbox_server: Any) -> None:
    cli.example("basic")
    deploy(cli)
    text, ids = synthetic(400, seed=11)
    (cli.folder / "in.fasta").write_text(text)
    r = cli.run("embed", "in.fasta", "-o", "whole.npz")
    assert r.code == 0, r.text

    sandbox.reset_invocations()
    proc = cli.popen("embed", "in.fasta", "-o", "out.npz", "--concurrency", "4")
    at = AtRequest("sagemaker-runtime", "InvokeEndpoint", nth=200, then=lambda: os.kill(proc.pid, signal.SIGKILL))
    sandbox.request_hook = at
    try:
        at.wait()
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        sandbox.request_hook = None
    assert not (cli.folder / "out.npz").exists()
    journal = cli.folder / "out.npz.journal"
    from esmctl.embed import Journal, key_of
    finished = Journal(journal, None).read()
    assert 150 <= len(finished) < len(ids)
    first = served_logits(sandbox)
    assert set(finished) <= {key_of(s) for s in first}  # the journal holds only answers the endpoint gave

    sandbox.reset_invocations()
    r = cli.run("embed", "in.fasta", "-o", "out.npz", "--resume", "--json")
    assert r.code == 0, r.text
    assert json.loads(r.out)["skipped"] == len(finished)
    again = served_logits(sandbox)
    assert not {key_of(s) for s in again} & set(finished)  # nothing finished was sent again
    assert (cli.folder / "out.npz").read_bytes() == (cli.folder / "whole.npz").read_bytes()
    assert not journal.exists()
    # Once finished, --resume sends nothing at all.
    sandbox.reset_invocations()
    r = cli.run("embed", "in.fasta", "-o", "out.npz", "--resume", "--json")
    assert r.code == 0 and json.loads(r.out)["done"] == 0 and not list(sandbox.invocations())


def test_a_stopped_deployment_is_named_and_started_and_stopped_again_on_request(cli: Env, sandbox: Any) -> None:
    cli.example("basic")
    deploy(cli)
    assert cli.run("stop", "prototype_model", "--yes").code == 0
    (cli.folder / "in.fasta").write_text(">a\nMKTAYIAKQR\n>b\nMQIFVKTLTG\n")

    r = cli.run("embed", "in.fasta", "-o", "out.npz")
    assert r.code == 1 and "Traceback" not in r.text
    assert "prototype_model is stopped" in r.err and "esmctl start prototype_model" in r.err
    assert not (cli.folder / "out.npz").exists()

    # What would fail anyway is refused before the endpoint is woken (and billed).
    for args, why in ((["-o", "out.csv"], "Unknown output format"), (["-o", "nofolder/out.npz"], "does not exist"),
                      (["-o", "out.npz", "--layer", "99"], "--layer 99 does not exist")):
        r = cli.run("embed", "in.fasta", *args, "--start")
        assert r.code == 1 and why in r.err and "Starting" not in r.err, r.text
    (cli.folder / "bad.fasta").write_text(">x\nMK1\n")
    r = cli.run("embed", "bad.fasta", "-o", "bad.npz", "--start")
    assert r.code == 1 and "None of the 1 records" in r.err and "Starting" not in r.err, r.text
    assert cli.client("sagemaker").list_endpoints()["Endpoints"] == []
    # A run that fails after the start still stops the endpoint with --stop-after.
    r = cli.run("embed", "in.fasta", "-o", "out.npz", "--start", "--stop-after", "--as-shared-user")
    assert r.code == 1 and "no shared service account" in r.err and "Stopping prototype_model" in r.err, r.text
    assert cli.client("sagemaker").list_endpoints()["Endpoints"] == []

    r = cli.run("embed", "in.fasta", "-o", "out.npz", "--start", "--stop-after", "--json")
    assert r.code == 0, r.text
    assert json.loads(r.out)["done"] == 2
    assert load(cli.folder / "out.npz")["embeddings"].shape == (2, 960)
    assert "Starting prototype_model" in r.err and "Stopping prototype_model" in r.err
    assert cli.client("sagemaker").list_endpoints()["Endpoints"] == []  # billing stopped again
    status = json.loads(cli.run("status", "--json").out)
    assert [d["desired"] for d in status["deployments"] if d["name"] == "prototype_model"] == ["stopped"]


def test_per_residue_and_layer_outputs_have_the_models_shapes(cli: Env, sandbox: Any) -> None:
    cli.example("basic")
    deploy(cli)
    long = "M" + "ACDEFGHIKLMNPQRSTVWY" * 30  # 601 residues: its per-residue answer would pass 6 MiB whole
    (cli.folder / "in.fasta").write_text(f">short\nMKTAYIAKQR\n>long\n{long}\n")
    r = cli.run("embed", "in.fasta", "-o", "pr.npz", "--per-residue", "--json")
    assert r.code == 0, r.text
    assert json.loads(r.out)["windowed"] == 1
    out = load(cli.folder / "pr.npz")
    assert list(out["offsets"]) == [0, 10, 10 + len(long)] and out["embeddings"].shape == (10 + len(long), 960)
    r = cli.run("embed", "in.fasta", "-o", "layer.npz", "--layer", "12")
    assert r.code == 0, r.text
    assert load(cli.folder / "layer.npz")["embeddings"].shape == (2, 960)
    r = cli.run("embed", "in.fasta", "-o", "bad.npz", "--layer", "31")
    assert r.code == 1 and "--layer 31 does not exist" in r.err and "0 … 30" in r.err
    assert vocab.shape_of("esmc-300m-2024-12").layers == 30


def test_ctrl_c_keeps_what_is_finished_and_resume_completes_it(cli: Env, sandbox: Any) -> None:
    cli.example("basic")
    deploy(cli)
    text, ids = synthetic(60, seed=3)
    (cli.folder / "in.fasta").write_text(text)
    proc = cli.popen("embed", "in.fasta", "-o", "out.npz", "--concurrency", "2")
    at = AtRequest("sagemaker-runtime", "InvokeEndpoint", nth=20, then=lambda: os.kill(proc.pid, signal.SIGINT))
    sandbox.request_hook = at
    try:
        at.wait()
        _, err = proc.communicate(timeout=60)
    finally:
        sandbox.request_hook = None
    assert proc.returncode == 130, err
    assert "Interrupted" in err and "--resume" in err and "Traceback" not in err
    from esmctl.embed import Journal
    kept = Journal(cli.folder / "out.npz.journal", None).read()
    assert 10 <= len(kept) < len(ids)
    sandbox.reset_invocations()
    r = cli.run("embed", "in.fasta", "-o", "out.npz", "--resume", "--json")
    assert r.code == 0, r.text
    assert json.loads(r.out)["skipped"] == len(kept)
    assert load(cli.folder / "out.npz")["embeddings"].shape == (len(ids), 960)


def test_embed_as_the_shared_user_with_iam_enforced(cli: Env, sandbox: Any, sandbox_server: Any) -> None:
    import requests

    cli.example("basic_shared_user")
    path = cli.folder / "esmctl.yaml"  # local secret store: reading the key makes no AWS call
    path.write_text(path.read_text().replace("secret_store: secretsmanager", "secret_store: local"))
    deploy(cli)
    (cli.folder / "in.fasta").write_text(">a\nMKTAYIAKQR\n>b\nMQIFVKTLTG\n")
    requests.post(f"{sandbox_server.url}/moto-api/reset-auth", data=b"0", timeout=10)  # IAM enforced
    try:
        shared = cli.run("embed", "in.fasta", "-o", "shared.npz", "--as-shared-user", "--json")
        plain = cli.run("embed", "in.fasta", "-o", "plain.npz", "--json")
    finally:
        requests.post(f"{sandbox_server.url}/moto-api/reset-auth", data=b"inf", timeout=10)
    assert shared.code == 0, shared.text
    assert json.loads(shared.out)["done"] == 2
    # The test's own "testing" key has no policy under enforcement: only the shared key may invoke.
    assert plain.code == 1 and "Traceback" not in plain.text
    assert "may not invoke this endpoint" in plain.err and "esmctl permissions --scope invoke" in plain.err
