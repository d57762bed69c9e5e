"""The renderer as a generator (``type: sandbox``): images whose true attributes are known.

Each (prompt, seed) draws one portrait of the item's occupation from a bias table — the
planted one (default), a balanced one, or a table of the user's — and renders it. The
truth (occupation, skin-tone group, Monk level, age cue, marker) goes into the record's
``meta["truth"]``, so classifier accuracy and the statistics' calibration can be checked
through real images.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from audit.core.constants import SANDBOX
from audit.core.errors import ConfigError, DiffauditError
from audit.core.records import ProbeItem
from generators.base import GeneratedImage, Generator, GeneratorParams, seed_with_prompt
from generators.registry import register
from generators.sandbox.renderer import SIZE, render
from generators.sandbox.world import Shares, balanced_bias, check_table, draw_portrait, occupations, planted_bias


@dataclasses.dataclass(frozen=True)
class SandboxParams(GeneratorParams):
    """``bias``: ``planted`` (the sandbox's reference table), ``balanced``, or a YAML file of shares."""

    bias: str = "planted"
    occupation_attribute: str = "occupation"
    size: int = SIZE
    batch_size: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.size < 8:
            raise ValueError(f"size must be at least 8 pixels, got {self.size}")


def load_bias_table(spec: str) -> dict[str, Shares]:
    """The bias table ``spec`` names: ``planted``, ``balanced`` or a YAML file (occupation → attribute → shares)."""
    if spec == "planted":
        return planted_bias()
    if spec == "balanced":
        return balanced_bias()
    from audit.core.schema import load_yaml

    path = Path(spec)
    if not path.is_file():
        raise ConfigError(f"generator.bias: {spec!r} is neither 'planted', 'balanced' nor a YAML file")
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of occupation to attribute shares")
    try:
        given = check_table(data, source=str(path))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return {**balanced_bias(), **given}  # occupations the file leaves out stay balanced


@register
class SandboxGenerator(Generator):
    """Procedural sandbox portraits of the item's occupation, with their true attributes in the record."""

    type_name: ClassVar[str] = "sandbox"
    Params: ClassVar[type[GeneratorParams]] = SandboxParams
    params: SandboxParams
    pad_batches: ClassVar[bool] = False  # rendering is per image: no batch shape to keep
    reads_prompt: ClassVar[bool] = False  # the occupation comes from the item's attribute, not its words
    domain: ClassVar[str] = SANDBOX

    def __init__(self, params: GeneratorParams | None = None) -> None:
        super().__init__(params)
        self.table: dict[str, Shares] | None = None

    def from_hub(self) -> bool:
        return False  # a renderer: no model

    @property
    def generator_id(self) -> str:
        bias = self.params.bias
        return f"sandbox:renderer/{bias if bias in ('planted', 'balanced') else Path(bias).name}"

    @classmethod
    def example_params(cls, workdir: Path, items: Sequence[ProbeItem] = (), seeds: Sequence[int] = ()) -> SandboxParams:
        """The planted world at its own size; renders in milliseconds."""
        return SandboxParams(batch_size=4)

    def _load(self) -> None:
        self.table = load_bias_table(self.params.bias)

    def check_items(self, items: Sequence[ProbeItem]) -> None:
        for item in items:
            self.occupation(item)

    def occupation(self, item: ProbeItem) -> str:
        """The sandbox occupation ``item`` asks for; a clear error when it names none."""
        value = item.attributes.get(self.params.occupation_attribute)
        if value not in set(occupations()):
            raise DiffauditError(
                f"item {item.item_id} ({item.prompt!r}): {self.params.occupation_attribute}={value!r} is not a "
                f"sandbox occupation ({', '.join(occupations())})"
            )
        return str(value)

    def _image_seed(self, item: ProbeItem, seed: int) -> int:
        # Two templates of one occupation are two prompts: their portraits must differ.
        return seed_with_prompt(item.prompt, seed)

    def _generate_batch(self, items: list[ProbeItem], rngs: list[Any]) -> list[Any]:
        import numpy as np

        out = []
        for item, rng in zip(items, rngs, strict=True):
            draws = np.random.default_rng(rng.initial_seed())
            portrait = draw_portrait(self.occupation(item), draws, self.table)
            image = render(portrait, self.params.size, noise_seed=int(draws.integers(2**31)))
            out.append(GeneratedImage(image, meta={"truth": portrait.truth()}))
        return out

    def record_meta(self) -> dict[str, Any]:
        return {"renderer": "generators.sandbox.renderer", "bias": self.params.bias}
