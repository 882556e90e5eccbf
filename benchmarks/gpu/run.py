"""The GPU measurement: how fast the workflow's own trial trains on one GPU (benchmarks/results.md).

    python benchmarks/gpu/run.py                 (on the GPU machine, in the GPU environment)
    python benchmarks/gpu/run.py --cpu --quick   (a smoke run of this script on the CPU; a test runs it)

1. the GPU's matrix-product rate, bfloat16 and float32 (JAX's default precision), jitted JAX;
2. the workflow's own trial (``run_trial``, Keras on JAX, the compiled engine), each in a process
   of its own: seed_a and seed_b at batch 128 in float32 and in bfloat16 (mixed precision), and
   seed_a with 1 and 8 optimizer steps per call instead of 32. Training images/s of the last epoch
   (the first compiles), as TFLOP/s (FLOPs per image from cifar_noise.models.flops_per_image, the
   one FLOP count) and as a share of (1) in the trial's precision; evaluation images/s; the trial's
   peak GPU memory and peak host RSS;
3. 1, 2, 4 and 8 seed_a trials sharing the GPU, each 1/n of 90% of its memory (``trials_per_gpu``
   in profiles/gpu).

Speed does not depend on pixel values, so the trials train on random images in CIFAR-10's shapes
(and their Gaussian copies in shards, as the workflow writes them). Every figure is written to
OUT.json and OUT.md as soon as it is measured; "status" says how far a run got. The full study is
not run here: ``snakemake --workflow-profile profiles/gpu`` runs it, and Snakemake's benchmark
files (results/benchmarks/<rule>/...) time each of its jobs.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from children import child_main, run_child, run_children  # noqa: E402
from reporting import blocks, document, table  # noqa: E402

from cifar_noise.fileio import write_json, write_text  # noqa: E402
from cifar_noise.provenance import cpu_name, package_versions  # noqa: E402

ENV = {"KERAS_BACKEND": "jax"}  # the GPU environment's backend


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def child_matmul(spec: dict) -> dict:
    """FLOP/s of a size x size matrix product, bfloat16 and float32, after one warm-up call."""
    import jax
    import jax.numpy as jnp

    size, repeats = spec["size"], spec["repeats"]
    rates = {"size": size}
    product = jax.jit(jnp.matmul)
    for dtype in ("bfloat16", "float32"):
        a, b = (jax.random.normal(jax.random.key(k), (size, size), dtype) for k in (0, 1))
        product(a, b).block_until_ready()
        start = time.perf_counter()
        for _ in range(repeats):
            out = product(a, b)
        out.block_until_ready()
        rates[dtype] = 2 * size**3 * repeats / (time.perf_counter() - start)
    return rates


def trial_params(data: dict, trial: dict):
    """The workflow's own parameters for a benchmark trial (cifar_noise.study.Study)."""
    from cifar_noise.schema import validate_config
    from cifar_noise.study import Study

    experiment = {
        **{key: data[key] for key in ("train_size", "enlarge", "epochs")},
        "test_set": "official",
        "architecture": trial["architecture"],
        "noise": "gaussian",
        "batch_size": trial["batch"],
        "trials": 1,
    }
    config = {
        "shards": {"size": data["train_size"]},
        "training": {"precision": trial["precision"]},
        "matched_baselines": False,
        "experiments": {"bench": experiment},
    }
    return Study(validate_config(config)).trial_params("bench", 1)


def child_trial(spec: dict) -> dict:
    """run_trial of spec["trial"]: the last epoch's speed, and the peak memory."""
    import jax

    from cifar_noise import engine
    from cifar_noise.models import flops_per_image
    from cifar_noise.train import Runtime, run_trial

    trial, out = spec["trial"], Path(spec["out"])
    engine.GPU_STEPS_PER_CALL = trial.get("steps", engine.GPU_STEPS_PER_CALL)
    runtime = Runtime(threads=2, log=lambda _: None, gpu=spec["gpu"], gpu_memory_fraction=spec["fraction"])
    outputs = {name: out / name for name in ("model", "history", "metrics")}
    metrics = run_trial(trial_params(spec["data"], trial), spec["inputs"], outputs, out / "checkpoints", runtime)
    last = list(csv.DictReader(outputs["history"].open()))[-1]
    return {
        **trial,
        "steps": engine.steps_per_call(),
        "images_per_second": float(last["images"]) / float(last["seconds"]),
        "eval_images_per_second": metrics["test_images"] / metrics["eval_seconds"],
        "flops_per_image": flops_per_image(trial["architecture"]),
        "peak_gpu_bytes": (jax.devices()[0].memory_stats() or {}).get("peak_bytes_in_use"),  # None on the CPU
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "device": metrics["device"],
        "backend": metrics["backend"],
    }


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


def measure(args, results: dict, save) -> None:
    """(1) to (3) in order, each figure saved as soon as it is measured."""
    work = Path(args.work or tempfile.mkdtemp(prefix="cifar-noise-gpu-"))
    script, gpu = Path(__file__), not args.cpu
    train_size, enlarge, epochs, test = (200, 2, 2, 200) if args.quick else (25_000, 4, 3, 10_000)
    data = {"train_size": train_size, "enlarge": enlarge, "epochs": epochs, "test_images": test}
    inputs = prepare_trial_data(work / "data", train_size, enlarge, test)
    results["data"] = data

    common = {"kind": "trial", "data": data, "inputs": inputs, "gpu": gpu}

    def trial(name: str, config: dict, fraction: float | None = None) -> dict:
        return {**common, "trial": config, "fraction": fraction, "out": str(work / "runs" / name)}

    results["status"] = "stopped in (1), the matrix-product rate"
    matmul = {"size": 256, "repeats": 2} if args.quick else {"size": 8192, "repeats": 20}
    results["matmul_flops"] = run_child(script, {"kind": "matmul", **matmul}, 600, ENV)
    save()
    results["status"], results["trials"] = "stopped in (2), one trial", []
    configs = [
        {"architecture": a, "batch": 128, "precision": p} for a in ("seed_a", "seed_b") for p in ("float32", "bfloat16")
    ]
    configs += [{"architecture": "seed_a", "batch": 128, "precision": "float32", "steps": s} for s in (1, 8)]
    for i, config in enumerate(configs):
        results["trials"].append(run_child(script, trial(f"one-{i}", config), 900, ENV))
        log(f"  {results['trials'][-1]}")
        save()
    results["status"], results["concurrent"] = "stopped in (3), trials sharing the GPU", []
    config = {"architecture": "seed_a", "batch": 128, "precision": "float32"}
    for n in (int(v) for v in args.concurrency.split(",") if v):
        fraction = 0.9 / n if gpu else None
        runs = run_children(script, [trial(f"shared-{n}-{i}", config, fraction) for i in range(n)], 900, ENV)
        speeds, memory = [run["images_per_second"] for run in runs], [run["peak_gpu_bytes"] or 0 for run in runs]
        shared = {"trials": n, "images_per_second_summed": sum(speeds), "each": speeds}
        results["concurrent"].append({**shared, "peak_gpu_bytes": max(memory) or None})
        save()
    results["status"] = "finished"
    save()


def gib(value: float | None) -> str:
    return "-" if value is None else f"{value / 2**30:.2f}"


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


def matmul_section(r: dict) -> list[str]:
    peak = r.get("matmul_flops")
    if not peak:
        return []
    return blocks(
        "## 1. The GPU's matrix-product rate",
        f"{peak['size']} x {peak['size']} products, jitted JAX: bfloat16 **{peak['bfloat16'] / 1e12:,.1f} TFLOP/s**, "
        f"float32 (JAX's default precision) **{peak['float32'] / 1e12:,.1f} TFLOP/s**.",
    )


def trials_section(r: dict) -> list[str]:
    if not r.get("trials"):
        return []
    d, peak, rows = r["data"], r.get("matmul_flops", {}), []
    for t in r["trials"]:
        rate = t["images_per_second"] * t["flops_per_image"]
        rows.append(
            f"| {t['architecture']} | {t['batch']} | {t['precision']} | {t['steps']} | {t['images_per_second']:,.0f} "
            f"| {rate / 1e12:,.2f} | {100 * rate / peak[t['precision']]:.1f}% | {t['eval_images_per_second']:,.0f} "
            f"| {gib(t['peak_gpu_bytes'])} | {gib(t['peak_rss_bytes'])} | {t['device']} |"
        )
    flops = {t["architecture"]: t["flops_per_image"] for t in r["trials"]}
    return blocks(
        "## 2. The workflow's own trial (`run_trial`, Keras on JAX, the compiled engine)",
        f"{d['train_size']:,} random images x {d['enlarge']} (the originals and Gaussian copies in shards), "
        f"{d['epochs']} epochs; images/s of the last epoch (the first compiles); evaluation on "
        f"{d['test_images']:,} images. Training FLOPs per image (`cifar_noise.models.flops_per_image`): "
        + ", ".join(f"{a} {f / 1e6:.0f} M" for a, f in flops.items())
        + "; the share is of (1) in the trial's precision.",
        table(
            "| architecture | batch | precision | steps a call | images/s | TFLOP/s | of (1) | evaluation images/s "
            "| peak GPU GiB | peak RSS GiB | device |",
            rows,
        ),
    )


def concurrent_section(r: dict) -> list[str]:
    if not r.get("concurrent"):
        return []
    rows = [
        f"| {c['trials']} | {c['images_per_second_summed']:,.0f} | {', '.join(f'{v:,.0f}' for v in c['each'])} "
        f"| {gib(c['peak_gpu_bytes'])} |"
        for c in r["concurrent"]
    ]
    return blocks(
        "## 3. seed_a trials sharing the GPU (batch 128, float32, each 1/n of 90% of its memory)",
        table("| trials | images/s summed | each | peak GPU GiB (the largest) |", rows),
    )


def report(r: dict) -> str:
    return document(section(r) for section in (machine_section, matmul_section, trials_section, concurrent_section))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu", action="store_true", help="smoke run without a GPU (tests this script)")
    parser.add_argument("--quick", action="store_true", help="tiny data and few steps (with --cpu)")
    parser.add_argument("--concurrency", default="1,2,4,8", help="numbers of trials sharing the GPU ('' for none)")
    parser.add_argument("--work", help="scratch folder (default: a new temporary one)")
    parser.add_argument("--out", default=str(REPO / "benchmarks/gpu/results"), help="writes OUT.json and OUT.md")
    args = parser.parse_args()
    out = Path(args.out)
    results: dict = {"environment": environment(args), "status": "started"}

    def save():  # each file whole or not at all, even when the session is cut off while writing
        write_json(out.with_suffix(".json"), results)
        write_text(out.with_suffix(".md"), report(results))

    log(f"environment: {results['environment']}")
    try:
        measure(args, results, save)
    finally:
        save()  # what was measured, and where the run stopped
    print(report(results))


if __name__ == "__main__" and not child_main({"trial": child_trial, "matmul": child_matmul}):
    main()
