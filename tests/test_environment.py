"""The conda environment, requirements.in and the lock must pin the same versions."""
import re

import yaml

from workflow_runner import REPO


def pins(lines) -> dict[str, str]:
    found = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if match := re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)==([^\s;]+)", line):
            found[match.group(1).lower().replace("_", "-")] = match.group(2)
    return found


def lock() -> dict[str, str]:
    return pins((REPO / "requirements.lock").read_text().splitlines())


def test_requirements_in_matches_the_lock():
    direct = pins((REPO / "requirements.in").read_text().splitlines())
    assert direct, "requirements.in pins nothing"
    locked = lock()
    assert {name: locked.get(name) for name in direct} == direct


def test_conda_env_matches_the_lock():
    env = yaml.safe_load((REPO / "envs" / "study.yaml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda_pins = pins(pip_section)
    assert len(conda_pins) == len(pip_section), "every pip entry of envs/study.yaml must be pinned with =="
    locked = lock()
    assert {name: locked.get(name) for name in conda_pins} == conda_pins
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert python == "python=3.11"


def rule_blocks() -> dict[str, str]:
    text = "\n".join(p.read_text() for p in sorted((REPO / "workflow" / "rules").glob("*.smk")))
    parts = re.split(r"^rule (\w+):", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def test_every_rule_has_a_log_a_benchmark_and_the_conda_env():
    blocks = rule_blocks()
    assert len(blocks) >= 8
    for name, body in blocks.items():
        body = body.split("\nrule ")[0]
        assert "\n    log:" in body, f"rule {name} has no log"
        assert "\n    benchmark:" in body, f"rule {name} has no benchmark"
        assert "\n    conda:\n        ENV" in body, f"rule {name} does not name the conda env"
