"""The README's first command: `esmctl demo` runs the main job on its own sandbox, end to end."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Env

pytestmark = pytest.mark.e2e


def test_demo_deploys_embeds_stops_starts_and_destroys(cli: Env, sandbox: Any) -> None:
    r = cli.run("demo", "--creating-seconds", "0.2", timeout=300)
    assert r.code == 0, r.text
    assert "Traceback" not in r.text
    for step in ("$ esmctl deploy --yes", "$ esmctl embed proteins.fasta", "$ esmctl stop performance_model",
                 "$ esmctl start performance_model", "$ esmctl destroy --yes"):
        assert step in r.err, step
    assert "40 embedded, 0 already done, 1 rejected, 1 duplicate, 0 failed" in r.err
    assert "Demo complete" in r.err
