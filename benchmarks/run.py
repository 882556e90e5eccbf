"""Speed and memory benchmarks of the workflow's hot paths.

    make benchmark            (= .venv/bin/python benchmarks/run.py)

Every figure is measured in this one run, on this machine, and written to
benchmarks/cpu/results.md (and results.json): ratios are only ever taken between numbers of the same
run. Each measurement runs in a fresh Python process, so that TensorFlow settings cannot leak
from one into the next and peak memory is measured per measurement.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from children import ChildFailed, child_main, run_child  # noqa: E402
from reporting import blocks, document, table  # noqa: E402

from cifar_noise.noise import DEFAULT_PARAMS  # noqa: E402
from cifar_noise.provenance import cpu_name  # noqa: E402

# ---------------------------------------------------------------------------------------------
# The notebook's per-pixel loops, transcribed faithfully (float64 images, Python's random module,
# one element at a time): the baseline the vectorised noise is measured against.


def notebook_regional(x):
    x = x.copy()
    for i in range(x.shape[0]):
        for _ in range(3):
            loc_x = random.randrange(2, 30)
            loc_y = random.randrange(2, 30)
            for u in [-2, -1, 0, 1, 2]:
                for v in [-2, -1, 0, 1, 2]:
                    x[i][loc_x + u][loc_y + v][0] += 50 * (random.random() - 0.5)
                    x[i][loc_x + u][loc_y + v][1] += 50 * (random.random() - 0.5)
                    x[i][loc_x + u][loc_y + v][2] += 50 * (random.random() - 0.5)
    return x


def notebook_salt_pepper(x):
    x = x.copy()
    shape = x.shape
    for i in range(shape[0]):
        for a in range(shape[1]):
            for b in range(shape[2]):
                if random.random() < 0.1:
                    x[i][a][b][0] += 100 * (random.random() - 0.5)
                    x[i][a][b][1] += 100 * (random.random() - 0.5)
                    x[i][a][b][2] += 100 * (random.random() - 0.5)
    return x


def notebook_gaussian(x):
    x = x.copy()
    shape = x.shape
    for i in range(shape[0]):
        for a in range(shape[1]):
            for b in range(shape[2]):
                x[i][a][b][0] += random.gauss(0, 20)
                x[i][a][b][1] += random.gauss(0, 20)
                x[i][a][b][2] += random.gauss(0, 20)
    return x


NOTEBOOK = {"regional": notebook_regional, "salt_pepper": notebook_salt_pepper, "gaussian": notebook_gaussian}

# ---------------------------------------------------------------------------------------------
# measurements (each runs in its own process: `run.py --child NAME [ARGS]` prints one JSON line)


def images(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def child_matmul(_args) -> dict:
    """float32 matrix product with numpy's BLAS on all cores: the machine's practical peak."""
    n = 2048
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    b = a.copy()
    a @ b
    seconds = best_of(5, lambda: a @ b)
    return {"gflops": 2 * n**3 / seconds / 1e9}


def child_noise(args) -> dict:
    from cifar_noise.shards import build_shard, write_shard

    kind, count, reference_count = args.noise, args.count, args.reference
    originals = images(count)
    result = {"kind": kind, "images": count}
    # the notebook's loop on a small sample (it is that slow)
    sample = originals[:reference_count].astype(np.float64)
    random.seed(0)
    result["notebook_images_per_second"] = reference_count / best_of(1, lambda: NOTEBOOK[kind](sample))
    # ours: one shard of `count` perturbed copies, both cores, then written to disk
    params = DEFAULT_PARAMS[kind]
    build_shard(originals[:2000], 0, 2, 2000, kind, params, noise_seed=1, threads=2)  # warm-up
    shard = {}
    result["generate_seconds"] = best_of(
        3, lambda: shard.update(x=build_shard(originals, 0, 2, count, kind, params, noise_seed=1, threads=2))
    )
    with tempfile.TemporaryDirectory(dir=args.tmp) as folder:
        path = Path(folder) / "shard-0000.npy"
        result["write_seconds"] = best_of(3, lambda: write_shard(path, shard["x"]))
    result["images_per_second"] = count / result["generate_seconds"]
    result["images_per_second_with_write"] = count / (result["generate_seconds"] + result["write_seconds"])
    # the physical bound: copying the same bytes once
    out = np.empty_like(originals)
    np.copyto(out, originals)
    result["memcpy_images_per_second"] = count / best_of(5, lambda: np.copyto(out, originals))
    return result


def child_gaussian_law(args) -> dict:
    """Equality of distributions of the table-sampled Gaussian with round(N(0, 20^2)), on 30 M values."""
    from cifar_noise.noise import perturb, rounded_gaussian
    from cifar_noise.stats import goodness_of_fit

    flat = np.full((10_000, 32, 32, 3), 128, dtype=np.uint8)  # 30.7 M values far from the clip bounds
    diff = perturb(flat, "gaussian", {"sigma": 20.0}, np.random.default_rng(1)).astype(np.int64).ravel() - 128
    law = dict(zip(*(a.tolist() for a in rounded_gaussian(20.0)), strict=True))
    return {"values": int(diff.size), **goodness_of_fit(diff, law)}


def child_train(args) -> dict:
    """seed_a training throughput: the workflow's streaming loop from shards, or a plain fit."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from cifar_noise import backend

    backend.configure(args.threads, deterministic=args.deterministic)
    import keras

    from cifar_noise.models import build_model, flops_per_image

    keras.utils.set_random_seed(1)
    model = build_model("seed_a", 1)
    if args.jit != "auto":
        model.compile(
            loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"], jit_compile=args.jit == "on"
        )
    steps, batch = args.steps, args.batch
    count = steps * batch
    result = {
        "mode": args.mode,
        "jit": args.jit,
        "threads": args.threads,
        "batch": batch,
        "backend": keras.backend.backend(),
        "deterministic": args.deterministic,
    }
    if args.mode == "fit":  # the notebook's way: everything in memory as float32
        x = images(count).astype(np.float32) / 255
        y = keras.utils.to_categorical(np.random.default_rng(1).integers(0, 10, count), 10)
        model.fit(x[: 4 * batch], y[: 4 * batch], batch_size=batch, epochs=1, verbose=0)  # compile
        seconds = best_of(2, lambda: model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=True))
    else:  # the workflow's way: uint8 originals + shards on disk, batches streamed
        from cifar_noise.fileio import save_npy
        from cifar_noise.loops import BatchStream
        from cifar_noise.shards import TrainingImages, build_shard, write_shard

        with tempfile.TemporaryDirectory(dir=args.tmp) as folder:
            originals = images(count // 2)
            labels = np.random.default_rng(1).integers(0, 10, len(originals)).astype(np.uint8)
            save_npy(Path(folder) / "train.npy", originals)
            write_shard(
                Path(folder) / "shard.npy",
                build_shard(originals, 0, 2, len(originals), "gaussian", {"sigma": 20.0}, 1, threads=2),
            )
            data = TrainingImages(Path(folder) / "train.npy", labels, [Path(folder) / "shard.npy"], len(originals))
            stream = BatchStream(data, batch, seed=1, scale=True)
            for x, y in stream.epoch(99):  # compile
                model.train_on_batch(x, y)
                break

            def epoch():
                for x, y in stream.epoch(0):
                    model.train_on_batch(x, y)

            seconds = best_of(2, epoch)
    result["images_per_second"] = count / seconds
    result["flops_per_image"] = flops_per_image("seed_a")
    return result


def child_pipeline(args) -> dict:
    """The input pipeline alone, no model: uint8 originals + shards on disk -> shuffled float32
    batches (BatchStream, as a trial streams them), and the test set -> float32 batches (evaluate)."""
    from cifar_noise.cifar import to_inputs
    from cifar_noise.fileio import save_npy
    from cifar_noise.loops import BatchStream
    from cifar_noise.shards import NpyRows, TrainingImages, build_shard, shard_count, write_shard

    train_size, enlarge, shard_size = args.count, 10, 10_000
    folder = Path(args.tmp)
    originals = images(train_size)
    save_npy(folder / "train.npy", originals)
    shards = []
    for s in range(shard_count(train_size, enlarge, shard_size)):
        shards.append(folder / f"shard-{s:04d}.npy")
        write_shard(shards[-1], build_shard(originals, s, enlarge, shard_size, "gaussian", {"sigma": 20.0}, 1, 2))
    labels = np.random.default_rng(1).integers(0, 10, train_size).astype(np.uint8)
    data = TrainingImages(folder / "train.npy", labels, shards, shard_size)
    result = {"train_images": len(data), "train": {}}
    for batch in (128, 512):
        stream = BatchStream(data, batch, seed=1, scale=True)

        def epoch(stream=stream):
            for x, y in stream.epoch(0):
                assert x.dtype == np.float32 and y.dtype == np.float32

        result["train"][batch] = len(data) / best_of(2, epoch)
    test = NpyRows(folder / "train.npy")  # evaluation reads contiguous ranges, as `evaluate` does
    result["eval"] = {}
    for batch in (128, 1000):

        def evaluate(batch=batch):
            for start in range(0, len(test), batch):
                to_inputs(test.read_range(start, min(start + batch, len(test))), True)

        result["eval"][batch] = len(test) / best_of(3, evaluate)
    result["eval_images"] = len(test)
    return result


def child_memory(args) -> dict:
    """Peak RSS of one trial on 50,000 x 10 images (a few hundred steps) with a 45,000-image test set."""
    from cifar_noise.fileio import save_npy
    from cifar_noise.params import TrialParams
    from cifar_noise.shards import build_shard, shard_count, write_shard
    from cifar_noise.train import Runtime, run_trial

    train_size, enlarge, shard_size = 50_000, 10, 10_000
    folder = Path(args.tmp)
    originals = images(train_size)
    save_npy(folder / "train_images.npy", originals)
    save_npy(folder / "train_labels.npy", np.random.default_rng(1).integers(0, 10, train_size).astype(np.uint8))
    save_npy(folder / "test_images.npy", images(45_000, seed=2))
    save_npy(folder / "test_labels.npy", np.random.default_rng(3).integers(0, 10, 45_000).astype(np.uint8))
    shards = []
    for s in range(shard_count(train_size, enlarge, shard_size)):
        shards.append(folder / f"shard-{s:04d}.npy")
        write_shard(shards[-1], build_shard(originals, s, enlarge, shard_size, "gaussian", {"sigma": 20.0}, 1, 2))
    del originals
    shard_bytes = sum(p.stat().st_size for p in shards)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    params = TrialParams(
        experiment="memory",
        trial=1,
        train_size=train_size,
        architecture="seed_a",
        noise="gaussian",
        noise_params={"sigma": 20.0},
        enlarge=enlarge,
        epochs=1,
        batch_size=128,
        shard_size=shard_size,
        seed=1,
        split_seed=1,
        noise_seed=1,
        train_seed=1,
    )
    inputs = {name: folder / f"{name}.npy" for name in ("train_images", "train_labels", "test_images", "test_labels")}
    inputs["shards"] = shards
    outputs = {
        "model": folder / "out" / "model.keras",
        "history": folder / "out" / "history.csv",
        "metrics": folder / "out" / "metrics.json",
    }
    started = time.perf_counter()
    metrics = run_trial(
        params,
        inputs,
        outputs,
        folder / "checkpoints",
        Runtime(threads=2, log=lambda m: None, max_steps_per_epoch=args.steps),
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {
        "train_images": metrics["train_images"],
        "steps": args.steps,
        "test_images": metrics["test_images"],
        "shard_gib": shard_bytes / 2**30,
        "peak_rss_gib": peak / 2**20,
        "rss_before_training_gib": before / 2**20,
        "seconds": time.perf_counter() - started,
        "float32_in_memory_gib": train_size * enlarge * 3072 * 4 / 2**30,
        "float64_in_memory_gib": train_size * enlarge * 3072 * 8 / 2**30,
    }


CHILDREN = {
    "matmul": child_matmul,
    "noise": child_noise,
    "gaussian_law": child_gaussian_law,
    "train": child_train,
    "pipeline": child_pipeline,
    "memory": child_memory,
}

# ---------------------------------------------------------------------------------------------
# orchestration


# A measurement's settings, where its spec does not give them.
DEFAULTS = {"jit": "auto", "threads": 2, "batch": 128, "deterministic": 1}


def child(kind: str, tmp: str, env: dict | None = None, **settings) -> dict:
    """One measurement in its own process (benchmarks/children.py)."""
    try:
        return run_child(__file__, {"kind": kind, "tmp": tmp, **settings}, timeout=3600, env=env)
    except ChildFailed as failure:
        raise SystemExit(f"benchmark {kind} {settings} failed: {failure}") from None


def fmt(value: float) -> str:
    return f"{value:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tmp", default=None, help="folder for temporary shards (default: the system's)")
    parser.add_argument(
        "--out", default=str(REPO / "benchmarks" / "cpu" / "results"), help="writes OUT.md and OUT.json"
    )
    parser.add_argument("--quick", action="store_true", help="fewer images and steps (a smoke run)")
    args = parser.parse_args()

    quick = args.quick
    tmp = tempfile.mkdtemp(prefix="cifar-noise-bench-", dir=args.tmp)
    results = {
        "machine": {
            "cpu": cpu_name(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d"),
        }
    }
    print("matmul peak", file=sys.stderr)
    results["matmul"] = child("matmul", tmp)

    print("noise shards", file=sys.stderr)
    count = 10_000 if quick else 50_000
    reference = (
        {"regional": 100, "salt_pepper": 100, "gaussian": 20}
        if quick
        else {"regional": 500, "salt_pepper": 500, "gaussian": 100}
    )
    results["noise"] = [
        child("noise", tmp, noise=k, count=count, reference=reference[k])
        for k in ("regional", "salt_pepper", "gaussian")
    ]
    results["gaussian_law"] = child("gaussian_law", tmp)

    print("input pipeline alone", file=sys.stderr)
    results["pipeline"] = child("pipeline", tempfile.mkdtemp(dir=tmp), count=3000 if quick else 15000)

    print("training throughput", file=sys.stderr)
    steps = 10 if quick else 40
    variants = [
        ("stream", "auto", 2, 128),
        ("fit", "auto", 2, 128),
        ("stream", "on", 2, 128),
        ("stream", "off", 2, 128),
        ("stream", "auto", 1, 128),
        ("stream", "auto", 2, 256),
    ]
    results["train"] = [
        child("train", tmp, mode=m, jit=j, threads=t, batch=b, steps=steps if b == 128 else steps // 2)
        for m, j, t, b in variants
    ]
    results["train"].append(child("train", tmp, mode="stream", steps=steps, deterministic=0))
    # other Keras backends, where installed (e.g. pip install torch==2.13.0 jax into .venv)
    for other in ("torch", "jax"):
        if importlib.util.find_spec(other) is not None:
            for mode in ("stream", "fit"):
                results["train"].append(child("train", tmp, env={"KERAS_BACKEND": other}, mode=mode, steps=steps))

    print("memory of a 50,000 x 10 trial", file=sys.stderr)
    memory_tmp = tempfile.mkdtemp(dir=tmp)
    results["memory"] = child("memory", memory_tmp, steps=50 if quick else 300)

    Path(args.out + ".json").write_text(json.dumps(results, indent=2) + "\n")
    Path(args.out + ".md").write_text(report(results))
    print(report(results))
    shutil.rmtree(tmp)


def report(r: dict) -> str:
    """OUT.md: the machine and its peak, then one section per measurement, in the order they ran."""
    sections = (machine_section, noise_section, training_section, pipeline_section, memory_section)
    return document(section(r) for section in sections)


def machine_section(r: dict) -> list[str]:
    m = r["machine"]
    return blocks(
        f"# Benchmarks ({m['date']})",
        f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}. float32 matrix product "
        f"(numpy, all cores): **{r['matmul']['gflops']:.0f} GFLOP/s**, the peak that training is compared with.",
    )


def noise_section(r: dict) -> list[str]:
    """Our shards against the notebook's loop and a plain copy; then the Gaussian's goodness of fit."""
    rows = [
        f"| {n['kind']} | {fmt(n['images_per_second'])} | {fmt(n['images_per_second_with_write'])} "
        f"| {fmt(n['notebook_images_per_second'])} "
        f"| {n['images_per_second'] / n['notebook_images_per_second']:,.0f}× "
        f"| {fmt(n['memcpy_images_per_second'])} "
        f"| {n['images_per_second'] / n['memcpy_images_per_second']:.1%} |"
        for n in r["noise"]
    ]
    law = r["gaussian_law"]
    return blocks(
        "## Noise shards",
        "One shard of perturbed copies generated with both cores (`build_shard`), then written as .npy; "
        "the notebook's per-pixel loop on a small sample; a plain memory copy of the same bytes as the "
        "physical bound. Images per second:",
        table(
            "| noise | ours | ours incl. writing | notebook loop | × notebook | memory copy | share of copy speed |",
            rows,
        ),
        f"The table-sampled Gaussian against the exact law of round(N(0, 20²)): χ² = {law['chi2']:.1f} "
        f"on {law['cells'] - 1} degrees of freedom over {law['values']:,} values, p = {law['p_value']:.3f}.",
    )


def training_section(r: dict) -> list[str]:
    """Each training variant's speed, and the share of the matmul peak its FLOPs come to."""
    peak = r["matmul"]["gflops"]
    rows = []
    for t in r["train"]:
        share = t["images_per_second"] * t["flops_per_image"] / 1e9 / peak
        rows.append(
            f"| {t['backend']} | {t['mode']} | {t['jit']} | {t['threads']} | {t['batch']} "
            f"| {'yes' if t['deterministic'] else 'no'} | {fmt(t['images_per_second'])} | {share:.0%} |"
        )
    return blocks(
        "## Training throughput (seed_a, CPU)",
        f"seed_a costs {r['train'][0]['flops_per_image'] / 1e6:.0f} MFLOP per image (forward + backward). "
        "`stream` is the workflow's loop (uint8 originals and shard on disk, batches converted in a "
        "background thread, `train_on_batch`); `fit` is a plain `model.fit` on an in-memory float32 "
        "array, as the notebook did.",
        table(
            "| backend | pipeline | XLA (jit_compile) | threads | batch | deterministic ops | images/s "
            "| share of matmul peak |",
            rows,
        ),
    )


def pipeline_section(r: dict) -> list[str]:
    """The input pipeline's speed next to the training's; it ends on streaming against fit (the
    first two training variants), which the pipeline's figures explain."""
    pipe = r["pipeline"]
    stream, fit = r["train"][0], r["train"][1]
    rows = [f"| training batches | {b} | {fmt(v)} |" for b, v in pipe["train"].items()]
    rows += [f"| evaluation batches | {b} | {fmt(v)} |" for b, v in pipe["eval"].items()]
    return blocks(
        "## Input pipeline alone (no model)",
        f"A trial's input without training: {pipe['train_images']:,} training images (uint8 originals + "
        "shards of Gaussian copies on disk) read in a shuffled order and converted to float32 batches "
        "with one-hot labels by the workflow's `BatchStream` (one reader thread beside the training "
        f"thread), and {pipe['eval_images']:,} test images read in order and converted as `evaluate` does. "
        "Goal: 50,000 images/s per trial. Next to it, the streaming training above: "
        f"{fmt(stream['images_per_second'])} images/s.",
        table("| stage | batch | images/s |", rows),
        f"Streaming from shards vs in-memory fit: **{stream['images_per_second'] / fit['images_per_second']:.2f}×**.",
    )


def memory_section(r: dict) -> list[str]:
    memory = r["memory"]
    return blocks(
        "## Memory",
        f"One trial on {memory['train_images']:,} training images (50,000 × 10, "
        f"{memory['shard_gib']:.2f} GiB of uint8 shards), {memory['steps']} training steps of 128, "
        f"then evaluation on {memory['test_images']:,} test images, streamed: peak RSS "
        f"**{memory['peak_rss_gib']:.2f} GiB** (the same images as one float32 array: "
        f"{memory['float32_in_memory_gib']:.1f} GiB; as the notebook's float64: "
        f"{memory['float64_in_memory_gib']:.1f} GiB).",
    )


if __name__ == "__main__" and not child_main(
    {kind: lambda spec, run=run: run(SimpleNamespace(**{**DEFAULTS, **spec})) for kind, run in CHILDREN.items()}
):
    main()
