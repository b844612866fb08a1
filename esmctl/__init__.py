"""esmctl: deploy EvolutionaryScale's ESM models to SageMaker endpoints in your own AWS account.

Importing this package is free: no AWS SDK, no I/O. The library surface is `esmctl.api`;
`esmctl.connect(...)` (esmctl/client.py) gives a client for a deployment's endpoint.
"""

from typing import Any

__version__ = "0.1.0"


def connect(*args: Any, **kwargs: Any) -> Any:
    """A client for a deployment's endpoint: see `esmctl.client.connect`."""
    from esmctl.client import connect as _connect

    return _connect(*args, **kwargs)
