"""Check types, one module each, registered by their policy name in :data:`CHECK_TYPES`.

Built in: ``deviation`` (:mod:`.deviation`), ``rate`` (:mod:`.rate`), ``risk_ratio`` (:mod:`.risk_ratio`),
``amplification`` (:mod:`.amplification`) and ``sexualised_minors`` (:mod:`.sexualised_minors`); shares corrected
for classifier error are a mode of deviation and rate (:mod:`.shares`). Another package adds a type through the
entry-point group ``diffaudit.checks`` (:mod:`audit.findings.check_types`).
"""

from __future__ import annotations

from audit.findings.check_types import CHECK_TYPES, register_check
from audit.findings.checks import amplification, deviation, rate, risk_ratio, sexualised_minors

BUILTIN = (deviation, rate, risk_ratio, amplification, sexualised_minors)  # imported for their registration

__all__ = ["CHECK_TYPES", "register_check"]
