"""Mitigations: what a run changes about generation to reduce a bias, stated in its config and recorded in run.yaml.

A run config may carry a ``mitigation:`` block::

    mitigation:
      description: append a skin-tone descriptor, uniform over three
      rewrite:                              # prompt rewriting
        descriptors: {"with light skin": 1, "with medium skin": 1, "with deep skin": 1}
        template: "{prompt}, {descriptor}"  # the default
        seed: 0
      negative_prompt: "cartoon, blurry"    # replaces each prompt's negative prompt
      guidance: 3.0                         # replaces the generator's guidance scale
      pipeline: StableDiffusionPipelineSafe # a diffusers pipeline class (diffusers generator only)

Each image keeps the (item, seed) of the prompt it stands for, so a
mitigated run pairs image by image with its baseline (``diffaudit compare``).
The descriptor an image gets is drawn from the stated shares by a generator
seeded with (rewrite seed, item, seed) alone: it does not depend on batches,
order or resume, and :meth:`Mitigation.prompt_for` recomputes it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from audit.core.records import ProbeItem


@dataclasses.dataclass(frozen=True)
class PromptRewrite:
    """Append an identity descriptor to each image's prompt, drawn from a target distribution (shares normalised)."""

    descriptors: dict[str, float]
    template: str = "{prompt}, {descriptor}"
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.descriptors:
            raise ValueError("rewrite.descriptors: give at least one descriptor with its share")
        if any(share < 0 for share in self.descriptors.values()) or sum(self.descriptors.values()) <= 0:
            raise ValueError("rewrite.descriptors: shares must be non-negative with a positive sum")
        if self.template.count("{prompt}") != 1 or self.template.count("{descriptor}") != 1:
            raise ValueError(f"rewrite.template: needs {{prompt}} and {{descriptor}} once each, got {self.template!r}")

    @property
    def shares(self) -> dict[str, float]:
        total = sum(self.descriptors.values())
        return {text: share / total for text, share in self.descriptors.items()}

    def descriptor_for(self, item_id: str, seed: int) -> str:
        """The descriptor of image (item, seed): a draw from the shares, seeded by (rewrite seed, item, seed)."""
        import numpy as np

        rng = np.random.default_rng([self.seed, int(item_id, 16), int(seed)])
        texts = list(self.shares)
        return texts[int(rng.choice(len(texts), p=list(self.shares.values())))]


@dataclasses.dataclass(frozen=True)
class Mitigation:
    """What a mitigated run changes: prompts, negative prompts, the guidance scale, the pipeline class."""

    description: str = ""
    rewrite: PromptRewrite | None = None
    negative_prompt: str | None = None
    guidance: float | None = None
    pipeline: str | None = None

    def __post_init__(self) -> None:
        if self.rewrite is None and self.negative_prompt is None and self.guidance is None and self.pipeline is None:
            raise ValueError("give at least one of rewrite, negative_prompt, guidance or pipeline")
        if self.guidance is not None and self.guidance < 0:
            raise ValueError(f"guidance: must be non-negative, got {self.guidance}")

    @property
    def changes_prompts(self) -> bool:
        return self.rewrite is not None or self.negative_prompt is not None

    def describe(self) -> str:
        """One line saying what changed."""
        parts = []
        if self.rewrite is not None:
            shares = ", ".join(f"{text!r} {share:.2f}" for text, share in self.rewrite.shares.items())
            parts.append(f"prompts rewritten as {self.rewrite.template!r} with descriptors {shares}")
        if self.negative_prompt is not None:
            parts.append(f"negative prompt {self.negative_prompt!r}")
        if self.guidance is not None:
            parts.append(f"guidance {self.guidance:g}")
        if self.pipeline is not None:
            parts.append(f"pipeline {self.pipeline}")
        text = "; ".join(parts)
        return f"{self.description}: {text}" if self.description else text

    def apply_params(self, params: Any) -> Any:
        """The generator's parameters with the mitigation's guidance and pipeline; ValueError if it has neither."""
        changes = {"guidance": self.guidance, "pipeline": self.pipeline}
        changes = {name: value for name, value in changes.items() if value is not None}
        fields = {f.name for f in dataclasses.fields(params)}
        missing = sorted(set(changes) - fields)
        if missing:
            raise ValueError(f"{', '.join(missing)}: this generator has no such parameter to change")
        return dataclasses.replace(params, **changes)

    def prompt_for(self, item: ProbeItem, seed: int) -> str:
        """The prompt image (item, seed) is made from."""
        if self.rewrite is None:
            return item.prompt
        descriptor = self.rewrite.descriptor_for(item.item_id, seed)
        return self.rewrite.template.format(prompt=item.prompt, descriptor=descriptor)

    def apply_pairs(self, pairs: Sequence[tuple[ProbeItem, int]]) -> list[tuple[ProbeItem, int]]:
        """The (item, seed) pairs as the generator sees them: same ids and seeds, prompts changed as stated."""
        if not self.changes_prompts:
            return list(pairs)
        out = []
        for item, seed in pairs:
            changed = {"prompt": self.prompt_for(item, seed)}
            if self.negative_prompt is not None:
                changed["negative_prompt"] = self.negative_prompt
            out.append((dataclasses.replace(item, **changed), seed))
        return out
