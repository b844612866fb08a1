"""esmctl: deploy EvolutionaryScale's ESM models to SageMaker endpoints in your own AWS account.

Importing this package is free: no AWS SDK, no I/O. The library surface is `esmctl.api`.
"""

__version__ = "0.1.0"
