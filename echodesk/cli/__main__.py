"""``python -m echodesk.cli``: the same as the ``echodesk`` command."""

from echodesk.cli import main

main()
