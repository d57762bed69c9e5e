"""``diffaudit annotate RUN --attribute A``: a person labels a sample of the run's own images in a browser.

The sample is stratified by the classifier's label and by prompt, its size
set by the width wanted on the corrected shares' intervals
(:mod:`audit.stats.annotation_sample`), and saved beside the labels so a
session resumes on the same images. A small server on 127.0.0.1 shows one
large image at a time; a key per label, ``n`` for "not a person", ``u`` for
"unsure", Backspace to undo. Every key press rewrites the labels file
``RUN/annotations/<attribute>.csv`` (columns ``path,label,annotator,sha256,
record_id,run,classifier,classifier_label,time``; paths relative to the
file), which ``diffaudit validate-classifier`` reads as it is. Several
annotators label the same sample under their own names into the same file;
the validation then reports their agreement (kappa).

Nothing is fetched: the page is one file of this package, the images come
from the run directory, and the server listens on the loopback interface only.
"""

from __future__ import annotations

import csv
import datetime as _dt
import fcntl
import http.server
import io
import json
import os
import re
import threading
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from audit.core.constants import UNKNOWN
from audit.core.errors import ConfigError
from audit.core.run_store import RunStore

ANNOTATIONS = "annotations"
NOT_A_PERSON = "not_a_person"  # the same words audit.classifiers.validation sets aside
UNSURE = "unsure"
COLUMNS = ("path", "label", "annotator", "sha256", "record_id", "run", "classifier", "classifier_label", "time")
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_MAX_LABEL_KEYS = 9


def labels_path(run_dir: Path, attribute: str) -> Path:
    """Where the labels of ``attribute`` are kept in a run: ``annotations/<attribute>.csv``."""
    return Path(run_dir) / ANNOTATIONS / f"{_SAFE.sub('_', attribute)}.csv"


def plan_sample(
    store: RunStore,
    attribute: str,
    *,
    classifier: str | None = None,
    width: float = 0.2,
    size: int | None = None,
    set_aside: float = 0.1,
    accuracy: float = 0.8,
    seed: int = 0,
    save: bool = True,
) -> dict[str, Any]:
    """The sample to label: its size and why, the strata, and one entry per image (in labelling order).

    A sample saved earlier for this attribute is reused, so a session (or a
    second annotator) labels the same images. A larger ``size`` adds images
    to it (in proportion, the labelled ones kept, the new ones last); before
    any label is given, another size plans it afresh. With ``save=False``
    (``--plan-only``) a new plan is only shown, so trying widths fixes nothing.
    """
    import numpy as np

    from audit.findings.analysis import run_labels
    from audit.stats import labels_for_width, proportional_allocation, stratified_sample

    saved = labels_path(store.root, attribute).with_suffix(".sample.json")
    previous = None
    if saved.is_file():
        plan = read_saved_sample(saved)
        if size is None or size == plan["size"]:
            plan["resumed"] = True
            return plan
        given = labels_path(store.root, attribute)
        if given.is_file() and len(given.read_text(encoding="utf-8").splitlines()) > 1:
            if size < plan["size"]:
                raise ConfigError(
                    f"--size: the sample in {saved} has {plan['size']} images and labels were given; a larger size "
                    f"adds images, or delete {saved} and {given} to start again"
                )
            previous = plan
    labels, label_sets = run_labels(store)
    mine = labels[labels["attribute"] == attribute]
    if mine.empty:
        known = ", ".join(sorted(labels["attribute"].unique()))
        raise ConfigError(f"{store.root}: attribute: no scores for {attribute!r}; scored: {known}")
    classifiers = sorted(mine["classifier"].unique())
    if classifier is None:
        if len(classifiers) > 1:
            raise ConfigError(f"--classifier: {attribute} is scored by {', '.join(classifiers)}; name one")
        classifier = classifiers[0]
    elif classifier not in classifiers:
        raise ConfigError(
            f"--classifier: {classifier!r} does not score {attribute}; these do: {', '.join(classifiers)}"
        )
    mine = mine[mine["classifier"] == classifier]
    records = {r.record_id: r for r in store.generations() if r.ok}
    mine = mine[mine["record_id"].isin(records)]
    choices = [lab for lab in label_sets.get((classifier, attribute), []) if lab != UNKNOWN]
    counts = mine["label"].astype(str).value_counts()
    decided = [int(counts.get(lab, 0)) for lab in choices]
    if len(choices) > _MAX_LABEL_KEYS:
        raise ConfigError(f"{attribute} has {len(choices)} labels; the page has keys for at most {_MAX_LABEL_KEYS}")
    try:
        planned = labels_for_width(
            width,
            decided,
            abstention=float(counts.get(UNKNOWN, 0)) / len(mine),
            accuracy=accuracy,
            set_aside=set_aside,
            images=len(mine),
            seed=seed,
        )
    except ValueError as exc:
        raise ConfigError(f"{store.root}: {attribute}: cannot plan a sample: {exc}") from None
    wanted = planned["size"]
    n = min(size if size is not None else wanted, len(mine))
    strata: dict[tuple[str, str], list[str]] = {}
    for row in mine.itertuples(index=False):
        strata.setdefault((str(row.label), str(row.item_id)), []).append(row.record_id)
    if previous is None:
        chosen = stratified_sample(strata, n, seed=seed)
    else:
        chosen = [image["record_id"] for image in previous["images"]]
        taken = set(chosen)
        allocation = proportional_allocation({k: len(v) for k, v in strata.items()}, n)
        rest = {k: [r for r in v if r not in taken] for k, v in strata.items()}
        need = {k: min(len(rest[k]), max(0, allocation[k] - (len(strata[k]) - len(rest[k])))) for k in strata}
        rng = np.random.default_rng([seed, len(chosen)])
        extra = [
            rest[k][i]
            for k in sorted(strata, key=str)
            for i in sorted(rng.choice(len(rest[k]), need[k], replace=False))
        ]
        chosen += [extra[i] for i in rng.permutation(len(extra))][: n - len(chosen)]
    decided_label = dict(zip(mine["record_id"], mine["label"].astype(str), strict=True))
    prompts = dict(zip(mine["item_id"], mine["prompt"].astype(str), strict=True)) if "prompt" in mine else {}
    by_label: dict[str, list[int]] = {}
    for (label, _), members in strata.items():
        by_label.setdefault(label, [0, 0])
        by_label[label][1] += len(members)
    for rid in chosen:
        by_label[decided_label[rid]][0] += 1
    plan = {
        "run": store.config.get("name"),
        "attribute": attribute,
        "classifier": classifier,
        "labels": choices,
        "width": width,
        "set_aside": set_aside,
        "usable_for_width": planned["usable"],
        "size_for_width": wanted,
        "expected_width": planned["expected_width"],
        "width_reached": planned["reached"],
        "accuracy_assumed": accuracy,
        "size": n,
        "seed": seed,
        "strata": {
            "labels": {k: {"sample": v[0], "run": v[1]} for k, v in sorted(by_label.items())},
            "prompts": len({item for _, item in strata}),
        },
        "images": [
            {
                "record_id": rid,
                "image_path": records[rid].image_path,
                "sha256": records[rid].sha256,
                "classifier_label": decided_label[rid],
                "prompt": prompts.get(records[rid].item_id, ""),
            }
            for rid in chosen
        ],
        "resumed": False,
    }
    if save:
        saved.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(saved, json.dumps(plan, indent=1) + "\n")
    return plan


# What a saved sample must hold to be resumed (and to be described before it is).
_SAMPLE_KEYS = {"attribute": str, "classifier": str, "labels": list, "size": int, "strata": dict, "images": list}


def read_saved_sample(path: Path) -> dict[str, Any]:
    """A sample saved by an earlier session; a file cut short, edited or of another kind is one line naming it."""
    from audit.core.text_files import read_text

    remedy = "delete it to plan the sample afresh (labels given stay in the labels file)"
    try:
        plan = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not a saved sample (not JSON: {exc.msg}, line {exc.lineno}); {remedy}") from None
    if not isinstance(plan, dict):
        raise ConfigError(f"{path}: not a saved sample (a JSON {type(plan).__name__}, not an object); {remedy}")
    for key, kind in _SAMPLE_KEYS.items():
        if not isinstance(plan.get(key), kind):
            raise ConfigError(f"{path}: not a saved sample ({key}: {plan.get(key)!r}); {remedy}")
    images, strata = plan["images"], plan["strata"]
    if not images or not all(isinstance(i, dict) and isinstance(i.get("record_id"), str) for i in images):
        raise ConfigError(f"{path}: not a saved sample (images: each needs a record_id); {remedy}")
    counts = strata.get("labels")
    if not isinstance(strata.get("prompts"), int) or not isinstance(counts, dict):
        raise ConfigError(f"{path}: not a saved sample (strata: {strata!r:.80}); {remedy}")
    if not all(
        isinstance(c, dict) and isinstance(c.get("sample"), int) and isinstance(c.get("run"), int)
        for c in counts.values()
    ):
        raise ConfigError(f"{path}: not a saved sample (strata.labels: {counts!r:.80}); {remedy}")
    return plan


def describe_plan(plan: dict[str, Any], path: Path) -> list[str]:
    """What the sample is, in lines printed before labelling."""
    if plan["resumed"]:
        head = (
            f"resuming the sample of {plan['size']} images saved in {path.with_suffix('.sample.json')} "
            "(--size N with a larger N adds images to it; delete the file, before any label, to plan afresh)"
        )
    else:
        reach = (
            f"needs about {plan['usable_for_width']} usable labels"
            if plan["width_reached"]
            else f"is not reached even with {plan['usable_for_width']} labels (expected {plan['expected_width']:.2f})"
        )
        head = (
            f"sample: {plan['size']} images. A 95% interval at most {plan['width']:g} wide on each corrected share "
            f"{reach}, if the classifier is right on {plan['accuracy_assumed']:.0%} of the images it decides "
            f"(--accuracy; simulated with this run's shares and abstention); {plan['size_for_width']} with "
            f"{plan['set_aside']:.0%} more for images set aside as not a person or unsure"
        )
        if plan["size"] < plan["size_for_width"]:
            head += f"; {plan['size']} are taken (fewer images in the run, or --size)"
    strata = ", ".join(f"{label} {s['sample']} of {s['run']}" for label, s in plan["strata"]["labels"].items())
    return [
        head,
        f"stratified by {plan['classifier']}'s label and by prompt ({plan['strata']['prompts']} prompt(s)), "
        f"in proportion to the run: {strata}",
    ]


class AnnotationSession:
    """One annotator labelling a run's sample: the labels so far, in the order given, kept in the labels file."""

    def __init__(self, run_dir: Path, plan: dict[str, Any], annotator: str) -> None:
        if not annotator or not annotator.strip():
            raise ConfigError("--annotator: give a name (it tells annotators apart in the labels file)")
        self.root = Path(run_dir)
        self.plan = plan
        self.annotator = annotator.strip()
        self.path = labels_path(self.root, plan["attribute"])
        self.choices = [*plan["labels"], NOT_A_PERSON, UNSURE]
        self._lock = threading.Lock()
        self._index = {image["record_id"]: i for i, image in enumerate(plan["images"])}
        self.given: dict[int, dict[str, str]] = {}  # sample index -> row, in the order labelled
        for row in self._read_rows():
            if row["annotator"] == self.annotator and row["record_id"] in self._index:
                self.given[self._index[row["record_id"]]] = row

    @property
    def images(self) -> list[dict[str, Any]]:
        return self.plan["images"]

    def next_index(self) -> int | None:
        """The first image of the sample this annotator has not labelled; None when all are."""
        return next((i for i in range(len(self.images)) if i not in self.given), None)

    def state(self) -> dict[str, Any]:
        keys = [{"key": str(i + 1), "label": label} for i, label in enumerate(self.plan["labels"])]
        keys += [{"key": "n", "label": NOT_A_PERSON}, {"key": "u", "label": UNSURE}]
        return {
            "attribute": self.plan["attribute"],
            "annotator": self.annotator,
            "keys": keys,
            "total": len(self.images),
            "done": len(self.given),
            "next": self.next_index(),
            "labels_file": str(self.path),
        }

    def label(self, index: int, label: str) -> dict[str, Any]:
        """Record this annotator's label of sample image ``index`` (replacing an earlier one) and save."""
        if not 0 <= index < len(self.images):
            raise ValueError(f"no image {index} in a sample of {len(self.images)}")
        if label not in self.choices:
            raise ValueError(f"label {label!r} is not one of {', '.join(self.choices)}")
        image = self.images[index]
        with self._lock:
            self.given.pop(index, None)
            self.given[index] = {
                "path": os.path.relpath(self.root / image["image_path"], self.path.parent),
                "label": label,
                "annotator": self.annotator,
                "sha256": image.get("sha256") or "",
                "record_id": image["record_id"],
                "run": self.plan.get("run") or "",
                "classifier": self.plan["classifier"],
                "classifier_label": image["classifier_label"],
                "time": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            }
            self._save()
        return self.state()

    def undo(self) -> dict[str, Any]:
        """Take back this annotator's most recent label; the page shows that image again."""
        with self._lock:
            undone = next(reversed(self.given), None)
            if undone is not None:
                del self.given[undone]
                self._save()
        return {**self.state(), "next": undone if undone is not None else self.next_index()}

    # -- the labels file: every annotator's rows; each session rewrites its own under a lock ----------------
    @contextmanager
    def _locked(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read_rows(self) -> list[dict[str, str]]:
        if not self.path.is_file():
            return []
        from audit.core.text_files import read_text

        with io.StringIO(read_text(self.path), newline="") as fh:
            reader = csv.DictReader(fh)
            missing = {"path", "label", "annotator", "record_id"} - set(reader.fieldnames or [])
            if missing:
                raise ConfigError(
                    f"{self.path}: not a labels file of diffaudit annotate (no {', '.join(sorted(missing))})"
                )
            return list(reader)

    def _save(self) -> None:
        with self._locked():
            others = [row for row in self._read_rows() if row["annotator"] != self.annotator]
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
            writer.writeheader()
            writer.writerows(others)
            writer.writerows(self.given.values())
            _atomic_write(self.path, buffer.getvalue())


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def page_html() -> bytes:
    """The labelling page (one self-contained file: no script or style is fetched)."""
    return (resources.files("audit.commands") / "annotate_page.html").read_bytes()


class _Handler(http.server.BaseHTTPRequestHandler):
    session: AnnotationSession  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 — the base class's name
        pass  # the terminal shows the plan and the next steps, not every request

    def _send(self, body: bytes, content_type: str, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header(
            "Content-Security-Policy",
            "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src 'self'",
        )
        self.end_headers()
        self.wfile.write(body)

    def _json(self, value: Any, status: int = 200) -> None:
        self._send(json.dumps(value).encode("utf-8"), "application/json", status)

    def do_GET(self) -> None:  # noqa: N802 — http.server's name
        if self.path in ("/", "/index.html"):
            self._send(page_html(), "text/html; charset=utf-8")
        elif self.path == "/api/state":
            self._json(self.session.state())
        elif m := re.fullmatch(r"/image/(\d+)", self.path):
            index = int(m.group(1))
            images = self.session.images
            if index >= len(images):
                self._json({"error": "no such image"}, 404)
                return
            # The path comes from the run's own records by index, never from the request.
            data = (self.session.root / images[index]["image_path"]).read_bytes()
            self._send(data, "image/png")
        else:
            self._json({"error": "not found"}, 404)

    def _local(self) -> bool:
        """Only the page itself may write: a JSON request (other sites cannot send one without a CORS
        preflight, which this server never grants) addressed to the loopback name (no DNS rebinding)."""
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        kind = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        return host in ("127.0.0.1", "localhost") and kind == "application/json"

    def do_POST(self) -> None:  # noqa: N802
        if not self._local():
            self._json({"error": "refused: not a request of the labelling page"}, 403)
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path == "/api/label":
                self._json(self.session.label(int(body["index"]), str(body["label"])))
            elif self.path == "/api/undo":
                self._json(self.session.undo())
            else:
                self._json({"error": "not found"}, 404)
        except (ValueError, KeyError, TypeError) as exc:
            self._json({"error": str(exc)}, 400)


def make_server(session: AnnotationSession, *, port: int = 0) -> http.server.ThreadingHTTPServer:
    """A server for ``session`` on 127.0.0.1 (``port`` 0: any free one); call ``serve_forever()`` on it."""
    handler = type("AnnotateHandler", (_Handler,), {"session": session})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    return server


def next_steps(run_dir: Path, plan: dict[str, Any], classifier_file: Path) -> list[str]:
    """The commands that turn the labels into a validation and corrected shares."""
    labels = labels_path(run_dir, plan["attribute"])
    validation = labels.with_suffix(".validation.json")
    return [
        f"diffaudit validate-classifier {labels} --classifier {classifier_file} --attribute {plan['attribute']} "
        f"--out {validation}",
        f"diffaudit analyze {run_dir} --validation {validation}",
        f"diffaudit report {run_dir}",
    ]


def classifier_file(store: RunStore, plan: dict[str, Any]) -> Path:
    """A classifier YAML (type and parameters) of the run's classifier that scored the attribute, for
    ``validate-classifier --classifier``: the validation must be of the very classifier the run used."""
    import yaml

    from audit.classifiers.scoring import make_classifier

    for entry in (store.config or {}).get("classifiers") or []:
        params = {k: v for k, v in entry.items() if k not in ("type", "validation")}
        try:
            made = make_classifier(entry["type"], dict(params))
        except (ConfigError, KeyError):
            continue
        if made.classifier_id == plan["classifier"]:
            path = labels_path(store.root, plan["attribute"]).with_suffix(".classifier.yaml")
            _atomic_write(path, yaml.safe_dump({"type": entry["type"], **params}, sort_keys=False))
            return path
    raise ConfigError(f"{store.root}: run.yaml lists no classifier with id {plan['classifier']!r}")


def annotate_command(
    run_dir: Path,
    attribute: str,
    *,
    classifier: str | None = None,
    annotator: str | None = None,
    width: float = 0.2,
    size: int | None = None,
    set_aside: float = 0.1,
    accuracy: float = 0.8,
    seed: int = 0,
    port: int = 0,
    plan_only: bool = False,
    echo=print,
) -> int:
    """Print the sample, then serve the page until interrupted (or, with ``plan_only``, stop there)."""
    if width <= 0 or width > 1:
        raise ConfigError(f"--width: a width between 0 and 1, got {width}")
    if not 0 < accuracy <= 1:
        raise ConfigError(f"--accuracy: a share between 0 and 1, got {accuracy}")
    if not 0 <= set_aside < 1:
        raise ConfigError(f"--set-aside: a share in [0, 1), got {set_aside}")
    if size is not None and size < 1:
        raise ConfigError(f"--size: at least 1 image, got {size}")
    with RunStore.open(run_dir, lock=False) as store:
        plan = plan_sample(
            store,
            attribute,
            classifier=classifier,
            width=width,
            size=size,
            set_aside=set_aside,
            accuracy=accuracy,
            seed=seed,
            save=not plan_only,
        )
        made = None if plan_only else classifier_file(store, plan)
    path = labels_path(run_dir, attribute)
    for line in describe_plan(plan, path):
        echo(line)
    echo(f"labels file: {path}")
    if plan_only or made is None:
        return 0
    session = AnnotationSession(run_dir, plan, annotator or os.environ.get("USER") or "")
    server = make_server(session, port=port)
    echo(f"annotator {session.annotator}: {len(session.given)} of {len(session.images)} labelled so far")
    echo(f"open http://127.0.0.1:{server.server_address[1]}/ to label (Ctrl-C stops; every key press is saved)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    echo(f"{len(session.given)} of {len(session.images)} labelled by {session.annotator}; then:")
    for line in next_steps(Path(run_dir), plan, made):
        echo(f"  {line}")
    return 0
