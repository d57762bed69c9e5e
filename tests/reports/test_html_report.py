import json
import re

from markupsafe import escape

from audit import runner as stages
from audit.config import load_config
from reports import build_digest

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_report_is_self_contained_and_escapes_user_text(write_config, tiny_sd_path, tmp_path):
    suite = tmp_path / "hostile.yaml"
    suite.write_text(f"name: hostile\ntemplates: ['a {{who}}']\nslots:\n  who: ['{HOSTILE}']\nseeds: 2\n")
    config = write_config(
        f'name: r\ngenerator: {{type: diffusers, model: "{tiny_sd_path}", steps: 2}}\nprobes: [{{suite: "{suite}"}}]\n'
    )
    with stages.prepare(load_config(config), tmp_path / "run") as store:
        stages.generate(store)
        path = stages.report(store)["report.html"]
    page = path.read_text()
    assert "<script>alert" not in page and "<img src=x" not in page
    assert str(escape(f"a {HOSTILE}")) in page  # shown as text, in the heading and alt texts
    # Both images are inlined as thumbnails; nothing is fetched from elsewhere.
    assert len(re.findall(r'<img src="data:image/jpeg;base64,', page)) == 2
    markup = re.sub(r"<script>.*?</script>", "", page, flags=re.DOTALL)  # plotly.js's own strings aside
    assert not re.search(r'(src|href)="https?://', markup)


def test_digest_counts_what_the_run_holds(write_config, tiny_sd_path, tmp_path):
    """Counts come from the run directory alone; a run not yet analysed has no verdict, not a pass."""
    config = write_config(
        f'name: d\ngenerator: {{type: diffusers, model: "{tiny_sd_path}", steps: 2}}\nprobes: [{{suite: demo, seeds: 2}}]\n'
    )
    with stages.prepare(load_config(config), tmp_path / "run") as store:
        stages.generate(store)
    digest = build_digest(tmp_path / "run")
    assert digest["counts"] == {"prompts": 2, "images_expected": 4, "images_ok": 4, "images_failed": 0}
    assert [len(item["images"]) for item in digest["items"]] == [2, 2]
    assert digest["verdict"]["status"] == "not_analysed"


def test_findings_written_before_statuses_existed_still_render(write_config, tiny_sd_path, tmp_path):
    """A findings.json of the earlier format (no status, no list of checks) reads as it was meant."""
    from audit.core.records import Finding

    config = write_config(
        f'name: f\ngenerator: {{type: diffusers, model: "{tiny_sd_path}", steps: 2}}\nprobes: [{{suite: demo, seeds: 1}}]\n'
    )
    with stages.prepare(load_config(config), tmp_path / "run") as store:
        stages.generate(store)
        failed = Finding(
            check="gender-parity",
            scope={"prompt": HOSTILE},
            value=0.4123,
            ci=(0.31, 0.52),
            threshold=0.2,
            status="fail",
            severity="error",
            summary=f"{HOSTILE} deviates from parity",
        )
        store.write_json(
            "findings.json",
            {
                "policy": "mine",
                "policy_source": "mine.yaml",
                "verdict": "fail",
                "passed": False,
                "counts": {"findings": 1, "passed": 0, "failed": 1, "warnings": 0, "not_judged": 0, "skipped": 0},
                "findings": [failed.as_dict()],
            },
        )
        page = stages.report(store)["report.html"].read_text()
        summary = json.loads((store.root / "summary.json").read_text())
    assert "<script>alert" not in page and "<img src=x" not in page
    assert summary["verdict"]["status"] == "fail"
    assert summary["verdict"]["checks"][0]["status"] == "fail"
    assert "0.412" in page and "0.31 – 0.52" in page
    assert str(escape(HOSTILE)) + " deviates from parity" in page


def test_nothing_was_judged_is_said_only_when_no_check_was_judged(write_config, tiny_sd_path, tmp_path):
    """A not-judged verdict with a judged check says which checks were not judged, not that nothing was."""
    from audit.core.records import Finding

    config = write_config(
        f'name: n\ngenerator: {{type: diffusers, model: "{tiny_sd_path}", steps: 2}}\nprobes: [{{suite: demo, seeds: 1}}]\n'
    )
    passed = Finding(check="nudity-rate", scope={"prompt": "p"}, value=0.0, ci=(0.0, 0.3), threshold=0.01,
                     status="pass", severity="error", summary="p: 0 of 10")  # fmt: skip
    unjudged = Finding(check="sexualised-minors", scope={"prompt": "p"}, value=None, ci=None, threshold=0.0,
                       status="not_judged", severity="error", summary="age classifier unvalidated")  # fmt: skip
    pages = {}
    with stages.prepare(load_config(config), tmp_path / "run") as store:
        stages.generate(store)
        for name, findings in {"some": [passed, unjudged], "none": [unjudged]}.items():
            store.write_json(
                "findings.json",
                {"policy": "p", "policy_source": "p.yaml", "verdict": "not_judged", "passed": False,
                 "findings": [f.as_dict() for f in findings]},
            )  # fmt: skip
            pages[name] = stages.report(store)["report.html"].read_text()
    assert "Nothing was judged" not in pages["some"] and "1 check(s) could not be" in pages["some"]
    assert "Nothing was judged" in pages["none"]
