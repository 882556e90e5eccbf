"""The GPU measurement: training speed on one GPU and the full default study's wall time.

    KERAS_BACKEND=torch python benchmarks/gpu/run.py          (a GPU machine, the GPU environment)
    python benchmarks/gpu/run.py --cpu --quick --study-config tests/gpu_smoke.yaml   (smoke run, CPU)

Speed does not depend on pixel values, so the data is a synthetic archive in CIFAR-10's exact
format and sizes (50,000 + 10,000 images), written here by the tests' own fixture code; accuracy
is measured elsewhere, on the real archive. In one run:

1. ``seed_a`` and ``seed_b`` training images/s at batch 128 and 512, one trial on the GPU
   (the workflow's own ``run_trial``: uint8 shards streamed, ``train_on_batch``), and the
   evaluation's images/s;
2. images/s summed over 1, 2, 4 and 8 concurrent ``seed_a`` trials sharing the GPU;
3. the wall time of the full default study (config.yaml) run by Snakemake with
   ``--workflow-profile profiles/gpu`` and the best number of trials per GPU from step 2.

Every figure is written to benchmarks/gpu/results.md and .json as soon as it is measured, so a run
cut short still leaves what it measured. ``--deadline`` stops the study (and says so) rather than
let the run be killed.
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
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from cifar_noise.provenance import cpu_name, package_versions  # noqa: E402

STUDY_GOAL_SECONDS = 600  # the goal: the full default study in 10 minutes on one H200


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# data


def write_synthetic_archive(path: Path, train: int, test: int) -> None:
    from fixtures import write_tiny_archive  # the tests' CIFAR-format writer

    write_tiny_archive(path, train=train, test=test, seed=0)


def prepare_trial_data(archive: Path, folder: Path, train_size: int, test_size: int) -> dict:
    """A split (the archive's first images) and one shard of Gaussian copies, as the workflow's."""
    from cifar_noise.cifar import read_archive
    from cifar_noise.fileio import save_npy
    from cifar_noise.shards import build_shard, write_shard

    data = read_archive(archive)
    inputs = {
        "train_images": folder / "train_images.npy",
        "train_labels": folder / "train_labels.npy",
        "test_images": folder / "test_images.npy",
        "test_labels": folder / "test_labels.npy",
    }
    save_npy(inputs["train_images"], data.train_images[:train_size])
    save_npy(inputs["train_labels"], data.train_labels[:train_size])
    save_npy(inputs["test_images"], data.test_images[:test_size])
    save_npy(inputs["test_labels"], data.test_labels[:test_size])
    shard = folder / "shard-0000.npy"
    write_shard(
        shard,
        build_shard(
            data.train_images[:train_size],
            0,
            2,
            train_size,
            "gaussian",
            {"sigma": 20.0},
            noise_seed=1,
            threads=os.cpu_count() or 1,
        ),
    )
    return {**{k: str(v) for k, v in inputs.items()}, "shards": [str(shard)]}


# ---------------------------------------------------------------------------------------------
# one trial in a child process (so that each has its own backend, GPU context and memory cap)


def trial_params(architecture: str, batch: int, train_size: int) -> dict:
    return {
        "experiment": f"bench-{architecture}-b{batch}",
        "trial": 1,
        "train_size": train_size,
        "test_set": "official",
        "test_size": None,
        "architecture": architecture,
        "noise": "gaussian",
        "noise_params": {"sigma": 20.0},
        "enlarge": 2,
        "epochs": 2,
        "batch_size": batch,
        "shuffle": "paired",
        "scale_inputs": True,
        "evaluate_every_epoch": False,
        "shard_size": train_size,
        "seed": 1,
        "split_seed": 1,
        "noise_seed": 1,
        "train_seed": 1,
    }


def child_trial(spec: dict) -> dict:
    """Two short epochs (the first pays for start-up and compilation; the second is measured)."""
    from cifar_noise.train import run_trial

    out = Path(spec["out"])
    metrics = run_trial(
        trial_params(spec["architecture"], spec["batch"], spec["train_size"]),
        spec["inputs"],
        {name: out / f"{name}.out" for name in ("model", "history", "metrics")},
        out / "checkpoints",
        threads=spec["threads"],
        log=lambda m: None,
        max_steps_per_epoch=spec["steps"],
        gpu=spec["gpu"],
        gpu_memory_fraction=spec["memory_fraction"],
    )
    history = list(csv_rows(out / "history.out"))
    measured = history[-1]
    return {
        "architecture": spec["architecture"],
        "batch": spec["batch"],
        "device": metrics["device"],
        "backend": metrics["backend"],
        "images": int(measured["images"]),
        "seconds": float(measured["seconds"]),
        "images_per_second": float(measured["images_per_second"]),
        "eval_images_per_second": metrics["test_images"] / metrics["eval_seconds"],
    }


def csv_rows(path: Path):
    import csv

    with open(path) as handle:
        yield from csv.DictReader(handle)


def run_children(specs: list[dict], timeout: float) -> list[dict]:
    """Start every spec at once (each in its own process) and collect their results."""
    procs = []
    for spec in specs:
        Path(spec["out"]).mkdir(parents=True, exist_ok=True)
        procs.append(
            subprocess.Popen(
                [sys.executable, __file__, "--child", json.dumps(spec)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"trial process failed ({proc.returncode}):\n{err[-3000:]}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


# ---------------------------------------------------------------------------------------------
# the full study


def run_study(args, archive: Path, slots: int, workdir: Path, deadline: float) -> dict:
    """The default study by Snakemake, GPU profile, ``slots`` trials per GPU; stopped at ``deadline``."""
    config = Path(args.study_config).resolve()
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(config),
        "--cores",
        str(os.cpu_count()),
        "--config",
        f"data={json.dumps({'archive': str(archive)})}",
        "--quiet",
        "rules",
    ]
    if args.cpu:  # the smoke run: the default profile, CPU training
        command += ["--workflow-profile", str(REPO / "profiles" / "default")]
    else:
        command += [
            "--workflow-profile",
            str(REPO / "profiles" / "gpu"),
            "--resources",
            f"gpu={slots}",
            # (--set-resources on the command line replaces the profile's, so both are given)
            "--set-resources",
            "train_trial:gpu=1",
            f"train_trial:trials_per_gpu={slots}",
        ]
    log(f"study: {' '.join(command[3:])}")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    started = time.monotonic()
    proc = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        output, _ = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        finished, stopped = proc.returncode == 0, False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
        finished, stopped = False, True
    wall = time.monotonic() - started
    metrics = [
        json.loads(p.read_text()) for p in sorted((workdir / "results" / "experiments").glob("*/*/metrics.json"))
    ]
    return {
        "finished": finished,
        "stopped_at_deadline": stopped,
        "returncode": proc.returncode,
        "wall_seconds": wall,
        "trials_per_gpu": slots,
        "trials_done": len(metrics),
        "trials_planned": study_trial_count(config),
        "trained_images": sum(m["train_images"] * m["epochs"] for m in metrics),
        "evaluated_images": sum(m["test_images"] for m in metrics),
        "train_seconds_summed": sum(m["train_seconds"] for m in metrics),
        "devices": sorted({m["device"] for m in metrics}),
        "backends": sorted({m["backend"] for m in metrics}),
        "output_tail": output[-3000:].replace(str(REPO), "<repo>").replace(str(workdir), "<work>"),
    }


def study_trial_count(config: Path) -> int:
    import yaml

    from cifar_noise.config import Study

    return len(Study(yaml.safe_load(config.read_text())).trials())


def training_flops(config: Path) -> float:
    """FLOPs of the study's training (forward + backward of every image seen), from the models."""
    import yaml

    from cifar_noise.config import Study

    study = Study(yaml.safe_load(config.read_text()))
    per_image = {arch: flops_per_image(arch) for arch in ("seed_a", "seed_b")}
    return sum(
        per_image[e["architecture"]] * e["train_size"] * e["enlarge"] * e["epochs"] * e["trials"]
        for e in study.experiments.values()
    )


def flops_per_image(architecture: str) -> float:
    """3 x 2 x multiply-adds of the forward pass (forward + backward), convolutions and dense layers."""
    layers = {
        "seed_a": [
            ("conv", 32, 3, 64),
            ("conv", 32, 64, 64),
            ("dense", 16 * 16 * 64, 128),
            ("dense", 128, 30),
            ("dense", 30, 10),
        ],
        "seed_b": [
            ("conv", 32, 3, 32),
            ("conv", 32, 32, 32),
            ("conv", 16, 32, 64),
            ("conv", 16, 64, 64),
            ("dense", 8 * 8 * 64, 128),
            ("dense", 128, 10),
        ],
    }[architecture]
    macs = sum(
        size * size * 9 * cin * cout if kind == "conv" else size * cin
        for kind, size, cin, *rest in layers
        for cout in [rest[0] if rest else cin]
    )
    return 6.0 * macs


# ---------------------------------------------------------------------------------------------


def environment(args) -> dict:
    info = {
        "date": time.strftime("%Y-%m-%d"),
        "host": platform.node(),
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "keras_backend": os.environ.get("KERAS_BACKEND"),
        "versions": package_versions(),
        "cpu_mode": args.cpu,
    }
    if shutil.which("nvidia-smi"):
        info["nvidia_smi"] = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
        ).stdout.strip()
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--cpu", action="store_true", help="smoke run without a GPU (tests this script)")
    parser.add_argument("--quick", action="store_true", help="small data and few steps (with --cpu)")
    parser.add_argument("--study-config", default=str(REPO / "config.yaml"))
    parser.add_argument("--concurrency", default="1,2,4,8", help="numbers of trials sharing the GPU")
    parser.add_argument("--work", default=None, help="scratch folder (default: a new temporary one)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "gpu" / "results"), help="writes OUT.md/.json")
    parser.add_argument("--deadline", type=float, default=3600, help="seconds from start after which the study stops")
    parser.add_argument("--render", action="store_true", help="only rewrite OUT.md from OUT.json")
    parser.add_argument("--resume", help="a results .json of an earlier run: keep its speed figures, run the study")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child_trial(json.loads(args.child))))
        return
    if args.render:  # rewrite OUT.md from OUT.json
        Path(args.out).with_suffix(".md").write_text(
            report(json.loads(Path(args.out).with_suffix(".json").read_text()))
        )
        return

    start = time.monotonic()
    deadline = start + args.deadline
    work = Path(args.work or __import__("tempfile").mkdtemp(prefix="cifar-noise-gpu-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {"environment": environment(args)}
    out = Path(args.out)

    def save():
        out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
        out.with_suffix(".md").write_text(report(results))

    earlier = json.loads(Path(args.resume).read_text()) if args.resume else {}
    log(f"environment: {results['environment']}")
    train_images, test_images = (2000, 500) if args.quick else (50_000, 10_000)
    archive = work / "cifar-10-python.tar.gz"
    t = time.monotonic()
    write_synthetic_archive(archive, train_images, test_images)
    results["archive"] = {
        "train_images": train_images,
        "test_images": test_images,
        "bytes": archive.stat().st_size,
        "seconds": time.monotonic() - t,
    }
    log(f"synthetic archive: {results['archive']}")

    if earlier:
        results["speed_figures_from"] = earlier["environment"]
    train_size = 1000 if args.quick else 15_000
    inputs = None if earlier else prepare_trial_data(archive, work / "trial-data", train_size, test_images)
    steps = {128: 5, 512: 2} if args.quick else {128: 150, 512: 40}
    gpu = not args.cpu
    threads = 2

    def spec(architecture, batch, name, memory_fraction=None):
        return {
            "architecture": architecture,
            "batch": batch,
            "inputs": inputs,
            "steps": steps[batch],
            "train_size": train_size,
            "threads": threads,
            "gpu": gpu,
            "memory_fraction": memory_fraction,
            "out": str(work / "runs" / name),
        }

    results["single"] = earlier.get("single", [])
    for architecture in ("seed_a", "seed_b") if not earlier else ():
        for batch in (128, 512):
            r = run_children([spec(architecture, batch, f"{architecture}-b{batch}")], timeout=600)[0]
            results["single"].append(r)
            log(f"one trial: {r}")
            save()

    results["concurrent"] = earlier.get("concurrent", [])
    for n in (int(v) for v in args.concurrency.split(",")) if not earlier else ():
        t = time.monotonic()
        runs = run_children(
            [spec("seed_a", 128, f"concurrent{n}-{i}", 0.9 / n if gpu else None) for i in range(n)], timeout=900
        )
        row = {
            "trials": n,
            "images_per_second_summed": sum(r["images_per_second"] for r in runs),
            "images_per_second_each": [r["images_per_second"] for r in runs],
            "seconds": time.monotonic() - t,
        }
        results["concurrent"].append(row)
        log(f"{n} concurrent trials: {row}")
        save()

    best = max(results["concurrent"], key=lambda row: row["images_per_second_summed"])["trials"]
    log(f"the study, {best} trials per GPU; stops at the deadline in {deadline - time.monotonic():.0f} s")
    results["study_flops"] = training_flops(Path(args.study_config))
    results["study"] = run_study(args, archive, best, work / "study", deadline)
    log(f"study: { {k: v for k, v in results['study'].items() if k != 'output_tail'} }")
    save()
    print(report(results))


def report(r: dict) -> str:
    env = r["environment"]
    lines = [
        f"# GPU measurement ({env['date']})",
        "",
        f"Machine: {env.get('nvidia_smi', 'no GPU (CPU smoke run)')}; {env['cpu']}, {env['cores']} cores. "
        f"Keras backend {r.get('single', [{}])[0].get('backend', env['keras_backend'])}; versions "
        f"{', '.join(f'{k} {v}' for k, v in env['versions'].items())}.",
        "",
    ]
    if env["cpu_mode"]:
        lines += ["**CPU smoke run of the script: these are not GPU figures.**", ""]
    if "archive" in r:
        a = r["archive"]
        lines += [
            f"Data: a synthetic archive in CIFAR-10's format, {a['train_images']:,} + {a['test_images']:,} "
            f"images, written by the tests' fixture code in {a['seconds']:.0f} s.",
            "",
        ]
    if r.get("speed_figures_from"):
        e = r["speed_figures_from"]
        lines += [
            f"The one-trial and sharing figures come from an earlier run of this script (`--resume`), on "
            f"{e['date']} on {e.get('nvidia_smi', e['cpu'])}; this run measured the study.",
            "",
        ]
    if r.get("single"):
        lines += [
            "## One trial",
            "",
            "Training images/s in the second of two short epochs (the first includes start-up and "
            "compilation), the workflow's own `run_trial` streaming uint8 shards; evaluation images/s "
            "on the test images at batch 1000.",
            "",
            "| architecture | batch | images/s (training) | images/s (evaluation) | device |",
            "|---|---|---|---|---|",
        ]
        for s in r["single"]:
            lines.append(
                f"| {s['architecture']} | {s['batch']} | {s['images_per_second']:,.0f} "
                f"| {s['eval_images_per_second']:,.0f} | {s['device']} |"
            )
        lines.append("")
    if r.get("concurrent"):
        lines += [
            "## Trials sharing one GPU",
            "",
            "`seed_a`, batch 128, each trial its own process with 2 CPU threads and 1/n of 90% of the "
            "GPU's memory; images/s summed over the trials (each trial's own second-epoch rate).",
            "",
            "| concurrent trials | images/s summed | per trial |",
            "|---|---|---|",
        ]
        for c in r["concurrent"]:
            each = ", ".join(f"{v:,.0f}" for v in c["images_per_second_each"])
            lines.append(f"| {c['trials']} | {c['images_per_second_summed']:,.0f} | {each} |")
        lines.append("")
    if r.get("study"):
        s = r["study"]
        state = (
            "finished"
            if s["finished"]
            else (
                "**stopped at the deadline**"
                if s.get("stopped_at_deadline")
                else f"**failed** (return code {s['returncode']})"
            )
        )
        lines += [
            "## The full default study",
            "",
            (
                f"Snakemake with the GPU profile, {s['trials_per_gpu']} trials per GPU: "
                if not env["cpu_mode"]
                else "Snakemake with the default (CPU) profile: "
            )
            + f"{state} in "
            f"**{s['wall_seconds']:.0f} s** ({s['wall_seconds'] / 60:.1f} min; goal "
            f"{STUDY_GOAL_SECONDS / 60:.0f} min; the run goes from the archive to the report): "
            f"{s['trials_done']} of {s['trials_planned']} trials, {s['trained_images']:,} training images "
            f"and {s['evaluated_images']:,} test images; devices {', '.join(s['devices']) or '-'}.",
            f"Training alone, summed over the trials: {s['train_seconds_summed']:.0f} s; training images "
            f"per second of wall time: {s['trained_images'] / s['wall_seconds']:,.0f}. The whole study's "
            f"training is {r['study_flops'] / 1e15:.2f} PFLOP (forward + backward, from the layer sizes)"
            + (
                f"; over the wall time that is {r['study_flops'] / s['wall_seconds'] / 1e12:.1f} TFLOP/s."
                if s["finished"]
                else "."
            ),
            "",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
