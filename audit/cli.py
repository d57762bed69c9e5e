"""The ``diffaudit`` command line: one verb per stage, each reading the run directory.

Logs and progress go to stderr; results go to files in the run directory,
and the paths of what was written go to stdout. Errors the user can act on
are one line and exit code 2.
"""

from __future__ import annotations

import functools
import logging
import sys
import traceback
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Annotated, Any

import click
import typer

from audit.builtin_configs import builtin_configs
from audit.core.errors import ConfigError, DiffauditError

app = typer.Typer(
    name="diffaudit",
    help="Audit generative image models for social bias and safety.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
suites_app = typer.Typer(help="List and show the built-in prompt suites.", no_args_is_help=True)
app.add_typer(suites_app, name="suites")

log = logging.getLogger("diffaudit")

Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars; warnings and errors only.")]
Verbose = Annotated[
    bool,
    typer.Option("--verbose", "-v", help="Also the libraries' own log messages, and a traceback with an error."),
]
RunDir = Annotated[Path, typer.Argument(help="A run directory written by an earlier stage.")]
Out = Annotated[Path | None, typer.Option("--out", "-o", help="Run directory (default: <output>/<name>).")]
Resume = Annotated[bool, typer.Option("--resume", help="Continue the run in the run directory.")]
ExecutorName = Annotated[
    str | None, typer.Option("--executor", help="Where generation and scoring run: local or ray (default: config's).")
]
Address = Annotated[
    str | None,
    typer.Option("--address", help="Ray cluster to join: auto, or ray://HOST:10001 (default: start a local one)."),
]
Workers = Annotated[
    int | None, typer.Option("--workers", help="Ray workers (default: one per GPU, or one per CPU without GPUs).")
]


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"diffaudit {version('diffaudit')}")
        except PackageNotFoundError:
            typer.echo("diffaudit (version unknown: not installed, running from source)")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Audit generative image models for social bias and safety."""


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


# Loggers of diffaudit's own packages; every other logger (open_clip logs on the root one) is a library's.
OWN_LOGGERS = ("diffaudit", "audit", "generators", "probes", "reports")


def _own_or_error(record: logging.LogRecord) -> bool:
    """Whether a log record is shown without --verbose: diffaudit's own, or a library's error."""
    return record.name.split(".")[0] in OWN_LOGGERS or record.levelno >= logging.ERROR


def _setup(quiet: bool, verbose: bool = False) -> None:
    from rich.logging import RichHandler

    level = logging.WARNING if quiet else logging.INFO
    handler = RichHandler(console=_stderr_console(), show_path=False, show_time=False)
    if not verbose:
        handler.addFilter(_own_or_error)
    logging.basicConfig(level=level, format="%(message)s", handlers=[handler], force=True)
    if not verbose:
        # Libraries' own chatter: set here, and again by generators after they import them.
        for name in ("diffusers", "transformers"):
            logging.getLogger(name).setLevel(logging.ERROR)


def _progress_factory(quiet: bool) -> Any:
    if quiet:
        return None

    @contextmanager
    def progress(description: str, total: int):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=_stderr_console(),
        ) as bar:
            task = bar.add_task(description, total=total)
            yield lambda: bar.advance(task)

    return progress


def _stage(func):
    """Run a verb: one-line errors with exit code 2 instead of tracebacks.

    An exception diffaudit has no message for (a bug) is one line too, saying so; ``--verbose`` adds its
    traceback. The tests feed every verb random, truncated and mistyped files and require the first kind.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        verbose = kwargs.get("verbose", False)
        _setup(kwargs.get("quiet", False), verbose)
        try:
            return func(*args, **kwargs)
        except DiffauditError as exc:
            if verbose:
                traceback.print_exc()
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("interrupted: finished images are kept; continue with --resume", err=True)
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Exception as exc:
            if verbose:
                traceback.print_exc()
            text = str(exc).strip().splitlines()
            typer.echo(
                f"error: {type(exc).__name__}{': ' + text[0] if text else ''} ({UNEXPECTED})",
                err=True,
            )
            raise typer.Exit(2) from None

    return wrapper


# What an error without a message of ours adds: it is a bug to report, and how to see more.
UNEXPECTED = "diffaudit has no message for this error: please report it, with the output of --verbose"


@app.command()
@_stage
def run(
    config: Annotated[
        Path | None,
        typer.Argument(
            help="Run config YAML or a built-in config name: "
            + ", ".join(builtin_configs())
            + " (default: the built-in sandbox audit; `diffaudit configs` describes them)."
        ),
    ] = None,
    out: Out = None,
    resume: Resume = False,
    executor: ExecutorName = None,
    address: Address = None,
    workers: Workers = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Run every stage: generate, score, analyze, report; print the verdict table."""
    from audit import runner
    from audit.config import load_config

    cfg = load_config(config)
    with _executor(executor or cfg.executor, address, workers, cfg) as stages:
        runner.check_stages_available(cfg)
        with runner.prepare(cfg, out, resume=resume) as store, runner.discarded_if_it_fails_unstarted(store):
            log.info("run directory %s", store.root)
            runner.sample(store, executor=stages, progress=_progress_factory(quiet))
            runner.analyze(store)
            written = runner.report(store)
    typer.echo(f"run: {store.root}")
    typer.echo(f"report: {written['report.html']}")
    from audit.commands.verdict import verdict_lines

    _echo_lines(["", *verdict_lines(store)])


def _executor(name: str, address: str | None, workers: int | None, config: Any) -> Any:
    """The executor the stages of ``config`` run on.

    When a stage may fetch a model, the hub is probed first (see audit.core.hub); when none does, the run
    works offline and sends nothing to the hub.
    """
    from audit import runner
    from audit.core.hub import offline_unless_hub_reachable, work_offline
    from audit.executors import make_executor

    if runner.from_hub(config):
        offline_unless_hub_reachable()
    else:
        work_offline()
    return make_executor(name, address=address, workers=workers)


@app.command()
@_stage
def generate(
    target: Annotated[Path, typer.Argument(help="A run config YAML (starts a run) or a run directory (continues it).")],
    out: Out = None,
    resume: Resume = False,
    executor: ExecutorName = None,
    address: Address = None,
    workers: Workers = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Generate the images of a run (only those still missing)."""
    from audit import runner
    from audit.config import load_config
    from audit.core.run_store import RunStore

    if target.is_dir():
        store = RunStore.open(target)
        started = nullcontext()
    else:
        store = runner.prepare(load_config(target), out, resume=resume)
        started = runner.discarded_if_it_fails_unstarted(store)
    with store, started:
        config = runner.load_run_config(store)
        with _executor(executor or config.executor, address, workers, config) as stages:
            counts = runner.generate(store, executor=stages, progress=_progress_factory(quiet))
    log.info("%(made)d made, %(failed)d failed, %(total)d in the run", counts)
    typer.echo(f"run: {store.root}")
    if counts["failed"]:
        raise typer.Exit(1)


@app.command()
@_stage
def score(
    run_dir: RunDir,
    batch_size: Annotated[int, typer.Option(help="Images per classifier batch.")] = 32,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps.")] = "auto",
    amp: Annotated[bool, typer.Option(help="float16 autocast on CUDA.")] = True,
    flush_every: Annotated[
        int, typer.Option(help="Save scores every N images: at most this much work is lost to a crash.")
    ] = 512,
    executor: ExecutorName = None,
    address: Address = None,
    workers: Workers = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Score every image with the run's classifiers (writes scores.parquet)."""
    from audit import runner
    from audit.core.run_store import SCORES, RunStore

    with RunStore.open(run_dir) as store:
        config = runner.load_run_config(store)
        with _executor(executor or config.executor, address, workers, config) as stages:
            counts = runner.score(
                store,
                batch_size=batch_size,
                device=device,
                amp=amp,
                flush_every=flush_every,
                executor=stages,
                progress=_progress_factory(quiet),
            )
        has_scores = store.has_table(SCORES)
    log.info("%(scored)d scored, %(skipped)d already scored, %(total)d images in the run", counts)
    if has_scores:  # a run without classifiers has none
        typer.echo(f"scores: {store.root / SCORES}")


@app.command("validate-classifier")
@_stage
def validate_classifier(
    data: Annotated[
        Path, typer.Argument(help="A folder of <label>/<image> sub-folders, or a CSV with path,label[,group].")
    ],
    classifier: Annotated[
        str, typer.Option("--classifier", "-c", help="A classifier type (clip, skin_tone, ...) or a YAML file.")
    ],
    attribute: Annotated[str, typer.Option("--attribute", "-a", help="The attribute whose labels are checked.")],
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="Classifier parameter key=value (repeatable).")
    ] = None,
    label_map: Annotated[
        list[str] | None, typer.Option("--map", help="Data label to classifier label, data=classifier (repeatable).")
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="The validation file to write.")] = Path("validation.json"),
    describe: Annotated[
        str, typer.Option("--describe", help="What the images are (source, licence, selection), kept in the file.")
    ] = "",
    batch_size: Annotated[int, typer.Option(help="Images per classifier batch.")] = 32,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps.")] = "auto",
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Check a classifier on labelled images and write a validation file: confusion matrix, accuracy and
    abstention with 95% intervals overall and per true group, and what the data were. Attach it to the
    classifier in a run config (validation:) so reports and policies know the attribute is validated."""
    from audit.commands.validate_classifier import validate_command

    _finish(
        *validate_command(
            data,
            classifier,
            attribute,
            params=param or [],
            label_map=label_map or [],
            out=out,
            batch_size=batch_size,
            device=device,
            description=describe,
        )
    )


@app.command()
@_stage
def annotate(
    run_dir: RunDir,
    attribute: Annotated[str, typer.Option("--attribute", "-a", help="The attribute to label (as scored).")],
    classifier: Annotated[
        str | None, typer.Option("--classifier", "-c", help="The classifier id, when several score the attribute.")
    ] = None,
    annotator: Annotated[
        str | None, typer.Option("--annotator", help="Your name in the labels file (default: $USER).")
    ] = None,
    width: Annotated[
        float, typer.Option(help="Width wanted for the 95% interval of each corrected share; sets the sample size.")
    ] = 0.2,
    size: Annotated[int | None, typer.Option(help="Label this many images instead (overrides --width).")] = None,
    set_aside: Annotated[
        float, typer.Option(help="Share of images expected to be set aside (not a person, unsure).")
    ] = 0.1,
    accuracy: Annotated[
        float, typer.Option(help="Share of decided images the classifier is assumed right on, to size the sample.")
    ] = 0.8,
    seed: Annotated[int, typer.Option(help="Seed of the sample.")] = 0,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: any free one).")] = 0,
    plan_only: Annotated[bool, typer.Option("--plan-only", help="Print the sample and stop.")] = False,
    quiet: Quiet = False,
) -> None:
    """Label a stratified sample of the run's own images in the browser (served on 127.0.0.1): one image at a
    time, a key per label, 'not a person' and 'unsure', undo; resumable. The labels file it writes is what
    validate-classifier reads, to validate the classifier on this run and correct its shares."""
    from audit.commands.annotate import annotate_command

    annotate_command(
        run_dir,
        attribute,
        classifier=classifier,
        annotator=annotator,
        width=width,
        size=size,
        set_aside=set_aside,
        accuracy=accuracy,
        seed=seed,
        port=port,
        plan_only=plan_only,
        echo=typer.echo,
    )


@app.command()
@_stage
def analyze(
    run_dir: RunDir,
    validation: Annotated[
        list[Path] | None,
        typer.Option(help="Classifier validation JSON (repeatable): also correct shares for classifier error."),
    ] = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Compute statistics and findings from the scores (writes tables/ and findings.json)."""
    from audit.commands.analyze import analyze_command

    _finish(*analyze_command(run_dir, validation))


@app.command()
@_stage
def report(
    run_dir: RunDir,
    thumbnails_per_prompt: Annotated[
        int | None,
        typer.Option(min=0, help="Images shown per prompt in the report (default 8); the statistics use all."),
    ] = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Render report.html, summary.json, summary.md and junit.xml from the run directory alone."""
    from audit import runner
    from audit.core.run_store import RunStore

    with RunStore.open(run_dir) as store:
        for name, path in runner.report(store, thumbnails_per_prompt=thumbnails_per_prompt).items():
            typer.echo(f"{name}: {path}")


@app.command()
@_stage
def gate(
    run_dir: RunDir,
    policy: Annotated[str | None, typer.Option(help="Policy YAML or built-in name (default: the run's).")] = None,
    validation: Annotated[
        list[Path] | None,
        typer.Option(help="Classifier validation JSON (repeatable), for checks that correct or require it."),
    ] = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Exit 0 if the policy passes, 1 if a check fails (or passes underpowered under `underpowered: fail`), 2 if most
    groups were not judged or on an error."""
    from audit.commands.gate import gate_command

    _finish(*gate_command(run_dir, policy, validation))


@app.command()
@_stage
def compare(
    baseline: Annotated[Path, typer.Argument(help="Run directory of the baseline model.")],
    candidate: Annotated[Path, typer.Argument(help="Run directory of the candidate model.")],
    policy: Annotated[str | None, typer.Option(help="Policy YAML or built-in name.")] = None,
    alpha: Annotated[float, typer.Option(help="False discovery rate (Benjamini-Hochberg) over all groups.")] = 0.05,
    fail_on_regression: Annotated[
        bool, typer.Option("--fail-on-regression", help="Exit 1 when a group is significantly worse.")
    ] = False,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the comparison as JSON here.")] = None,
    design: Annotated[
        str,
        typer.Option(
            help="auto: paired when the runs share their prompts and seeds (a run and its mitigated twin); "
            "paired; or unpaired (two models)."
        ),
    ] = "auto",
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Did the candidate get worse than the baseline, or a mitigation help? Paired when the runs share seeds."""
    from audit.commands.compare import compare_command

    if design not in ("auto", "paired", "unpaired"):
        raise ConfigError(f"--design: expected auto, paired or unpaired, got {design!r}")
    _finish(
        *compare_command(
            baseline, candidate, policy, alpha=alpha, fail_on_regression=fail_on_regression, out=out, design=design
        )
    )


@app.command()
@_stage
def rebalance(
    run_dir: RunDir,
    attribute: Annotated[
        str, typer.Option("--attribute", "-a", help="The attribute to rebalance (for example marker).")
    ],
    count: Annotated[int, typer.Option("--count", "-n", help="Images per prompt in the dataset.")],
    target: Annotated[
        str, typer.Option(help="'uniform' or a YAML/JSON file of label: share (normalised).")
    ] = "uniform",
    classifier: Annotated[
        str | None, typer.Option(help="The classifier id whose labels count (when several score the attribute).")
    ] = None,
    threshold: Annotated[
        float, typer.Option(help="Keep an image only when its label's probability is at least this.")
    ] = 0.8,
    budget: Annotated[int | None, typer.Option(help="Most new candidates per prompt (default 20 x count).")] = None,
    where: Annotated[
        list[str] | None, typer.Option(help="Only prompts whose attribute has this value, key=value (repeatable).")
    ] = None,
    describe: Annotated[
        list[str] | None,
        typer.Option(help="Words that ask a text-to-image model for a label, label=text (default: the label set's)."),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="The dataset folder (new).")] = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """A dataset of verified synthetic images that meets a target distribution of one attribute."""
    from audit.commands.rebalance import rebalance_command

    _finish(
        *rebalance_command(
            run_dir,
            attribute,
            target,
            count,
            classifier=classifier,
            threshold=threshold,
            budget=budget,
            out=out,
            where=where or [],
            describe=describe or [],
        )
    )


@app.command()
@_stage
def plan(
    suites: Annotated[list[str], typer.Argument(help="Built-in suite names or suite YAML paths.")],
    limit: Annotated[
        float, typer.Option(help="The deviation check's limit (total variation), as in the policy.")
    ] = 0.2,
    tv: Annotated[
        float | None, typer.Option(help="The deviation to catch, beyond the limit (default 1.5 x the limit).")
    ] = None,
    power: Annotated[float, typer.Option(help="Chance of failing a prompt at that deviation.")] = 0.8,
    alpha: Annotated[float, typer.Option(help="The check's alpha (Benjamini-Hochberg over prompts).")] = 0.05,
    categories: Annotated[int, typer.Option(help="Labels of the attribute, abstention excluded.")] = 2,
    unknown_rate: Annotated[float, typer.Option(help="Expected share of images the classifier abstains on.")] = 0.0,
    flag_rate: Annotated[
        float | None,
        typer.Option(
            help="Plan a zero-tolerance check (sexualised minors) instead: the per-image rate of flagged images "
            "a prompt must show to be caught with --power."
        ),
    ] = None,
    rate: Annotated[
        float | None,
        typer.Option(
            help="Plan a rate check instead (--limit is its max rate, e.g. 0.01): the per-image rate a prompt "
            "must show to be caught with --power."
        ),
    ] = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Seeds per prompt for the gate to fail a prompt beyond the limit, and what each suite's seeds give now."""
    from audit.commands.plan import plan_command

    _finish(
        *plan_command(
            suites,
            limit=limit,
            tv=tv,
            power=power,
            alpha=alpha,
            categories=categories,
            unknown_rate=unknown_rate,
            flag_rate=flag_rate,
            rate=rate,
        )
    )


def _finish(lines: list[str], code: int) -> None:
    """Print a verb's result lines to stdout and exit with its code."""
    for line in lines:
        typer.echo(line)
    if code:
        raise typer.Exit(code)


def _echo_lines(lines) -> None:
    """Print lines to stdout, stopping quietly when the reader goes away (``| head``)."""
    import os

    try:
        for line in lines:
            typer.echo(line)
        sys.stdout.flush()
    except BrokenPipeError:
        # Python flushes stdout again at exit; point it at devnull so that cannot fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


@suites_app.command("list")
@_stage
def suites_list(quiet: Quiet = False, verbose: Verbose = False) -> None:
    """The built-in suites with their prompt counts."""
    from audit.commands.suites import list_lines

    _echo_lines(list_lines())


@suites_app.command("show")
@_stage
def suites_show(
    name: Annotated[str, typer.Argument(help="A built-in suite name or a suite YAML path; NAME?key=value selects.")],
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Print the expanded prompts of a suite, one per line: item id, prompt, pair group."""
    from audit.commands.suites import show_lines

    _echo_lines(show_lines(name))


@app.command()
@_stage
def configs(quiet: Quiet = False, verbose: Verbose = False) -> None:
    """The built-in run configs, one line each: name, generator, images, policy (`diffaudit run NAME`)."""
    from audit.commands.configs import list_lines

    _echo_lines(list_lines())


@app.command()
@_stage
def screen(
    prompts: Annotated[list[str] | None, typer.Argument(help="Prompts to screen.")] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="A text file, one prompt per line.")] = None,
    suite: Annotated[
        str | None, typer.Option("--suite", help="Screen a suite's prompts; prints catch rates per category.")
    ] = None,
    category: Annotated[
        list[str] | None, typer.Option("--category", "-c", help="Screen only these categories (repeatable).")
    ] = None,
    terms: Annotated[Path | None, typer.Option(help="Your own terms file (format of the built-in one).")] = None,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="Show each prompt's normalised text, the rule that fired or the allow rule that spared a word, "
            "and the language it was read in (for an unsafe suite such as i2p: how often each rule fired, never "
            "the prompts).",
        ),
    ] = False,
    unscreened: Annotated[
        str,
        typer.Option(
            "--unscreened",
            help="A prompt in a language the screen has no word lists for (or whose language cannot be told): "
            "'block' it (exit 1) or 'report' it as not screened.",
        ),
    ] = "block",
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Screen prompts with the input screen: exit 1 if any is blocked, 0 if all pass."""
    from audit.commands.screen import screen_command

    lines, code = screen_command(
        prompts or [],
        file=file,
        suite=suite,
        categories=category,
        terms=terms,
        explain=explain,
        unscreened=unscreened,
    )
    _echo_lines(lines)
    raise typer.Exit(code)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
