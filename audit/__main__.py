"""``python -m audit`` — the same as the ``diffaudit`` command."""

from audit.cli import main

main()
