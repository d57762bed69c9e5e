"""What each verb of the ``diffaudit`` CLI does, apart from argument parsing.

One module per verb (or family of verbs). Each command function returns the
lines to print and the exit code, so ``audit/cli.py`` stays a thin layer and
the behaviour is testable without it. Like the runner and the config, these
modules may tie every layer together.
"""
