"""Unit-test fixtures: a mocked S3 bucket for the remote-state backend (test_remote, test_state_kms_key),
and the in-memory AWS of tests/fakes.py for the middle layer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from esmctl.state import S3Url
from tests.fakes import Env, no_fsync

REGION = "us-east-2"
URL = S3Url("team-state", "esm/")


@pytest.fixture
def s3() -> Iterator[Any]:
    """moto's S3 with the bucket `team-state` (in REGION); the client to look at what was written."""
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket="team-state", CreateBucketConfiguration={"LocationConstraint": REGION})
        yield client


@pytest.fixture
def fast_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """State writes without fsync (each cost ~15 ms; the temporary file, rename and mode stay)."""
    no_fsync(monkeypatch)


@pytest.fixture
def env(tmp_path: Path, fast_disk: None) -> Env:
    """The middle layer against the in-memory AWS (multi_model example, nothing deployed yet)."""
    return Env(tmp_path)
