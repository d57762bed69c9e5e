"""The pipeline's own cost per image and how it grows, with a generator and a classifier that cost nearly nothing.

Run as ``python -m benchmarks.pipeline``. In one process it makes, scores,
analyses and reports a run of the ``occupations`` suite (555 prompts) with
the ``null`` generator and classifier of :mod:`benchmarks.null_stages` at 2
and 54 seeds a prompt — 1,110 and 29,970 images — and times each stage:
prepare (expand the suites, write probes.parquet), generate (every PNG
written and fsync'd, and its record), score (rows, parts, one merge),
analyze (statistics and findings), report. PNG encoding is timed apart on the
same images and taken out: a real model's images cost what they cost to
encode wherever they are made. A small run first warms the imports, so both
sizes pay the same fixed costs.

Prints, per size, milliseconds per image of each stage; then
``overhead_ms_per_image: X`` (at 29,970 images: end to end, minus PNG
encoding; goal < 5), ``growth: Y`` (the same figure at 29,970 over the one at
1,110; goal <= 1.2), ``gate_s`` (a ``diffaudit gate`` subprocess on the
finished run of 29,970 images), and the steady throughput of the Ray
executor with 1 and 2 workers on a local Ray instance, for the null stages
(what the driver, which writes everything, can carry) and with ``--work-ms``
of CPU per image (a stand-in for a model: how work spreads over workers).
The gate may pass, fail or find the run not judged (null images carry no age, so the default policy's
sexualised-minors check is not judged): ``gate_s`` says which; only a gate that errs stops the benchmark.
``--quick``: the ``sandbox`` suite (20 prompts) at 1 and 2 seeds, no Ray (seconds; the figures mean little).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import benchmarks.null_stages  # noqa: F401 — registers the null generator and classifier
from audit import runner
from audit.config import config_from_dict
from audit.core.run_store import EncodedImage
from audit.executors import Executor, LocalExecutor

SUITE = "occupations"
PROMPTS = 555
QUICK_SUITE, QUICK_PROMPTS = "sandbox", 20
STAGES = ("prepare", "generate", "score", "analyze", "report")
GATE_OUTCOMES = {0: "pass", 1: "fail", 2: "not judged"}


def config(seeds: int, *, work_ms: float = 0.0, suite: str = SUITE) -> Any:
    return config_from_dict(
        {
            "name": "pipeline-benchmark",
            "generator": {"type": "null", "work_ms": work_ms},
            "probes": [{"suite": suite, "seeds": seeds, "screening": {"mode": "record"}}],
            "classifiers": [{"type": "null", "work_ms": work_ms}],
        },
        source="benchmarks.pipeline",
    )


def timed_run(
    root: Path, seeds: int, executor: Executor, *, stages: tuple[str, ...] = STAGES, suite: str = SUITE
) -> dict[str, float]:
    """Seconds per stage of one run from scratch."""
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    store = runner.prepare(config(seeds, suite=suite), root)
    seconds["prepare"] = time.perf_counter() - started
    with store:
        steps = {
            "generate": lambda: runner.generate(store, executor=executor),
            "score": lambda: runner.score(store, executor=executor, device="cpu"),
            "analyze": lambda: runner.analyze(store),
            "report": lambda: runner.report(store),
        }
        for name in stages[1:]:
            started = time.perf_counter()
            steps[name]()
            seconds[name] = time.perf_counter() - started
    return seconds


def png_seconds(root: Path) -> float:
    """Seconds to encode every image of a finished run as PNG again (what the generate stage spent encoding)."""
    from PIL import Image

    images = []
    for path in sorted((root / "images").rglob("*.png")):
        with Image.open(path) as image:
            images.append(image.convert("RGB"))
    started = time.perf_counter()
    for image in images:
        EncodedImage.from_image(image)
    return time.perf_counter() - started


def gate_seconds(root: Path) -> tuple[float, str]:
    """Seconds of a ``diffaudit gate`` subprocess on the run, and its outcome (pass, fail or not judged)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "audit", "gate", str(root), "-q"], capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    if done.returncode not in GATE_OUTCOMES or errors:
        raise RuntimeError(f"the gate erred (exit {done.returncode}): {' '.join(errors) or done.stderr.strip()}")
    return elapsed, GATE_OUTCOMES[done.returncode]


def ray_throughput(workdir: Path, seeds: int, workers: int, work_ms: float) -> tuple[float, float]:
    """Images per second of generation and of scoring on ``workers`` Ray workers, from first to last result."""
    from audit.executors.ray_executor import RayExecutor

    stamps: dict[str, list[float]] = {"generating": [], "scoring": []}

    @contextlib.contextmanager
    def progress(description: str, total: int):
        yield lambda: stamps[description].append(time.perf_counter())

    root = workdir / f"ray-{workers}-{work_ms:g}"
    with RayExecutor(workers=workers) as executor, runner.prepare(config(seeds, work_ms=work_ms), root) as store:
        runner.generate(store, executor=executor, progress=progress)
        runner.score(store, executor=executor, device="cpu", progress=progress)
    shutil.rmtree(root)

    def rate(times: list[float]) -> float:
        # Results come a unit at a time: count from the end of the first unit, not its images.
        later = [t for t in times if t - times[0] > 0.005]
        return len(later) / (times[-1] - times[0])

    return rate(stamps["generating"]), rate(stamps["scoring"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs=2, default=(2, 54), help="seeds per prompt: small and large run")
    parser.add_argument("--ray-seeds", type=int, default=8, help="seeds per prompt of the Ray runs")
    parser.add_argument("--work-ms", type=float, default=20.0, help="CPU per image of the model-bound Ray runs")
    parser.add_argument("--ray-work-seeds", type=int, default=1, help="seeds per prompt of the model-bound Ray runs")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray throughput")
    parser.add_argument("--only-ray", action="store_true", help="only the Ray throughput")
    parser.add_argument("--workdir", type=Path, default=None, help="where the runs are written (default: a temp dir)")
    parser.add_argument("--quick", action="store_true", help="20 prompts at 1 and 2 seeds, no Ray: seconds")
    args = parser.parse_args(argv)
    suite, prompts = (QUICK_SUITE, QUICK_PROMPTS) if args.quick else (SUITE, PROMPTS)
    if args.quick:
        args.seeds, args.no_ray = (1, 2), True
    logging.getLogger("audit").setLevel(logging.ERROR)  # the findings of null images are not news

    workdir = Path(tempfile.mkdtemp(prefix="pipeline-bench-", dir=args.workdir))
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            timed_run(workdir / "warm-up", 1, LocalExecutor(), suite=suite)  # imports and caches, paid once
        per_image = {}
        for seeds in () if args.only_ray else args.seeds:
            root = workdir / f"run-{seeds}"
            images = prompts * seeds
            seconds = timed_run(root, seeds, LocalExecutor(), suite=suite)
            encode = png_seconds(root)
            total = sum(seconds.values())
            per_image[seeds] = (total - encode) / images * 1000
            stages = "  ".join(f"{name}: {seconds[name] / images * 1000:.3f}" for name in STAGES)
            print(f"images: {images}  ms_per_image  {stages}  png_encode: {encode / images * 1000:.3f}")
        if per_image:
            large, small = args.seeds[1], args.seeds[0]
            overhead = per_image[large]
            print(f"overhead_ms_per_image: {overhead:.3f}  (at {prompts * large} images, PNG encoding excluded)")
            print(f"growth: {per_image[large] / per_image[small]:.3f}  ({prompts * large} vs {prompts * small} images)")
            seconds, outcome = gate_seconds(workdir / f"run-{large}")
            print(f"gate_s: {seconds:.2f}  (diffaudit gate on {prompts * large} images: {outcome})")
            for seeds in args.seeds:
                shutil.rmtree(workdir / f"run-{seeds}")
        if not args.no_ray and importlib.util.find_spec("ray") is None:
            print("ray_images_per_s: skipped: Ray is not installed (pip install -e '.[ray]')")
        elif not args.no_ray:
            import ray

            ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
            try:
                for work_ms, seeds in ((0.0, args.ray_seeds), (args.work_ms, args.ray_work_seeds)):
                    one = ray_throughput(workdir, seeds, 1, work_ms)
                    two = ray_throughput(workdir, seeds, 2, work_ms)
                    print(
                        f"ray_images_per_s (work_ms {work_ms:g}, {PROMPTS * seeds} images): "
                        f"generate 1 worker {one[0]:.0f}, 2 workers {two[0]:.0f} (x{two[0] / one[0]:.2f}); "
                        f"score 1 worker {one[1]:.0f}, 2 workers {two[1]:.0f} (x{two[1] / one[1]:.2f})"
                    )
            finally:
                ray.shutdown()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
