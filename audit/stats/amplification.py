"""Amplification: does the model exaggerate the imbalance a reference (for example BLS) already shows?"""

from __future__ import annotations

import numpy as np
from scipy import stats

from audit.stats.distributions import GroupCounts


def _logit(p):
    return np.log(p) - np.log1p(-p)


def amplification(
    model_count,
    model_n,
    reference_share,
    *,
    confidence: float = 0.95,
) -> dict[str, float]:
    """Model share against reference share across groups (for example occupations).

    - ``slope``: weighted least-squares slope of logit(model share) on
      logit(reference share), with a t interval; 1 reproduces the reference,
      above 1 the model pushes each group further towards its majority, below
      1 it evens out. Model shares are smoothed ((count + 0.5) / (n + 1)) so 0
      and 1 stay finite, and weighted by n p (1 - p), their inverse variance.
    - ``shift``: the mean signed shift towards each group's reference majority,
      ``(model - reference) * sign(reference - 0.5)``, with a t interval.
    """
    count = np.asarray(model_count, float)
    n = np.asarray(model_n, float)
    ref = np.asarray(reference_share, float)
    ok = (n > 0) & np.isfinite(ref) & (ref > 0) & (ref < 1)
    count, n, ref = count[ok], n[ok], ref[ok]
    groups = int(ok.sum())
    out = {
        "groups": groups,
        "slope": np.nan,
        "slope_low": np.nan,
        "slope_se": np.nan,
        "slope_df": np.nan,
        "slope_high": np.nan,
        "intercept": np.nan,
        "shift": np.nan,
        "shift_low": np.nan,
        "shift_high": np.nan,
    }
    if groups == 0:
        return out
    share = count / n
    towards = np.sign(ref - 0.5)
    shift = (share - ref) * towards
    out["shift"] = float(shift.mean())
    if groups >= 2:
        sem = stats.sem(shift)
        t = stats.t.ppf(0.5 + confidence / 2, groups - 1)
        out["shift_low"], out["shift_high"] = float(out["shift"] - t * sem), float(out["shift"] + t * sem)
    x = _logit(ref)
    if groups >= 3 and np.ptp(x) > 0:
        smoothed = (count + 0.5) / (n + 1)
        y = _logit(smoothed)
        # Weighted least squares: a logit share from n images has variance about 1 / (n p (1 - p)),
        # so extreme groups count less; the residual scale is estimated, so scatter beyond
        # sampling noise (groups off the line) widens the interval too.
        design = np.column_stack([np.ones(groups), x])
        w = n * smoothed * (1 - smoothed)
        for _ in range(2):
            xtwx = design.T @ (w[:, None] * design)
            beta = np.linalg.solve(xtwx, design.T @ (w * y))
            # Weights from the fitted shares, not the observed ones: observed weights correlate
            # with the noise in y and bias the slope towards zero.
            fitted = 1 / (1 + np.exp(-(design @ beta)))
            w = n * fitted * (1 - fitted)
        xtwx = design.T @ (w[:, None] * design)
        beta = np.linalg.solve(xtwx, design.T @ (w * y))
        resid = y - design @ beta
        scale = float((w * resid**2).sum() / (groups - 2))
        se = float(np.sqrt(scale * np.linalg.inv(xtwx)[1, 1]))
        t = stats.t.ppf(0.5 + confidence / 2, groups - 2)
        out["intercept"], out["slope"] = float(beta[0]), float(beta[1])
        out["slope_low"], out["slope_high"] = out["slope"] - t * se, out["slope"] + t * se
        out["slope_se"], out["slope_df"] = se, groups - 2
    return out


def amplification_rows(gc: GroupCounts, label: str, reference: np.ndarray, *, confidence: float = 0.95) -> dict:
    """Amplification of ``label``'s share across the groups of ``gc``; ``reference`` is its share per group."""
    j = gc.labels.index(label)
    result = amplification(gc.counts[:, j], gc.n, reference, confidence=confidence)
    result.update(classifier=gc.classifier, attribute=gc.attribute, label=label)
    return result
