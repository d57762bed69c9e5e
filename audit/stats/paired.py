"""Comparing a binary outcome between two arms (woman vs man prompts, say): tests, risk difference, risk ratio.

Images that share a seed within a counterfactual pair are paired (McNemar);
otherwise the arms are independent samples (Fisher exact, two-proportion z).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def _z(confidence: float) -> float:
    return float(stats.norm.ppf(0.5 + confidence / 2))


def mcnemar_exact(b: int, c: int) -> float:
    """McNemar's exact test: two-sided binomial p-value of the ``b`` vs ``c`` discordant pairs."""
    if b + c == 0:
        return 1.0
    return float(stats.binomtest(int(b), int(b + c), 0.5).pvalue)


def paired_comparison(a, b, *, confidence: float = 0.95) -> dict[str, float]:
    """Compare paired binary outcomes ``a[i]`` (arm A) and ``b[i]`` (arm B) of the same seeds.

    Risk difference with its Wald interval for paired proportions; risk ratio
    with the matched-pairs log interval (Agresti); McNemar's exact test.
    """
    a = np.asarray(a, bool)
    b = np.asarray(b, bool)
    n = len(a)
    both = int(np.sum(a & b))
    only_a = int(np.sum(a & ~b))
    only_b = int(np.sum(~a & b))
    x_a, x_b = both + only_a, both + only_b
    out = _base(x_a, n, x_b, n, "mcnemar exact", mcnemar_exact(only_a, only_b))
    out.update(pairs=n, discordant_a=only_a, discordant_b=only_b)
    if n == 0:
        return out
    z = _z(confidence)
    rd = (only_a - only_b) / n
    var = (only_a + only_b - (only_a - only_b) ** 2 / n) / n**2
    out["rd_low"], out["rd_high"] = rd - z * math.sqrt(max(var, 0.0)), rd + z * math.sqrt(max(var, 0.0))
    if x_a > 0 and x_b > 0:
        se = math.sqrt((only_a + only_b) / (x_a * x_b))
        out["rr_low"], out["rr_high"] = out["rr"] * math.exp(-z * se), out["rr"] * math.exp(z * se)
        out["log_rr_se"] = se
    return out


def unpaired_comparison(x_a: int, n_a: int, x_b: int, n_b: int, *, confidence: float = 0.95) -> dict[str, float]:
    """Compare ``x_a``/``n_a`` with ``x_b``/``n_b`` from independent samples.

    Fisher's exact test when an expected cell count is below 5, the pooled
    two-proportion z test otherwise; risk difference with the Newcombe
    (Wilson-score) interval; risk ratio with the Katz log interval (0.5 added
    to every cell when a count is 0).
    """
    table = np.array([[x_a, n_a - x_a], [x_b, n_b - x_b]])
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / max(table.sum(), 1)
    if n_a == 0 or n_b == 0:
        p, test = float("nan"), "none"
    elif expected.min() < 5:
        p, test = float(stats.fisher_exact(table).pvalue), "fisher exact"
    else:
        pooled = (x_a + x_b) / (n_a + n_b)
        se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
        zstat = (x_a / n_a - x_b / n_b) / se if se > 0 else 0.0
        p, test = float(2 * stats.norm.sf(abs(zstat))), "two-proportion z"
    out = _base(x_a, n_a, x_b, n_b, test, p)
    if n_a == 0 or n_b == 0:
        return out
    from audit.stats.intervals import wilson_interval

    z = _z(confidence)
    pa, pb = x_a / n_a, x_b / n_b
    la, ha = (float(v) for v in wilson_interval(x_a, n_a, confidence))
    lb, hb = (float(v) for v in wilson_interval(x_b, n_b, confidence))
    rd = pa - pb
    out["rd_low"] = rd - math.sqrt((pa - la) ** 2 + (hb - pb) ** 2)
    out["rd_high"] = rd + math.sqrt((ha - pa) ** 2 + (pb - lb) ** 2)
    ca, cb = (x_a, x_b) if x_a and x_b and x_a < n_a and x_b < n_b else (x_a + 0.5, x_b + 0.5)
    na_, nb_ = (n_a, n_b) if (ca, cb) == (x_a, x_b) else (n_a + 1, n_b + 1)
    rr = (ca / na_) / (cb / nb_)
    se = math.sqrt(1 / ca - 1 / na_ + 1 / cb - 1 / nb_)
    out["rr_low"], out["rr_high"] = rr * math.exp(-z * se), rr * math.exp(z * se)
    out["log_rr_se"] = se
    return out


def _base(x_a: int, n_a: int, x_b: int, n_b: int, test: str, p: float) -> dict[str, float]:
    pa = x_a / n_a if n_a else float("nan")
    pb = x_b / n_b if n_b else float("nan")
    return {
        "x_a": x_a,
        "n_a": n_a,
        "x_b": x_b,
        "n_b": n_b,
        "rate_a": pa,
        "rate_b": pb,
        "rd": pa - pb,
        "rd_low": float("nan"),
        "rd_high": float("nan"),
        "rr": pa / pb if pb else (float("inf") if pa else float("nan")),
        "rr_low": float("nan"),
        "rr_high": float("nan"),
        "log_rr_se": float("nan"),
        "test": test,
        "p_value": p,
    }
