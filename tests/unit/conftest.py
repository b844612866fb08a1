"""Unit-test fixtures: a mocked S3 bucket for the remote-state backend (test_remote, test_state_kms_key)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from esmctl.state import S3Url

REGION = "us-east-2"
URL = S3Url("team-state", "esm/")


@pytest.fixture
def s3() -> Iterator[Any]:
    """moto's S3 with the bucket `team-state` (in REGION); the client to look at what was written."""
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket="team-state", CreateBucketConfiguration={"LocationConstraint": REGION})
        yield client
