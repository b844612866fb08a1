"""Prices: the Price List API answer parsed into the local cache, and the order of the sources."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from botocore.stub import Stubber

from esmctl import prices
from esmctl.api import refresh_prices
from esmctl.aws import Aws


def product(itype: str, usd: str, component: str = "Hosting") -> str:
    return json.dumps({
        "product": {"productFamily": "ML Instance",
                    "attributes": {"instanceName": itype, "component": component, "regionCode": "us-east-2"}},
        "terms": {"OnDemand": {"SKU.T": {"priceDimensions": {"SKU.T.D": {
            "unit": "Hrs", "pricePerUnit": {"USD": usd}}}}}},
    })


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    prices.cached.cache_clear()
    yield tmp_path
    prices.cached.cache_clear()


def test_refresh_writes_the_cache_and_the_cache_wins_over_the_bundled_table(cache_dir: Path) -> None:
    aws = Aws(region="us-east-2")
    client = aws.client("pricing", region="us-east-1")
    expected = {"ServiceCode": "AmazonSageMaker", "MaxResults": 100, "Filters": [
        {"Type": "TERM_MATCH", "Field": "regionCode", "Value": "us-east-2"},
        {"Type": "TERM_MATCH", "Field": "component", "Value": "Hosting"}]}
    with Stubber(client) as stub:
        stub.add_response("get_products", {"PriceList": [product("ml.g5.2xlarge", "1.6000000000"),
                                                         product("ml.g5.2xlarge", "9.9", component="Training")],
                                           "NextToken": "t2"}, expected)
        stub.add_response("get_products", {"PriceList": [product("ml.g6.xlarge", "1.0100000000")]},
                          {**expected, "NextToken": "t2"})
        table, path = refresh_prices(aws, "us-east-2", dt.datetime(2026, 11, 27, tzinfo=dt.UTC))
    assert table == {"ml.g5.2xlarge": 1.6, "ml.g6.xlarge": 1.01}
    assert path == cache_dir / "esmctl" / "prices.json"
    assert json.loads(path.read_text())["regions"]["us-east-2"] == table
    assert prices.hourly("ml.g5.2xlarge", "us-east-2") == 1.6  # the cache wins over the bundled 1.515
    assert prices.hourly("ml.g5.2xlarge", "us-east-2", {"ml.g5.2xlarge": 1.2}) == 1.2  # prices: wins over both
    assert prices.hourly("ml.g5.4xlarge", "us-east-2") == prices.bundled()["us-east-2"]["ml.g5.4xlarge"]


def test_without_a_cache_the_bundled_table_is_used() -> None:
    assert prices.hourly("ml.g5.2xlarge", "us-east-2") == prices.bundled()["us-east-2"]["ml.g5.2xlarge"]
    assert prices.hourly("ml.unknown.xlarge", "us-east-2") is None
