"""`python -m jitflow` entry point."""

import sys

from jitflow.cli import main

if __name__ == "__main__":
    sys.exit(main())
