"""How far people who label the same images agree beyond chance: Cohen's kappa (two) and Fleiss' kappa (more).

Both compare the observed agreement with the agreement expected by chance
from the label frequencies: kappa = (P_o - P_e) / (1 - P_e), 1 for perfect
agreement, 0 for chance. Cohen (1960) takes each annotator's own label
frequencies for P_e; Fleiss (1971) the pooled ones, and needs every image
labelled by the same number of annotators.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any


def cohen_kappa(first: Sequence[str], second: Sequence[str]) -> float | None:
    """Cohen's kappa of two annotators' labels of the same images (in order); None without images or when
    chance agreement is already certain (both gave one and the same label throughout)."""
    if len(first) != len(second):
        raise ValueError(f"{len(first)} and {len(second)} labels: the two annotators must label the same images")
    n = len(first)
    if n == 0:
        return None
    observed = sum(a == b for a, b in zip(first, second, strict=True)) / n
    count_a, count_b = Counter(first), Counter(second)
    expected = sum(count_a[label] * count_b[label] for label in count_a) / n**2
    return None if expected >= 1 else (observed - expected) / (1 - expected)


def fleiss_kappa(ratings: Sequence[Mapping[str, int]]) -> float | None:
    """Fleiss' kappa from per-image label counts (``{"light": 2, "dark": 1}``: three annotators, one image).

    Every image needs the same number of annotators, at least two. None without images or when chance
    agreement is certain.
    """
    if not ratings:
        return None
    raters = {sum(r.values()) for r in ratings}
    if len(raters) != 1 or min(raters) < 2:
        raise ValueError(f"every image needs the same number of annotators, at least two; got {sorted(raters)}")
    m, n = raters.pop(), len(ratings)
    totals: Counter = Counter()
    for r in ratings:
        totals.update(r)
    p_e = sum((count / (n * m)) ** 2 for count in totals.values())
    p_o = sum(sum(c * (c - 1) for c in r.values()) / (m * (m - 1)) for r in ratings) / n
    return None if p_e >= 1 else (p_o - p_e) / (1 - p_e)


def annotator_agreement(labels: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    """Agreement of the annotators over the images every one of them labelled.

    ``labels`` maps annotator → image → label (labels a person set aside as
    unsure are left out by the caller). Two annotators give Cohen's kappa,
    more give Fleiss'; one gives none. Returns the method, kappa, the
    images compared and the share of them on which every annotator agreed.
    """
    names = sorted(labels)
    shared = sorted(set.intersection(*(set(labels[a]) for a in names))) if names else []
    out: dict[str, Any] = {"annotators": names, "images_compared": len(shared), "method": None, "kappa": None}
    if len(names) < 2:
        return out
    columns = [[labels[a][image] for image in shared] for a in names]
    agreed = sum(len({col[i] for col in columns}) == 1 for i in range(len(shared)))
    out["all_agree"] = agreed / len(shared) if shared else None
    if len(names) == 2:
        out.update(method="Cohen's kappa", kappa=cohen_kappa(*columns))
    else:
        out.update(method="Fleiss' kappa", kappa=fleiss_kappa([Counter(col[i] for col in columns) for i in range(len(shared))]))
    return out
