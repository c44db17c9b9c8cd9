"""Run the command line interface with ``python -m callout``."""

from callout.cli import main

main()
