"""Benchmarks that cannot rot: every ``benchmarks.*`` module runs to the end in its ``--quick`` mode.

Each runs as its own ``python -m benchmarks.NAME --quick`` process, as a user would start it; the test
checks that it exits 0 and prints the lines that carry its figures, never the figures themselves (they
vary from machine to machine, and a quick run's mean little).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

# The lines each benchmark's figures are printed on (regular expressions, one per line that must appear).
FIGURE_LINES = {
    "demo": [r"^total\s+[\d.]+\s+[\d.]+$", r"^verdict: (PASS|FAIL|NOT JUDGED) "],
    "sampling": [r"^ratio_vs_diffusers: [\d.]+$", r"^fraction_of_floor: [\d.]+$"],
    "scoring": [r"^ratio_vs_loop: [\d.]+ ", r"^fraction_of_floor: [\d.]+ "],
    "report": [r"^report_seconds: [\d.]+$", r"^report_mb: [\d.]+$"],
    "pipeline": [
        r"^overhead_ms_per_image: [\d.]+ ",
        r"^growth: [\d.]+ ",
        r"^gate_s: [\d.]+ .*: (pass|fail|not judged)\)$",
    ],
    "sequential": [r"^images_ratio_vs_fixed: [\d.]+ ", r"^power_ratio: [\d.]+ "],
    "dcgan_faces": [r"^face found: \d+/16 ", r"^gate verdict: ", r"^generation with PNG writes: \d+ images/s"],
    "photo_validation": [r"^## face detection recall", r"^spearman\(monk, ", r"^ours \(threshold "],
}


def _benchmark_modules() -> list[str]:
    """The modules of benchmarks/ that run as a program (``if __name__ == "__main__"``)."""
    names = []
    for path in sorted((REPO / "benchmarks").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(isinstance(node, ast.If) and "__main__" in ast.unparse(node.test) for node in tree.body):
            names.append(path.stem)
    return names


def test_every_benchmark_has_a_quick_mode_and_is_run_here():
    modules = _benchmark_modules()
    assert set(modules) == set(FIGURE_LINES), "a benchmark without its figure lines here is not run in CI"
    for name in modules:
        assert "--quick" in (REPO / "benchmarks" / f"{name}.py").read_text(encoding="utf-8"), name


def _stand_in_photographs(folder: Path) -> list[str]:
    """UTKFace-style chips and a portraits folder made of the photographs that ship in installed packages.

    Two photographs (matplotlib's Grace Hopper, scikit-image's astronaut) under every race and gender label:
    the study's code runs end to end on them; its figures mean nothing.
    """
    matplotlib = pytest.importorskip("matplotlib")
    skimage_data = pytest.importorskip("skimage.data")
    from PIL import Image

    photos = [
        Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg").convert("RGB"),
        Image.fromarray(skimage_data.astronaut()),
    ]
    faces, portraits = folder / "faces", folder / "portraits"
    faces.mkdir()
    portraits.mkdir()
    for race in range(5):
        for gender, photo in enumerate(photos):
            for k in range(2):
                photo.save(faces / f"{30 + k}_{gender}_{race}_2017010{k}.jpg")
    for i, photo in enumerate(photos):
        photo.save(portraits / f"{i}.jpg")
    return ["--faces", str(faces), "--portraits", str(portraits)]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FIGURE_LINES))
def test_benchmark_runs_to_the_end_in_quick_mode(name, tmp_path):
    args = ["--quick"]
    if name == "dcgan_faces":
        pytest.importorskip("gan_face_generate", reason="make faces installs the DCGAN face generator")
        pytest.importorskip("nudenet", reason="the dcgan-faces audit's nudity check needs NudeNet (dev extra)")
    if name == "photo_validation":
        pytest.importorskip("nudenet", reason="the study measures NudeNet (dev extra)")
        args += _stand_in_photographs(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{name}", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    lines = [line.strip() for line in done.stdout.splitlines()]
    for pattern in FIGURE_LINES[name]:
        assert any(re.search(pattern, line) for line in lines), f"no line like {pattern!r} in:\n{done.stdout[-3000:]}"
