"""Where the time of the default run (`make demo`, `diffaudit run` with no config) goes.

Run as ``python -m benchmarks.demo [--out DIR] [--config NAME_OR_PATH] [--cli] [--quick]``. In one
process it does what ``diffaudit run`` does, stage by stage, into a fresh run directory, and
prints wall-clock and CPU seconds for each: imports, prepare (suites → probes.parquet),
sampling (generate), scoring, analysis (statistics and findings) and report (HTML and
summary), then the total. CPU seconds count every thread of the process, so on a machine
shared with other jobs they show what the run itself costs when wall time is inflated by
waiting. With ``--cli`` it also times ``python -m audit run`` as a subprocess, from process
start to exit — the figure `make demo` shows. ``--quick``: 2 seeds a prompt instead of the config's.
"""

from __future__ import annotations

import time

_START_WALL, _START_CPU = time.perf_counter(), time.process_time()

import argparse  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None, help="a run config (default: the built-in default)")
    parser.add_argument("--out", default=None, help="run directory (default: a temporary one, removed after)")
    parser.add_argument("--cli", action="store_true", help="also time `python -m audit run` as a subprocess")
    parser.add_argument("--quick", action="store_true", help="2 seeds a prompt: the whole run in seconds")
    args = parser.parse_args(argv)

    import torch

    from audit import runner
    from audit.commands.verdict import verdict_lines
    from audit.config import load_config

    rows = [("imports", time.perf_counter() - _START_WALL, time.process_time() - _START_CPU)]
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="diffaudit-demo-")) / "run"
    config = load_config(args.config)
    if args.quick:
        from benchmarks.quick import with_seeds

        config = with_seeds(config)

    def timed(name, func):
        wall, cpu = time.perf_counter(), time.process_time()
        value = func()
        rows.append((name, time.perf_counter() - wall, time.process_time() - cpu))
        return value

    runner.check_stages_available(config)
    store = timed("prepare", lambda: runner.prepare(config, out))
    with store:
        counts = timed("sampling", lambda: runner.generate(store))
        timed("scoring", lambda: runner.score(store))
        timed("analysis", lambda: runner.analyze(store))
        timed("report", lambda: runner.report(store))
    lines = verdict_lines(store)

    print(f"config: {config.source}; images: {counts['total']}; torch threads: {torch.get_num_threads()}")
    print(f"{'stage':<10} {'wall s':>8} {'cpu s':>8}")
    for name, wall, cpu in rows:
        print(f"{name:<10} {wall:>8.1f} {cpu:>8.1f}")
    print(f"{'total':<10} {sum(r[1] for r in rows):>8.1f} {sum(r[2] for r in rows):>8.1f}")
    print(lines[-1] if lines else "verdict: none")
    if args.cli:
        cli_out = out.parent / "cli-run"
        started = time.perf_counter()
        command = [sys.executable, "-m", "audit", "run", "--quiet", "--out", str(cli_out)]
        if args.config:
            command.insert(4, args.config)
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        print(f"python -m audit run (subprocess, start to exit): {time.perf_counter() - started:.1f} s wall")
    if not args.out:
        shutil.rmtree(out.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
