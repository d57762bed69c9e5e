"""Command-line values of the form ``key=value``, shared by the verbs that take them."""

from __future__ import annotations

from collections.abc import Sequence

from audit.core.errors import ConfigError


def key_value_pairs(clauses: Sequence[str], option: str, form: str, *, empty_value: bool = False) -> dict[str, str]:
    """``KEY=VALUE`` clauses as a dict; a clause without ``=`` or a key is one line naming ``option``.

    ``form`` is how the option's help writes a clause (``label=text``); an empty value is an error
    unless ``empty_value``.
    """
    pairs: dict[str, str] = {}
    for clause in clauses:
        key, sep, value = clause.partition("=")
        if not sep or not key or (not value and not empty_value):
            raise ConfigError(f"{option}: expected {form}, got {clause!r}")
        pairs[key] = value
    return pairs
