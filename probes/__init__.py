"""Prompt suites (YAML data) expanded into ProbeItems, and the input screen; knows no models."""

from probes.screening import Screener, Verdict, catch_rates, screen_items
from probes.suite import Screening, SlotValue, Suite, builtin_suites, load_suite, resolve_seeds

__all__ = [
    "Screener",
    "Screening",
    "SlotValue",
    "Suite",
    "Verdict",
    "builtin_suites",
    "catch_rates",
    "load_suite",
    "resolve_seeds",
    "screen_items",
]
