"""Freshly rendered, labelled sandbox portraits for validation: ``python -m generators.sandbox.heldout``.

``python -m generators.sandbox.heldout DIR --count 1000 --seed 1234`` renders ``count`` portraits
(every attribute independent of the occupation) with a seed no shipped model was trained on
(the DDPM's data is seed 0, the CLIP's seed 1), saves them as ``DIR/images/*.png`` and writes one
manifest per attribute, ``DIR/<attribute>.csv`` with columns ``path,label`` (``monk_level`` too),
the format ``diffaudit validate-classifier`` reads::

    diffaudit validate-classifier DIR/marker.csv -c clip -p model=builtin:sandbox-clip \\
        -p label_set=sandbox -a marker
    diffaudit validate-classifier DIR/monk_level.csv -c skin_tone -a monk_skin_tone
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from generators.sandbox.dataset import render_dataset
from generators.sandbox.world import balanced_bias

HELD_OUT_SEED = 1234
# Manifest name → the truth field it labels with.
MANIFESTS = {
    "skin_tone_group": "skin_tone_group",
    "age_cue": "age_cue",
    "marker": "marker",
    "depicted_occupation": "occupation",
    "monk_level": "monk_level",
}


def write_heldout(folder: Path, count: int, seed: int = HELD_OUT_SEED) -> dict[str, Path]:
    """Render ``count`` balanced portraits into ``folder``; returns the manifest path of each attribute."""
    from PIL import Image

    pixels, portraits = render_dataset(count, seed, table=balanced_bias())
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    names = []
    for i, array in enumerate(pixels):
        name = f"images/{i:05d}.png"
        Image.fromarray(array).save(folder / name)
        names.append(name)
    paths = {}
    for manifest, field in MANIFESTS.items():
        path = folder / f"{manifest}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["path", "label"])
            for name, portrait in zip(names, portraits, strict=True):
                writer.writerow([name, portrait.truth()[field]])
        paths[manifest] = path
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m generators.sandbox.heldout", description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=HELD_OUT_SEED)
    args = parser.parse_args(argv)
    for path in write_heldout(args.folder, args.count, args.seed).values():
        print(path)


if __name__ == "__main__":
    main()
