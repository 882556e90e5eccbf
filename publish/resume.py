"""Run a study in resumable parts, keeping every finished trial in a snapshot folder to commit.

    python -m publish.resume --configfile config/answer.yaml --snapshot results-cpu [snakemake args]

1. Restore: each trial the snapshot holds whole, with the parameters the config gives it now, is
   copied back into results/, where the run would have left it.
2. Run: snakemake builds the trials still missing, trial t of every experiment at a time (whole
   pairs first). They alone are its targets: a restored trial has no model, split or shards beside
   it, and asking for it would retrain it.
3. As each trial finishes, its small outputs (metrics.json, history.csv, robustness.json, the
   training and evaluation jobs' logs and benchmarks) go into the snapshot, each file written
   whole, with one progress line: done, left, time left.
4. When none is left, the aggregate rules run on the trial records as they are (train_trial is not
   among the allowed rules) and the summary, tables and plots go into the snapshot too.

Stopping it at any moment (Ctrl-C, SIGTERM, SIGKILL, the machine going away) loses at most the
trials in flight: the same command, in this checkout or a fresh clone with the committed snapshot,
carries on. A copy cut short leaves no partial file under a real name, only a temporary one
(".part", which git ignores), cleared when that file is next copied. Snakemake's own output goes to
results/logs/resume.log.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

from cifar_noise.fileio import atomic_path, write_text
from cifar_noise.provenance import cpu_flags, cpu_name
from cifar_noise.schema import validate_config
from cifar_noise.study import Study, Trial

# A trial's small outputs, relative to results/, as rules train_trial and evaluate_trial name them
# (tests/workflow/test_resume.py checks that a run writes each of them). robustness.json comes
# last: the evaluation job's benchmark is written once its output is there.
TRIAL_FILES = (
    "experiments/{experiment}/trial-{trial}/metrics.json",
    "experiments/{experiment}/trial-{trial}/history.csv",
    "logs/train_trial/{experiment}/trial-{trial}.log",
    "benchmarks/train_trial/{experiment}/trial-{trial}.tsv",
    "logs/evaluate_trial/{experiment}/trial-{trial}.log",
    "benchmarks/evaluate_trial/{experiment}/trial-{trial}.tsv",
    "experiments/{experiment}/trial-{trial}/robustness.json",
)
# The rules that turn trial records into the summary, tables and plots, and what they need.
AGGREGATES = ("aggregate_trials", "summarize", "plot_results", "plot_robustness")
ALLOWED = (*AGGREGATES, "clipping_share", "extract_dataset", "fetch_archive")
STUDY_OUTPUTS = ("summary.md", "tables", "plots")
RESULTS = Path("results")
RUN = "run.json"  # the sessions that made the snapshot: machine, threads, trials, times
POLL_SECONDS = 10


def trial_files(trial: Trial) -> list[str]:
    return [pattern.format(**trial.wildcards) for pattern in TRIAL_FILES]


def finished(folder: Path, trial: Trial) -> bool:
    """Whether ``folder`` holds all of the trial's files; a benchmark has its header and a row."""
    files = [folder / name for name in trial_files(trial)]
    return all(f.is_file() for f in files) and all(
        len(f.read_text().splitlines()) >= 2 for f in files if f.suffix == ".tsv"
    )


def recorded_params(folder: Path, trial: Trial) -> dict:
    return json.loads((folder / trial_files(trial)[0]).read_text())["params"]


def copy_trial(source: Path, dest: Path, trial: Trial) -> None:
    """Each file copied whole (a temporary name, then a rename), robustness.json last."""
    for name in trial_files(trial):
        with atomic_path(dest / name) as partial:
            shutil.copy2(source / name, partial)


def copy_study_outputs(source: Path, dest: Path) -> None:
    """A complete study's summary, tables and plots, each file whole, as a trial's files are."""
    for output in STUDY_OUTPUTS:
        top = source / output
        for path in sorted(top.rglob("*")) if top.is_dir() else [top]:
            if path.is_file():
                with atomic_path(dest / path.relative_to(source)) as partial:
                    shutil.copy2(path, partial)


def current(folder: Path, study: Study, trial: Trial) -> bool:
    """Whether ``folder`` holds the whole trial, made with the parameters the config gives it now."""
    expected = study.trial_params(trial.experiment, trial.trial).asdict()
    return finished(folder, trial) and recorded_params(folder, trial) == expected


def restore(study: Study, snapshot: Path) -> tuple[list[Trial], list[str]]:
    """Copy the snapshot's trials that results/ lacks into it, and the other way round; return the
    trials done and a note for each trial of the snapshot that the config now makes otherwise."""
    done, notes = [], []
    for trial in study.trials():
        if current(RESULTS, study, trial):
            if not current(snapshot, study, trial):
                copy_trial(RESULTS, snapshot, trial)
        elif current(snapshot, study, trial):
            copy_trial(snapshot, RESULTS, trial)
        else:
            if finished(snapshot, trial):
                notes.append(f"{name(trial)} in {snapshot} was made with other parameters: it is trained again")
            continue
        done.append(trial)
    return done, notes


def name(trial: Trial) -> str:
    return f"{trial.experiment}/trial-{trial.trial:02d}"


def die_with_parent() -> None:
    """In the child: SIGINT when this driver dies, even by SIGKILL (Linux), so that snakemake
    starts no further job unwatched. (The jobs in flight run to their end: their outputs stay in
    results/, not yet in the snapshot.)"""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGINT)  # PR_SET_PDEATHSIG


def snakemake(args: list[str], log) -> subprocess.Popen:
    """snakemake in a session of its own, its jobs with it: a Ctrl-C reaches them once, from this
    driver (see stop())."""
    command = [sys.executable, "-m", "snakemake", *args]
    return subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent
    )


class Progress:
    """One line per finished trial: trials done and left, and the time left at this session's pace."""

    def __init__(self, done: int, total: int):
        self.done, self.total = done, total
        self.start, self.finished = time.monotonic(), 0

    def line(self, trial: Trial) -> str:
        self.done, self.finished = self.done + 1, self.finished + 1
        left = self.total - self.done
        pace = (time.monotonic() - self.start) / self.finished  # seconds a trial, jobs overlapping
        status = f"{left} left, about {left * pace / 3600:.1f} h to go" if left else "none left"
        return f"{datetime.now():%H:%M} {name(trial)} done: {self.done} of {self.total}, {status}"


def machine() -> str:
    """The CPU, its cores and the instruction sets that decide its speed (and the last bits of
    float32 results): sessions of one study may land on different machines."""
    flags = [name for name, has in cpu_flags().items() if has]
    return f"{cpu_name()}, {os.cpu_count()} cores, {' '.join(flags) or 'no AVX2'}"


def record_session(snapshot: Path, session: dict) -> None:
    """Write this session into the snapshot's run.json: where, with how many threads, what it has
    finished so far. It is rewritten after every trial, so a session ended by SIGKILL or the machine
    going away is on record up to its last finished trial."""
    session["updated"] = datetime.now(UTC).isoformat(timespec="seconds")  # a killed session's last sign
    path = snapshot / RUN
    run = json.loads(path.read_text()) if path.exists() else {"sessions": []}
    others = [s for s in run["sessions"] if s["started"] != session["started"]]
    run["sessions"] = [*others, session]
    write_text(path, json.dumps(run, indent=2) + "\n")


def tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def parse(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    # allow_abbrev=False: snakemake's --config must reach it, not be taken for --configfile
    parser = argparse.ArgumentParser(
        allow_abbrev=False, description=__doc__.split("\n\n")[0], epilog="Other arguments go to snakemake."
    )
    parser.add_argument("--configfile", required=True, type=Path, help="the study's config")
    parser.add_argument("--snapshot", required=True, type=Path, help="the folder of finished trials")
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    # One thread a job, as many jobs as cores: on 2 cores two trials of one thread each train more
    # images a second than one of two (benchmarks/cpu/results.md). The thread count changes a
    # trial's last digits, so every part of a study must use the same (run.json records it).
    parser.add_argument("--threads", type=int, default=1, help="threads of each training and evaluation job")
    return parser.parse_known_args(argv)


def main(argv: list[str] | None = None) -> int:
    args, extra = parse(argv)
    study = Study(validate_config(yaml.safe_load(args.configfile.read_text())))
    snapshot, started = args.snapshot, datetime.now(UTC)
    snapshot.mkdir(parents=True, exist_ok=True)
    with atomic_path(snapshot / "config.yaml") as partial:  # the config its trials were made with
        shutil.copy2(args.configfile, partial)
    done, notes = restore(study, snapshot)
    for note in notes:
        print(f"Note: {note}", flush=True)
    missing = [trial for trial in study.trials() if trial not in done]
    print(f"{len(done)} of {len(study.trials())} trials done ({snapshot}), {len(missing)} to train", flush=True)

    common = ["--configfile", str(args.configfile), "--cores", str(args.cores)]
    threads = [f"{rule}={args.threads}" for rule in ("train_trial", "evaluate_trial", "make_shard")]
    session = {"started": started.isoformat(timespec="seconds"), "machine": machine(), "threads": args.threads}
    log_path = RESULTS / "logs" / "resume.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a") as log:
        if missing:
            run = lambda trials: snakemake([*common, *targets(trials), "--set-threads", *threads, *extra], log)  # noqa: E731
            code = train(run, study, snapshot, missing, session, len(done))
            if code != 0:
                print(f"snakemake stopped ({code}); its last lines ({log_path}):\n{tail(log_path)}", flush=True)
                return code
        aggregate = snakemake([*common, *AGGREGATES, "--allowed-rules", *ALLOWED, *extra], log)
        if aggregate.wait() != 0:
            print(f"the aggregate rules failed; see {log_path}:\n{tail(log_path)}", flush=True)
            return aggregate.returncode
    copy_study_outputs(RESULTS, snapshot)
    print(f"the study is complete: {snapshot} holds its trials, {', '.join(STUDY_OUTPUTS)}", flush=True)
    return 0


def targets(trials: list[Trial]) -> list[str]:
    """A trial's first and last outputs: its metrics.json (training) and robustness.json."""
    return [str(RESULTS / trial_files(t)[i]) for t in trials for i in (0, -1)]


def batches(missing: list[Trial]) -> list[list[Trial]]:
    """Trial t of every experiment together, so that each part of a run adds whole pairs (a
    condition's trial t is compared with its baseline's trial t). Given all trials at once,
    snakemake would make every trial's shards and test sets before evaluating any one. A batch whose
    models are trained already (a stopped run's) goes first: it is done soonest."""
    numbers = sorted({t.trial for t in missing})
    groups = [[t for t in missing if t.trial == n] for n in numbers]
    trained = lambda group: sum((RESULTS / trial_files(t)[0]).is_file() for t in group)  # noqa: E731
    return sorted(groups, key=trained, reverse=True)  # a stable sort: otherwise by trial number


def train(run, study: Study, snapshot: Path, missing: list[Trial], session: dict, done: int) -> int:
    """Run snakemake on ``missing`` batch by batch, ``run(trials)`` starting each: every trial that
    finishes goes into the snapshot with its progress line. A SIGTERM or Ctrl-C to this driver stops
    snakemake as a Ctrl-C would, and no further batch starts."""
    progress = Progress(done, len(study.trials()))
    process, stopped = None, False

    def stop(signum, frame):
        # To snakemake's whole process group, as a terminal's Ctrl-C: on SIGINT snakemake itself
        # only waits for its local jobs to end, and a training job runs for many minutes.
        nonlocal stopped
        stopped = True
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGINT)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    session["finished"] = []
    record_session(snapshot, session)
    try:
        for batch in batches(missing):
            if stopped:
                return 128 + signal.SIGINT
            process = run(batch)
            if stopped:  # the signal came while it started: it had no process to reach
                stop(signal.SIGINT, None)
            code = watch(process, study, snapshot, batch, session, progress)
            if code != 0:
                return code
        return 0
    finally:
        session["ended"] = datetime.now(UTC).isoformat(timespec="seconds")
        record_session(snapshot, session)


def watch(process, study: Study, snapshot: Path, batch: list[Trial], session: dict, progress: Progress) -> int:
    """Until ``process`` ends, copy each trial of ``batch`` that it finishes into the snapshot."""
    left = list(batch)
    while left:
        running = process.poll() is None
        for trial in [t for t in left if current(RESULTS, study, t)]:
            copy_trial(RESULTS, snapshot, trial)
            left.remove(trial)
            session["finished"].append(name(trial))
            record_session(snapshot, session)
            print(progress.line(trial), flush=True)
        if not running:
            break
        with contextlib.suppress(subprocess.TimeoutExpired):  # back at once when snakemake ends
            process.wait(timeout=POLL_SECONDS)
    return process.wait()


if __name__ == "__main__":
    sys.exit(main())
