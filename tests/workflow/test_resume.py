"""make answer's resumable run (publish/resume.py) on a small tiny study: stopped after its first
trial, only its snapshot kept, carried on in a fresh checkout, it retrains none of the trials the
snapshot holds and ends with the aggregates of a run that was never stopped."""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys

import pytest
from workflow_runner import REPO, TINY_CORRUPTIONS, snakemake_env, tiny_config, write_config

from publish.resume import TRIAL_FILES

pytestmark = pytest.mark.slow

# What a checkout holds that the run needs (scripts/cifar_noise is a link: copied as one).
CHECKOUT = ("Snakefile", "config.yaml", "workflow", "cifar_noise", "scripts", "envs", "profiles", "publish")
# The columns of trials.csv that time a run rather than state its numbers.
TIMINGS = ("train_seconds", "eval_seconds", "wall_seconds", "images_per_second")


def checkout(folder):
    folder.mkdir()
    for name in CHECKOUT:
        copy = shutil.copytree if (REPO / name).is_dir() else shutil.copy2
        copy(REPO / name, folder / name, **({"symlinks": True} if (REPO / name).is_dir() else {}))
    return folder


def resume(folder, config, **popen):
    command = [sys.executable, "-m", "publish.resume", "--configfile", str(config), "--snapshot", "snap"]
    return subprocess.Popen(
        command, cwd=folder, env=snakemake_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen
    )


def finish(process, timeout=900):
    out, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, out
    return out.splitlines()


def numbers(folder):
    with open(folder / "snap/tables/trials.csv") as table:
        return [{k: v for k, v in row.items() if k not in TIMINGS} for row in csv.DictReader(table)]


@pytest.fixture(scope="module")
def config(tiny_archive, tmp_path_factory):
    archive, md5 = tiny_archive
    study = tiny_config(url=archive.as_uri(), md5=md5, corruptions=TINY_CORRUPTIONS)
    study["experiments"] = {name: study["experiments"][name] for name in ("baseline", "gaussian")}
    study.pop("sweeps")
    return write_config(tmp_path_factory.mktemp("config"), study)  # 6 trials with the step-matched baseline


@pytest.fixture(scope="module")
def uninterrupted(config, tmp_path_factory):
    folder = checkout(tmp_path_factory.mktemp("whole") / "checkout")
    finish(resume(folder, config))
    return folder


def test_a_run_stopped_and_carried_on_from_its_snapshot_alone_equals_one_never_stopped(config, uninterrupted, tmp_path):
    first = checkout(tmp_path / "first")
    process = resume(first, config)
    for line in process.stdout:  # killed as soon as a trial is in the snapshot, as a session's end may
        if " done: " in line:
            process.send_signal(signal.SIGKILL)
            break
    process.communicate(timeout=300)
    assert process.returncode != 0
    held = [path.parent for path in (first / "snap/experiments").glob("*/trial-*/robustness.json")]
    assert held, "the first trial is in the snapshot"
    # run.json has the killed session, up to the trial it reported
    session = json.loads((first / "snap/run.json").read_text())["sessions"][-1]
    assert line.split()[1] in session["finished"] and "ended" not in session
    if len(held) == 6:  # the stop came after the last trial: carry on without one of them
        shutil.rmtree(held[-1])
        held.pop()
    # A copy cut short by the kill can leave only a temporary (atomic_path's ".part" name, which
    # git ignores), never a partial file under its own name: each held trial's files are whole.
    for trial in held:
        assert json.loads((trial / "metrics.json").read_text())["params"]
        assert json.loads((trial / "robustness.json").read_text())

    fresh = checkout(tmp_path / "fresh")
    shutil.copytree(first / "snap", fresh / "snap")
    lines = finish(resume(fresh, config))
    assert not [p for p in (fresh / "snap").rglob("*.part")], "the next copy of a file clears its leftovers"
    assert lines[0] == f"{len(held)} of 6 trials done (snap), {6 - len(held)} to train"
    trained = [line.split()[1] for line in lines if " done: " in line]
    assert len(trained) == 6 - len(held)
    assert not {f"{p.parent.name}/{p.name}" for p in held} & set(trained)
    log = (fresh / "results/logs/resume.log").read_text()
    assert log.count("localrule train_trial:") == 6 - len(held)

    for name in ("summary.md", "tables/comparisons.csv", "tables/robustness.csv"):
        assert (fresh / "snap" / name).read_text() == (uninterrupted / "snap" / name).read_text(), name
    assert numbers(fresh) == numbers(uninterrupted)


def test_the_snapshot_holds_each_trials_small_outputs_and_no_data(uninterrupted):
    snap = uninterrupted / "snap"
    for pattern in TRIAL_FILES:  # the names the rules give them: a renamed output fails here
        assert (snap / pattern.format(experiment="gaussian", trial="01")).is_file(), pattern
    assert {"config.yaml", "run.json", "summary.md"} <= {p.name for p in snap.iterdir()}
    assert not [p for p in snap.rglob("*") if p.suffix in (".npy", ".keras")]
    assert os.path.getsize(snap / "run.json") > 0
