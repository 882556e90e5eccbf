"""The GPU measurement, side by side in one run (benchmarks/results.md):

    python benchmarks/gpu/run.py                          (a GPU machine, the GPU environment)
    python benchmarks/gpu/run.py --archive cifar-10-python.tar.gz --parts f   (the study alone)
    python benchmarks/gpu/run.py --cpu --quick --study-config tests/...     (smoke run on the CPU)

a. the workflow's own trial (``run_trial``, Keras on JAX, the compiled engine): seed_a and seed_b,
   batch 128 and 512, float32 and bfloat16, and seed_a at batch 128 with 1 and 8 steps per call;
b. what a researcher would write: ``model.fit`` on in-memory float32 arrays, Keras on JAX and
   Keras on torch, each compiled (jit_compile=True);
c. a ceiling: a hand-written JAX training loop of seed_a (jit + lax.scan, images on the GPU);
d. the GPU's matrix-product rate, measured in the same run; every training figure is also given
   as a share of it, from the one FLOP count (cifar_noise.models.flops_per_image);
e. 1, 2, 4 and 8 seed_a trials sharing the GPU;
f. the full default study by Snakemake with profiles/gpu, from the archive to the report.

Speed does not depend on pixel values, so a-e train on random images in CIFAR-10's shapes (a
shard of Gaussian copies too, as the workflow writes it); f uses ``--archive`` (the real one for
the study's numbers) or a synthetic archive. Every figure is written to OUT.md and OUT.json as soon
as it is measured; ``status`` says how far a run got. ``--deadline`` or a SIGTERM stops the study,
and a rerun with the same ``--work`` carries it on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks"), str(Path(__file__).resolve().parent)]

from children import ChildFailed, child_main, run_child, run_children  # noqa: E402
from reporting import blocks, document, table  # noqa: E402

from cifar_noise.provenance import cpu_name, package_versions  # noqa: E402

STUDY_GOAL_SECONDS = 300  # the goal: the full default study, evaluation included, in 5 minutes on one H200
PARTS = "abcdef"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# children (each in its own process: its own backend, GPU context and memory share)


def trial_params(spec: dict):
    """The workflow's own parameters for a benchmark trial (cifar_noise.study.Study)."""
    from cifar_noise.schema import validate_config
    from cifar_noise.study import Study

    experiment = {
        "train_size": spec["train_size"],
        "test_set": "official",
        "architecture": spec["architecture"],
        "noise": "gaussian",
        "enlarge": spec["enlarge"],
        "epochs": spec["epochs"],
        "batch_size": spec["batch"],
        "trials": 1,
    }
    config = {
        "shards": {"size": spec["train_size"]},
        "training": {"precision": spec["precision"]},
        "matched_baselines": False,
        "experiments": {"bench": experiment},
    }
    return Study(validate_config(config)).trial_params("bench", 1)


def child_trials(spec: dict) -> list[dict]:
    """run_trial for each of spec["trials"] in turn; the last epoch's speed (the first compiles)."""
    from cifar_noise import engine
    from cifar_noise.models import flops_per_image
    from cifar_noise.train import Runtime, run_trial

    results = []
    for i, trial in enumerate(spec["trials"]):
        engine.GPU_STEPS_PER_CALL = trial.get("steps", engine.GPU_STEPS_PER_CALL)
        out = Path(spec["out"]) / str(i)
        metrics = run_trial(
            trial_params({**spec["data"], **trial}),
            spec["inputs"],
            {name: out / name for name in ("model", "history", "metrics")},
            out / "checkpoints",
            Runtime(threads=2, log=lambda _: None, gpu=spec["gpu"], gpu_memory_fraction=spec.get("memory_fraction")),
        )
        last = json.loads((out / "metrics").read_text())  # the same record, from disk
        history = (out / "history").read_text().splitlines()
        images, seconds = (float(v) for v in history[-1].split(",")[3:5])
        results.append(
            {
                **trial,
                "steps": engine.steps_per_call(),
                "images_per_second": images / seconds,
                "eval_images_per_second": metrics["test_images"] / metrics["eval_seconds"],
                "flops_per_image": flops_per_image(trial["architecture"]),
                "test_accuracy": last["test_accuracy"],
                "device": metrics["device"],
                "backend": metrics["backend"],
            }
        )
    return results


def child_fit(spec: dict) -> dict:
    """A plain model.fit on in-memory float32 arrays, compiled; the second epoch's speed."""
    import keras

    from cifar_noise.backend import device_description
    from cifar_noise.models import build_model

    images = np.load(spec["inputs"]["train_images"])
    x = images.astype(np.float32) / 255
    y = keras.utils.to_categorical(np.load(spec["inputs"]["train_labels"]), 10)
    model = build_model(spec["architecture"], 1)
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"], jit_compile=True)
    times = []
    timer = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda *_: times.append(time.perf_counter()),
        on_epoch_end=lambda *_: times.append(time.perf_counter()),
    )
    model.fit(x, y, batch_size=spec["batch"], epochs=2, verbose=0, callbacks=[timer])
    return {
        "backend": keras.backend.backend(),
        "images_per_second": len(x) / (times[3] - times[2]),
        "device": device_description(),
    }


def child_ceiling(spec: dict) -> dict:
    import ceiling

    result = {"matmul_flops": ceiling.matmul_rates(*spec.get("matmul", ()))}
    result["train"] = [
        {
            "dtype": dtype,
            "batch": batch,
            "images_per_second": ceiling.train_rate(batch, spec["steps"], dtype, *spec.get("size", ())),
        }
        for dtype in ("float32", "bfloat16")
        for batch in spec.get("batches", (128, 512))
    ]
    return result


# ---------------------------------------------------------------------------------------------
# data


def prepare_trial_data(folder: Path, train_size: int, enlarge: int, test_size: int) -> dict:
    """A split of random images and its Gaussian copies, written as the workflow writes them."""
    from cifar_noise.fileio import save_npy
    from cifar_noise.shards import build_shard, write_shard

    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (train_size, 32, 32, 3), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, train_size).astype(np.uint8),
        "test_images": rng.integers(0, 256, (test_size, 32, 32, 3), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, test_size).astype(np.uint8),
    }
    inputs = {}
    for name, array in arrays.items():
        inputs[name] = str(folder / f"{name}.npy")
        save_npy(inputs[name], array)
    inputs["shards"] = []
    for shard in range(enlarge - 1):
        copies = build_shard(arrays["train_images"], shard, enlarge, train_size, "gaussian", {"sigma": 20.0}, 1, 8)
        inputs["shards"].append(str(folder / f"shard-{shard:04d}.npy"))
        write_shard(inputs["shards"][-1], copies)
    return inputs


def synthetic_archive(path: Path, train: int, test: int) -> None:
    from cifar_noise.cifar import Cifar10, write_archive

    rng = np.random.default_rng(0)
    write_archive(
        path,
        Cifar10(
            rng.integers(0, 256, (train, 32, 32, 3), dtype=np.uint8),
            rng.integers(0, 10, train).astype(np.uint8),
            rng.integers(0, 256, (test, 32, 32, 3), dtype=np.uint8),
            rng.integers(0, 10, test).astype(np.uint8),
        ),
    )


# ---------------------------------------------------------------------------------------------
# the full study


def run_study(args, archive: Path, slots: int, workdir: Path, deadline: float, progress) -> dict:
    """The study by Snakemake, GPU profile, ``slots`` jobs per GPU; stopped at ``deadline``. A
    ``workdir`` that holds a study cut short is carried on (finished trials are kept, a killed one
    resumes from its checkpoint). ``progress(state)`` is called every 15 s with how far it got."""
    config = Path(args.study_config).resolve()
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir)]
    command += ["--configfile", str(config), "--cores", str(os.cpu_count())]
    command += ["--config", f"data={json.dumps({'archive': str(archive)})}"]
    if args.cpu:  # the smoke run: the default profile, CPU training
        command += ["--workflow-profile", str(REPO / "profiles" / "default")]
    else:  # (--set-resources on the command line replaces the profile's, so both rules are given)
        command += ["--workflow-profile", str(REPO / "profiles" / "gpu"), "--resources", f"gpu={slots}"]
        command += ["--set-resources"] + [
            f"{rule}:{key}"
            for rule in ("train_trial", "evaluate_trial")
            for key in ("gpu=1", f"trials_per_gpu={slots}")
        ]
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "KERAS_BACKEND": args.backend,
    }
    workdir.mkdir(parents=True, exist_ok=True)
    if (workdir / ".snakemake").exists():  # a run cut short leaves its lock
        subprocess.run([*command, "--unlock"], cwd=REPO, env=env, capture_output=True)
    before = len(list(workdir.glob("results/experiments/*/*/metrics.json")))
    log(f"study ({before} trials already done): {' '.join(command[3:])}")
    started = time.monotonic()
    # SIGTERM (a machine handed back, a batch system's time limit) stops the study as the deadline
    # does: the running trial keeps its checkpoint, and the next run carries on from there
    stop = {"by": None}
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.update(by="SIGTERM"))
    last_report = started
    try:
        with open(workdir / "snakemake.log", "a") as output:
            proc = subprocess.Popen(
                command, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
            while proc.poll() is None and stop["by"] is None:
                now = time.monotonic()
                if now >= deadline:
                    stop["by"] = "deadline"
                elif now - last_report >= 15:
                    progress(study_state(workdir, config, slots, started, before))
                    last_report = now
                time.sleep(0.2)
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=60)
            else:
                stop["by"] = None  # it ended by itself first
    finally:  # also when a progress report or the wait fails: later SIGTERMs must not be swallowed
        signal.signal(signal.SIGTERM, previous)
    state = study_state(workdir, config, slots, started, before)
    tail = (workdir / "snakemake.log").read_text()[-3000:]
    return {
        **state,
        "finished": proc.returncode == 0,
        "stopped_by": stop["by"],
        "returncode": proc.returncode,
        "output_tail": tail.replace(str(REPO), "<repo>").replace(str(workdir), "<work>"),
    }


def study_state(workdir: Path, config: Path, slots: int, started: float, before: int) -> dict:
    """How far the study in ``workdir`` has got, from its trials' records."""
    experiments = workdir / "results/experiments"
    metrics = [json.loads(p.read_text()) for p in sorted(experiments.glob("*/*/metrics.json"))]
    evaluations = [json.loads(p.read_text()) for p in sorted(experiments.glob("*/*/robustness.json"))]
    return {
        "finished": False,
        "wall_seconds": time.monotonic() - started,
        "trials_per_gpu": slots,
        "trials_done_before": before,
        "trials_done": len(metrics),
        "evaluations_done": len(evaluations),
        "trials_planned": len(study(config).trials()),
        "trained_images": sum(m["train_images"] * m["epochs"] for m in metrics),
        "evaluated_images": sum(m["test_images"] for m in metrics)
        + sum(e["test_images"] * len(e["corruptions"]) for e in evaluations),
        "train_seconds_summed": sum(m["train_seconds"] for m in metrics),
        "devices": sorted({m["device"] for m in metrics}),
        "backends": sorted({m["backend"] for m in metrics}),
    }


def check_archive(archive: Path, expected: str | None) -> str:
    from cifar_noise.fileio import file_digest

    md5 = file_digest(archive, "md5")
    if expected and md5 != expected:
        raise SystemExit(f"{archive} has md5 {md5}, not {expected}: not the archive this study is meant for")
    log(f"archive {archive}: md5 {md5}" + (" (as expected)" if expected else ""))
    return md5


def write_snapshot_of(args, results: dict, study_results: Path) -> None:
    """The study's small outputs, and where, when and how long it ran (run.json)."""
    from cifar_noise.snapshot import write_snapshot

    study_run = {k: v for k, v in results["study"].items() if k != "output_tail"}
    run = {"environment": results["environment"], "archive_md5": results.get("archive_md5"), "study": study_run}
    files = write_snapshot(study_results / "study-archive.zip", Path(args.snapshot), run)
    log(f"snapshot: {len(files)} files in {args.snapshot}")


def study(config: Path):
    import yaml

    from cifar_noise.schema import validate_config
    from cifar_noise.study import Study

    return Study(validate_config(yaml.safe_load(config.read_text())))


def child_flops(spec: dict) -> dict:
    from cifar_noise.models import ARCHITECTURES, flops_per_image

    return {architecture: flops_per_image(architecture) for architecture in ARCHITECTURES}


def study_flops(config: Path, per_image: dict) -> float:
    """FLOPs of the study's training (forward + backward of every image seen)."""
    return sum(
        per_image[e["architecture"]] * e["train_size"] * e["enlarge"] * e["epochs"] * e["trials"]
        for e in study(config).experiments.values()
    )


# ---------------------------------------------------------------------------------------------
# the run


def environment(args) -> dict:
    info = {
        "date": time.strftime("%Y-%m-%d"),
        "host": platform.node(),
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "versions": package_versions(),
        "cpu_mode": args.cpu,
    }
    if shutil.which("nvidia-smi"):
        query = ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"]
        info["nvidia_smi"] = subprocess.run(query, capture_output=True, text=True).stdout.strip()
    return info


def sizes(args) -> dict:
    """How much each measurement trains: enough on a GPU for the last epoch to be timed well."""
    if args.quick:
        return {"train_size": 200, "enlarge": 2, "epochs": 2, "test": 200, "concurrency_epochs": 2}
    return {"train_size": 25_000, "enlarge": 4, "epochs": 3, "test": 10_000, "concurrency_epochs": 3}


def measure(args, results: dict, save, deadline: float) -> None:
    """Parts a-f in order, each figure saved as soon as it is measured."""
    work = Path(args.work or tempfile.mkdtemp(prefix="cifar-noise-gpu-"))
    work.mkdir(parents=True, exist_ok=True)
    size, script, gpu = sizes(args), Path(__file__), not args.cpu
    env = {"KERAS_BACKEND": args.backend}
    data = {key: size[key] for key in ("train_size", "enlarge", "epochs")}
    inputs = prepare_trial_data(work / "data", size["train_size"], size["enlarge"], size["test"])
    results["data"] = {**data, "test_images": size["test"]}
    results["flops_per_image"] = run_child(script, {"kind": "flops"}, 600, env)

    def trials(name: str, configs: list[dict], memory_fraction=None) -> dict:
        spec = {"kind": "trials", "data": data, "inputs": inputs, "gpu": gpu, "memory_fraction": memory_fraction}
        return {**spec, "trials": configs, "out": str(work / "runs" / name)}

    def part(letters: str, what: str) -> bool:
        if not set(letters) & set(args.parts):
            return False
        results["status"] = f"stopped in part {letters} ({what})"
        log(f"part {letters}: {what}")
        return True

    if part("cd", "the matrix-product rate and the hand-written ceiling"):
        quick = {"matmul": (256, 2), "size": (64, 2), "batches": (4, 8)} if args.quick else {}
        results["ceiling"] = run_child(script, {"kind": "ceiling", "steps": 1 if args.cpu else 32, **quick}, 900, env)
        save()
    if part("a", "the workflow's own trial"):
        configs = [
            {"architecture": a, "batch": b, "precision": p}
            for a in ("seed_a", "seed_b")
            for p in ("float32", "bfloat16")
            for b in (128, 512)
        ]
        configs += [{"architecture": "seed_a", "batch": 128, "precision": "float32", "steps": s} for s in (1, 8)]
        results["trials"] = []
        # one process each: a fresh GPU context, as in the workflow (a smoke run: one in all)
        for group in [configs] if args.quick else [[config] for config in configs]:
            results["trials"] += run_child(script, trials("a", group), 900, env)
            log(f"  {results['trials'][-1]}")
            save()
    if part("b", "model.fit on in-memory float32 arrays"):
        results["fit"] = []
        for backend in ("jax", "torch"):
            spec = {"kind": "fit", "inputs": inputs, "architecture": "seed_a", "batch": 128}
            try:
                results["fit"].append(run_child(script, spec, 900, {"KERAS_BACKEND": backend}))
            except ChildFailed as failure:
                last = [line for line in str(failure).splitlines() if line.strip()][-1]
                results["fit"].append({"backend": backend, "error": last[:300]})
            save()
    if part("e", "trials sharing the GPU"):
        results["concurrent"] = []
        for n in (int(v) for v in args.concurrency.split(",")):
            config = {"architecture": "seed_a", "batch": 128, "precision": "float32"}
            fraction = 0.9 / n if gpu else None
            runs = run_children(script, [trials(f"e{n}-{i}", [config], fraction) for i in range(n)], 900, env)
            speeds = [run[0]["images_per_second"] for run in runs]
            results["concurrent"].append({"trials": n, "images_per_second_summed": sum(speeds), "each": speeds})
            save()
    if part("f", "the full default study"):
        archive = Path(args.archive) if args.archive else work / "cifar-10-python.tar.gz"
        if not args.archive:
            synthetic_archive(archive, *((2000, 500) if args.quick else (50_000, 10_000)))
        concurrent = results.get("concurrent") or [{"trials": 8, "images_per_second_summed": 0}]
        slots = max(concurrent, key=lambda row: row["images_per_second_summed"])["trials"]
        results["study_archive"] = "given (--archive)" if args.archive else "synthetic"
        results["study_flops"] = study_flops(Path(args.study_config), results["flops_per_image"])

        def progress(state):
            results["study"] = state
            save()

        results["study"] = run_study(args, archive, slots, work / "study", deadline, progress)
        save()
        if args.snapshot and results["study"]["finished"]:
            write_snapshot_of(args, results, work / "study" / "results")
    results["status"] = "finished"
    save()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu", action="store_true", help="smoke run without a GPU (tests this script)")
    parser.add_argument("--quick", action="store_true", help="tiny data and few steps (with --cpu)")
    parser.add_argument("--parts", default=PARTS, help="which of a-f to measure (default: all)")
    parser.add_argument("--backend", default="jax", help="the Keras backend of the workflow's trials")
    parser.add_argument("--archive", help="the CIFAR-10 archive for the study (default: a synthetic one)")
    parser.add_argument("--archive-md5", help="stop at once unless --archive has this md5")
    parser.add_argument("--snapshot", help="after a finished study: publish its small outputs in this folder")
    parser.add_argument("--study-config", default=str(REPO / "config.yaml"))
    parser.add_argument("--concurrency", default="1,2,4,8", help="numbers of trials sharing the GPU")
    parser.add_argument("--work", help="scratch folder (default: a new temporary one)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "gpu" / "results"), help="writes OUT.md/.json")
    parser.add_argument(
        "--deadline", type=float, default=3600, help="seconds from the start after which the study stops"
    )
    parser.add_argument("--render", action="store_true", help="only rewrite OUT.md from OUT.json")
    args = parser.parse_args()
    out = Path(args.out)
    if args.render:
        out.with_suffix(".md").write_text(report(json.loads(out.with_suffix(".json").read_text())))
        return
    deadline = time.monotonic() + args.deadline
    results: dict = {"environment": environment(args), "status": "started"}
    if args.archive:  # before anything runs: the study's numbers are only worth this archive's
        results["archive_md5"] = check_archive(Path(args.archive), args.archive_md5)

    def save():
        out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
        out.with_suffix(".md").write_text(report(results))

    log(f"environment: {results['environment']}")
    try:
        measure(args, results, save, deadline)
    finally:
        save()  # what was measured, and where the run stopped
    print(report(results))


def report(r: dict) -> str:
    """OUT.md: the machine and how far the run got, then each part that has figures so far."""
    sections = (
        machine_section,
        flops_section,
        matmul_section,
        data_section,
        trials_section,
        fit_section,
        ceiling_section,
        concurrent_section,
        study_section,
    )
    return document(section(r) for section in sections)


def matmul_peak(r: dict) -> dict:
    """The matrix-product rates of part d ({} until measured)."""
    return r.get("ceiling", {}).get("matmul_flops", {})


def share(r: dict, images_per_second: float, architecture: str = "seed_a") -> str:
    """Three cells: the TFLOP/s a speed comes to, and its shares of the bfloat16 and float32 matrix-product
    rates; one "-" until both the FLOP count and the rates are measured."""
    peak = matmul_peak(r)
    rate = images_per_second * r.get("flops_per_image", {}).get(architecture, 0)
    if not peak or not rate:
        return "-"
    return f"{rate / 1e12:,.1f} | {100 * rate / peak['bfloat16']:.1f}% | {100 * rate / peak['float32']:.1f}%"


def machine_section(r: dict) -> list[str]:
    env = r["environment"]
    versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items())
    smoke = ["**CPU smoke run of the script: these are not GPU figures.**"] if env["cpu_mode"] else []
    return blocks(
        f"# GPU measurement ({env['date']})",
        f"Machine: {env.get('nvidia_smi', 'no GPU')}; {env['cpu']}, {env['cores']} cores. Versions: {versions}.",
        f"Run: **{r['status']}**.",
        *smoke,
    )


def flops_section(r: dict) -> list[str]:
    """The one FLOP count that every TFLOP/s column is computed from."""
    flops = r.get("flops_per_image", {})
    if not flops:
        return []
    return blocks(
        "Training FLOPs per image (forward + backward, `cifar_noise.models.flops_per_image`): "
        + ", ".join(f"{a} {f / 1e6:.0f} M" for a, f in flops.items())
        + ". TFLOP/s columns: images/s x that; the shares are of the matrix-product rates below."
    )


def matmul_section(r: dict) -> list[str]:
    """Part d comes first: the other parts are given as shares of it."""
    peak = matmul_peak(r)
    if not peak:
        return []
    return blocks(
        "## d. The GPU's matrix-product rate",
        f"{peak['size']} x {peak['size']} products, jitted JAX: bfloat16 **{peak['bfloat16'] / 1e12:,.0f} TFLOP/s**, "
        f"float32 (JAX's default precision) **{peak['float32'] / 1e12:,.0f} TFLOP/s**.",
    )


def data_section(r: dict) -> list[str]:
    if not r.get("data"):
        return []
    d = r["data"]
    return blocks(
        f"Trials a and e: {d['train_size']:,} random images x {d['enlarge']} (the originals and Gaussian copies in "
        f"shards), {d['epochs']} epochs; the speed is the last epoch's (the first compiles). Evaluation on "
        f"{d['test_images']:,} images."
    )


def trials_section(r: dict) -> list[str]:
    if not r.get("trials"):
        return []
    rows = [
        f"| {t['architecture']} | {t['batch']} | {t['precision']} | {t['steps']} | {t['images_per_second']:,.0f} "
        f"| {share(r, t['images_per_second'], t['architecture'])} | {t['eval_images_per_second']:,.0f} "
        f"| {t['device']} |"
        for t in r["trials"]
    ]
    return blocks(
        "## a. The workflow's own trial (`run_trial`, Keras on JAX, the compiled engine)",
        table(
            "| architecture | batch | precision | steps a call | images/s | TFLOP/s | of bf16 peak | of fp32 peak "
            "| evaluation images/s | device |",
            rows,
        ),
    )


def fit_section(r: dict) -> list[str]:
    """Part b; a backend that failed (torch not installed, say) keeps its row, with the error."""
    if not r.get("fit"):
        return []
    rows = []
    for f in r["fit"]:
        if "error" in f:
            rows.append(f"| {f['backend']} | failed: {f['error']} | | | | |")
        else:
            speed = f["images_per_second"]
            rows.append(f"| {f['backend']} | {speed:,.0f} | {share(r, speed)} | {f['device']} |")
    return blocks(
        "## b. A plain `model.fit` on in-memory float32 arrays (seed_a, batch 128, jit_compile=True)",
        table("| Keras backend | images/s | TFLOP/s | of bf16 peak | of fp32 peak | device |", rows),
    )


def ceiling_section(r: dict) -> list[str]:
    if not r.get("ceiling", {}).get("train"):
        return []
    rows = [
        f"| {c['dtype']} | {c['batch']} | {c['images_per_second']:,.0f} | {share(r, c['images_per_second'])} |"
        for c in r["ceiling"]["train"]
    ]
    return blocks(
        "## c. The ceiling: a hand-written JAX training loop of seed_a (images on the GPU, lax.scan)",
        table("| precision | batch | images/s | TFLOP/s | of bf16 peak | of fp32 peak |", rows),
    )


def concurrent_section(r: dict) -> list[str]:
    if not r.get("concurrent"):
        return []
    rows = [
        f"| {c['trials']} | {c['images_per_second_summed']:,.0f} | {', '.join(f'{v:,.0f}' for v in c['each'])} |"
        for c in r["concurrent"]
    ]
    return blocks(
        "## e. seed_a trials sharing the GPU (batch 128, float32, each 1/n of 90% of its memory)",
        table("| trials | images/s summed | each |", rows),
    )


def study_outcome(s: dict) -> str:
    """How the study ended: a state saved while it runs has no returncode yet."""
    if "returncode" not in s:
        outcome = "**still running** (so far)"
    elif s["finished"]:
        outcome = "finished"
    else:
        outcome = f"**stopped by {s['stopped_by']}**" if s["stopped_by"] else f"**failed** ({s['returncode']})"
    if s["trials_done_before"]:
        outcome += f" (carried on from an earlier run that had finished {s['trials_done_before']} trials)"
    return outcome


def study_section(r: dict) -> list[str]:
    if not r.get("study"):
        return []
    s = r["study"]
    return blocks(
        "## f. The full default study",
        f"Snakemake, {s['trials_per_gpu']} jobs per GPU, {r['study_archive']} archive: {study_outcome(s)} in "
        f"**{s['wall_seconds']:.0f} s** (goal {STUDY_GOAL_SECONDS} s, from the archive to the report): "
        f"{s['trials_done']} of {s['trials_planned']} trials and {s['evaluations_done']} evaluations on the "
        f"corrupted sets; {s['trained_images']:,} training images, {s['evaluated_images']:,} test images; "
        f"devices {', '.join(s['devices']) or '-'}, backends "
        f"{', '.join(s['backends']) or '-'}. Training summed over the trials: {s['train_seconds_summed']:.0f} s; "
        f"the study's training is {r['study_flops'] / 1e15:.2f} PFLOP.",
    )


if __name__ == "__main__" and not child_main(
    {"trials": child_trials, "fit": child_fit, "ceiling": child_ceiling, "flops": child_flops}
):
    main()
