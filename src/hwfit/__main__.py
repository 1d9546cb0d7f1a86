"""``python -m hwfit``: the same as the ``hwfit`` command."""

from hwfit.cli.main import main

main()
