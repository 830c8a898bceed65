"""``python -m larseg`` = the ``larseg`` command."""

from .cli import main

main()
