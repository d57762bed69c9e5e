"""Images made elsewhere (closed APIs, other tools), imported from a manifest.

The manifest is a CSV (header row) or JSONL file with one image per row:
``prompt``, ``image`` (a path, relative to the manifest's folder unless
absolute) and, optionally, ``seed``. Rows without a seed get seeds 0, 1, 2, ...
per prompt in file order. Each ProbeItem × seed of the run is matched to the
row with the same prompt and seed; its image is checked (readable, RGB, large
enough), copied into the run as PNG, and the source file's path and sha256
are recorded.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from audit.core.constants import IMAGE_DOMAINS
from audit.core.errors import ConfigError
from audit.core.records import ProbeItem
from generators.base import GeneratedImage, Generator, GeneratorParams
from generators.registry import register

log = logging.getLogger(__name__)

_PATH_COLUMNS = ("image", "image_path", "path")


@dataclasses.dataclass(frozen=True, kw_only=True)
class FolderParams(GeneratorParams):
    """Parameters of the ``folder`` generator."""

    manifest: str
    min_size: int = 64
    batch_size: int = 16
    # What kind of images the folder holds (photographs, generated images, sandbox renders); unknown when not
    # given, and then no classifier is held to be out of its domain on them.
    domain: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.min_size < 1:
            raise ValueError(f"min_size must be at least 1, got {self.min_size}")
        if self.domain is not None and self.domain not in IMAGE_DOMAINS:
            raise ValueError(f"domain must be one of {', '.join(IMAGE_DOMAINS)}, got {self.domain!r}")


@dataclasses.dataclass(frozen=True)
class ManifestRow:
    prompt: str
    seed: int
    path: Path
    line: int


def read_manifest(path: str | Path) -> dict[tuple[str, int], ManifestRow]:
    """Rows of a CSV or JSONL manifest keyed by (prompt, seed); errors name the file, line and field."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: manifest not found")
    raw_rows = _read_jsonl(path) if path.suffix.lower() in (".jsonl", ".ndjson") else _read_csv(path)
    rows: dict[tuple[str, int], ManifestRow] = {}
    next_seed: dict[str, int] = {}
    for line, raw in raw_rows:
        prompt = raw.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise ConfigError(f"{path}: line {line}: field 'prompt' is missing or empty")
        image = next((raw[c] for c in _PATH_COLUMNS if raw.get(c) not in (None, "")), None)
        if not isinstance(image, str):
            raise ConfigError(f"{path}: line {line}: field 'image' (the image's path) is missing")
        seed_value = raw.get("seed")
        if seed_value in (None, ""):
            seed = next_seed.get(prompt, 0)
        else:
            try:
                seed = int(seed_value)
                if seed < 0 or str(seed_value).strip() not in (str(seed), f"{seed}.0"):
                    raise ValueError
            except (TypeError, ValueError):
                raise ConfigError(
                    f"{path}: line {line}: field 'seed' must be a non-negative integer, got {seed_value!r}"
                ) from None
        next_seed[prompt] = max(next_seed.get(prompt, 0), seed + 1)
        key = (prompt, seed)
        if key in rows:
            raise ConfigError(
                f"{path}: line {line}: prompt {prompt!r} with seed {seed} already has an image (line {rows[key].line})"
            )
        image_path = Path(image)
        rows[key] = ManifestRow(
            prompt, seed, image_path if image_path.is_absolute() else path.parent / image_path, line
        )
    return rows


def _read_csv(path: Path) -> list[tuple[int, dict[str, Any]]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or "prompt" not in reader.fieldnames:
            raise ConfigError(f"{path}: line 1: the header needs a 'prompt' column, got {reader.fieldnames}")
        return [(reader.line_num, row) for row in reader]


def _read_jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    for line, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: line {line}: not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise ConfigError(f"{path}: line {line}: expected a JSON object, got {row!r}")
        rows.append((line, row))
    return rows


def check_image(path: Path, *, min_size: int) -> tuple[Any, dict[str, Any]]:
    """Open and verify an image file; returns it as RGB with facts about the source, or raises ValueError."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise ValueError(f"image file {path} does not exist")
    data = path.read_bytes()
    try:
        with Image.open(path) as probe:
            probe.verify()  # catches truncated and corrupt files before decoding
        with Image.open(path) as opened:
            opened.load()
            source_format, source_mode = opened.format, opened.mode
            image = opened.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"image file {path} is corrupt or not an image ({exc})") from None
    if min(image.size) < min_size:
        raise ValueError(f"image file {path} is {image.width}x{image.height}, smaller than min_size {min_size}")
    facts = {
        "source": str(path),
        "source_sha256": hashlib.sha256(data).hexdigest(),
        "source_format": source_format,
        "source_mode": source_mode,
    }
    return image, facts


@register
class FolderGenerator(Generator):
    """Images made elsewhere, listed in a CSV or JSONL manifest of prompt, seed and image path."""

    type_name: ClassVar[str] = "folder"
    Params: ClassVar[type[GeneratorParams]] = FolderParams
    pad_batches: ClassVar[bool] = False
    reads_prompt: ClassVar[bool] = False  # the prompt finds the file; it makes nothing
    params: FolderParams

    def __init__(self, params: GeneratorParams | None = None) -> None:
        super().__init__(params)
        self.rows: dict[tuple[str, int], ManifestRow] = {}

    def image_domain(self) -> str | None:
        """The kind of images the manifest lists, as its ``domain`` says (None: not said)."""
        return self.params.domain

    def from_hub(self) -> bool:
        return False  # images on disk

    @property
    def generator_id(self) -> str:
        return f"folder:{self.params.manifest}"

    @classmethod
    def example_params(cls, workdir: Path, items: Sequence[ProbeItem], seeds: Sequence[int]) -> FolderParams:
        import numpy as np
        from PIL import Image

        lines = ["prompt,seed,image"]
        for n, item in enumerate(items):
            for seed in seeds:
                pixels = np.random.default_rng([n, seed]).integers(0, 256, (64, 64, 3), dtype=np.uint8)
                name = f"{n}-{seed}.png"
                Image.fromarray(pixels).save(workdir / name)
                lines.append(f'"{item.prompt}",{seed},{name}')
        (workdir / "manifest.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        return FolderParams(manifest=str(workdir / "manifest.csv"), min_size=32)

    def _load(self) -> None:
        self.rows = read_manifest(self.params.manifest)
        log.info("manifest %s lists %d images", self.params.manifest, len(self.rows))

    def _generate_batch(self, items: list[ProbeItem], rngs: list[Any]) -> list[GeneratedImage]:
        out = []
        for item, rng in zip(items, rngs, strict=True):
            seed = rng.initial_seed()
            row = self.rows.get((item.prompt, seed))
            if row is None:
                out.append(
                    GeneratedImage(
                        None, {"error": f"{self.params.manifest}: no image for this prompt with seed {seed}"}
                    )
                )
                continue
            try:
                image, facts = check_image(row.path, min_size=self.params.min_size)
            except ValueError as exc:
                log.error("%s: line %d: %s", self.params.manifest, row.line, exc)
                out.append(GeneratedImage(None, {"error": f"{self.params.manifest}: line {row.line}: {exc}"}))
                continue
            out.append(GeneratedImage(image, facts))
        return out
