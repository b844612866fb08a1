"""`python -m esmctl`: the same entry point as the `esmctl` console script."""

from esmctl.cli import main

if __name__ == "__main__":
    main()
