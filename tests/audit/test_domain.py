"""Instruments have domains: a classifier made for one kind of image, on a run whose generator makes another,
has its attributes recorded but not judged — the checks, the report and derived measures (diversity) say why."""

import json

from PIL import Image

from audit import runner
from audit.config import config_from_dict
from audit.core.records import GenerationRecord, ProbeItem
from audit.core.run_store import VALIDATION, RunStore
from audit.findings import analyze_run, policy_from_dict, write_analysis
from generators.sandbox import balanced_bias, render_dataset
from reports import write_report

SANDBOX_CLIP = {"type": "clip", "model": "builtin:sandbox-clip", "label_set": "sandbox", "cache": False}
POLICY = {
    "name": "domains",
    "checks": [
        {"id": "tone-parity", "check": "deviation", "attribute": "skin_tone_group", "max": 0.3, "min_judged": 1},
        {"id": "faces", "check": "rate", "attribute": "face_detected", "label": "no", "max": 0.5, "min_judged": 1},
    ],
}


def _config(generator: dict):
    return config_from_dict(
        {
            "name": "domains",
            "generator": generator,
            "probes": [{"suite": "demo"}],
            "classifiers": [SANDBOX_CLIP, {"type": "skin_tone", "calibration": "swatch"}],
        },
        source="test.yaml",
    )


def test_the_sandbox_clip_is_in_its_domain_only_on_sandbox_renders():
    sandbox = runner.classifier_domains(_config({"type": "ddpm", "model": "builtin:sandbox-ddpm"}))
    assert sandbox["clip:sandbox-clip"]["in_domain"] and sandbox["clip:sandbox-clip"]["generator"] == "sandbox renders"
    other = runner.classifier_domains(_config({"type": "diffusers", "model": "builtin:tiny-sd"}))
    assert not other["clip:sandbox-clip"]["in_domain"]
    assert other["clip:sandbox-clip"]["reason"] == (
        "out of domain: clip:sandbox-clip was made for sandbox renders, this run's generator makes generated images"
    )
    (skin,) = [v for k, v in other.items() if k.startswith("skin_tone")]
    assert skin["in_domain"]
    # ITA's categories are made for photographs and the sandbox's swatches, not generated faces.
    ita = skin["attributes"]["ita_category"]
    assert not ita["in_domain"] and ita["reason"].startswith("out of domain: ita_category of skin_tone:")
    (sandbox_skin,) = [v for k, v in sandbox.items() if k.startswith("skin_tone")]
    assert sandbox_skin["attributes"]["ita_category"]["in_domain"]


def test_out_of_domain_attributes_are_recorded_not_judged_and_shown_greyed(tmp_path):
    config = _config({"type": "diffusers", "model": "builtin:tiny-sd"})
    pixels, _ = render_dataset(12, 3, table=balanced_bias())
    item = ProbeItem.create(suite="demo", prompt="a portrait", attributes={})
    with RunStore.create(tmp_path / "run", config=config.as_dict(), seeds={"demo": list(range(12))}) as store:
        store.write_probes([item])
        for seed, array in enumerate(pixels):
            record_id = GenerationRecord.make_record_id(item.item_id, seed)
            record = GenerationRecord(
                record_id=record_id, item_id=item.item_id, seed=seed, generator="t", generator_config="0"
            )
            store.save_generation(record, Image.fromarray(array).resize((128, 128)))
        runner.score(store, device="cpu")
        recorded = {e["attribute"]: e for e in json.loads((store.root / VALIDATION).read_text())["attributes"]}
        assert recorded["skin_tone_group"]["domain"]["in_domain"] is False
        assert recorded["face_detected"]["domain"]["in_domain"] is True
        # One attribute of an in-domain classifier can be out of its own, narrower domain.
        assert recorded["ita_category"]["domain"]["in_domain"] is False
        assert recorded["monk_skin_tone"]["domain"]["in_domain"] is True
        analysis = analyze_run(store, policy_from_dict(POLICY, source="p.yaml"))
        write_analysis(store, analysis)
        written = write_report(store)
    (tone,) = analysis.results["tone-parity"].findings
    assert (
        tone.status == "not_judged" and "out of domain: clip:sandbox-clip was made for sandbox renders" in tone.summary
    )
    assert analysis.results["tone-parity"].status == "not_judged"
    (faces,) = analysis.results["faces"].findings
    assert faces.status in ("pass", "fail")  # the skin-tone classifier's face detection is in its domain
    digest = json.loads(written["summary.json"].read_text())
    shown = {a["attribute"]: a for a in digest["attributes"]}
    assert shown["skin_tone_group"]["out_of_domain"].startswith("out of domain")
    assert shown["face_detected"]["out_of_domain"] is None
    assert "ita_category of skin_tone" in shown["ita_category"]["out_of_domain"]
    assert shown["monk_skin_tone"]["out_of_domain"] is None
    assert digest["diversity"] and all(d["out_of_domain"] for d in digest["diversity"])  # Vendi from that CLIP
    html = written["report.html"].read_text()
    assert html.count("out of domain: recorded, not judged") == sum(1 for a in shown.values() if a["out_of_domain"])
    assert "the diversity of its embeddings is shown greyed" in html
