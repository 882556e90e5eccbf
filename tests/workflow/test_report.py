"""Snakemake's HTML report of the tiny study holds every table and figure with its caption."""

import base64
import json
import re

import pytest
from workflow_runner import snakemake

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def report(tiny_study, tmp_path_factory):
    workdir, config = tiny_study
    path = tmp_path_factory.mktemp("report") / "report.html"
    snakemake(workdir, "--report", str(path), config=config)
    html = path.read_text()

    def embedded(name):
        match = re.search(rf'<script id="{name}">\s*var {name} = (.*?);?\s*</script>', html, re.S)
        assert match, f"no {name} in the report"
        return json.loads(match.group(1))

    return html, embedded("results"), embedded("categories")


EXPECTED = [
    "results/summary.md",
    "results/tables/trials.csv",
    "results/tables/comparisons.csv",
    "results/tables/robustness.csv",
    "results/tables/baseline.md",
    "results/tables/gaussian.md",
    "results/tables/unpaired.md",
    "results/plots/test_accuracy.png",
    "results/plots/training_curves.png",
    "results/plots/comparison_curves.png",
    "results/plots/per_class_accuracy.png",
    "results/plots/confusion_matrices.png",
    "results/plots/runtimes.png",
    "results/plots/corruption_accuracy.png",
    "results/plots/robustness_tradeoff.png",
    "results/plots/sweeps/sigma.png",
    "results/plots/noise_examples/cutout-size16.png",
    "results/plots/noise_examples/gaussian-sigma20.png",
    "results/plots/noise_examples/gaussian-sigma5.png",
    "results/plots/noise_examples/regional-amplitude25-patchsize5-patches3.png",
    "results/plots/noise_examples/saltpepper-amplitude50-probability0.1.png",
]


def test_every_output_is_in_the_report_with_a_caption(report):
    html, results, _ = report
    assert html.lstrip().lower().startswith("<!doctype html>")
    for name in EXPECTED:
        assert name in results, name
        assert len(re.sub("<[^>]+>", "", results[name]["caption"]).strip()) > 40, f"{name} has no caption"


def test_every_figure_is_an_embedded_png(report):
    _, results, _ = report
    figures = [name for name in results if name.endswith(".png")]
    assert len(figures) == 14  # 6 of the study, 2 of robustness, the sweep, 5 noise examples
    for name in figures:
        mime, data = results[name]["data_uri"].split(",", 1)
        assert mime.startswith("data:image/png;") and mime.endswith(";base64")
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"


def test_categories_per_experiment(report):
    _, _, categories = report
    assert {"Summary", "Experiments", "Robustness", "Noise sweeps", "Noise examples", "Runtime"} <= set(categories)
    assert {"baseline", "regional", "salt_pepper", "gaussian", "unpaired"} <= set(categories["Experiments"])
    assert categories["Experiments"]["regional"] == ["results/tables/regional.md"]


def test_the_report_opens_with_the_question_and_the_answer(report, tiny_study):
    html, _, _ = report
    workdir, _ = tiny_study
    landing = (workdir / "results" / "report" / "workflow.rst").read_text()
    assert "The answer so far" in landing and "``gaussian`` vs ``baseline``" in landing
    assert "And on corrupted test images" in landing.split("The answer so far")[1]
    assert "The question." in html and "The answer so far" in html
    assert re.search(r"gaussian</\w+> vs <\w+[^>]*>baseline", html), "the comparisons are not on the landing page"
