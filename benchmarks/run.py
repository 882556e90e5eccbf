"""Speed and memory benchmarks of the workflow's hot paths.

    make benchmark            (= .venv/bin/python benchmarks/run.py)

Every figure is measured in this one run, on this machine, and written to
benchmarks/cpu/results.md (and results.json): ratios are only ever taken between numbers of the same
run. Each measurement runs in a fresh Python process, so that TensorFlow settings cannot leak
from one into the next and peak memory is measured per measurement. results.json is rewritten
after every measurement (its "complete" is false until the last), so a run that is cut off keeps
what it measured; `--render` writes results.md again from it.

    .venv/bin/python benchmarks/run.py --quick --out /tmp/bench/results   (a smoke run: a few minutes)
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
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

from children import ChildFailed, child_main, run_children, wait_for_siblings  # noqa: E402
from reporting import blocks, document, table  # noqa: E402

from cifar_noise.fileio import write_text  # noqa: E402
from cifar_noise.noise import DEFAULT_PARAMS  # noqa: E402
from cifar_noise.provenance import cpu_flags, cpu_name  # noqa: E402

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


def child_backend_matmul(args) -> dict:
    """The training backend's own matrix product (Keras ops, on all cores), float32 and bfloat16:
    the peak of each precision that training in it is compared with."""
    from cifar_noise import backend

    backend.configure(args.threads, deterministic=args.deterministic)
    import keras

    n = args.size
    result = {"backend": keras.backend.backend(), "size": n, "threads": args.threads}
    for dtype in ("float32", "bfloat16"):
        a, b = (keras.ops.cast(keras.random.uniform((n, n), seed=s), dtype) for s in (0, 1))

        def product(a=a, b=b):
            # one element of the result, as float32 (numpy has no bfloat16): waits for the whole product
            keras.ops.convert_to_numpy(keras.ops.cast(keras.ops.matmul(a, b)[0, 0], "float32"))

        product()  # warm-up
        repeats, spent, times = 0, 0.0, []
        while repeats < 3 or spent < args.seconds:  # at least 3 products and `seconds` of them
            times.append(best_of(1, product))
            repeats, spent = repeats + 1, spent + times[-1]
        result[dtype] = {"gflops": 2 * n**3 / min(times) / 1e9, "repeats": repeats}
    return result


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


def streamed_batches(folder: Path, count: int, batch: int):
    """The workflow's input for `count` images: count/2 uint8 originals and one shard of their
    Gaussian copies on disk, read in a shuffled order and converted to float32 batches (BatchStream)."""
    from cifar_noise.fileio import save_npy
    from cifar_noise.loops import BatchStream
    from cifar_noise.shards import TrainingImages, build_shard, write_shard

    originals = images(count // 2)
    labels = np.random.default_rng(1).integers(0, 10, len(originals)).astype(np.uint8)
    save_npy(folder / "train.npy", originals)
    write_shard(
        folder / "shard.npy",
        build_shard(originals, 0, 2, len(originals), "gaussian", {"sigma": 20.0}, 1, threads=2),
    )
    data = TrainingImages(folder / "train.npy", labels, [folder / "shard.npy"], len(originals))
    return BatchStream(data, batch, seed=1, scale=True)


def train_steps(model, stream, epoch: int, steps: int | None = None) -> None:
    """`train_on_batch` over epoch `epoch` of `stream`, or over its first `steps` batches."""
    batches = stream.epoch(epoch)
    try:
        for x, y in batches if steps is None else itertools.islice(batches, steps):
            model.train_on_batch(x, y)
    finally:
        batches.close()


def child_train(args) -> dict:
    """seed_a training throughput: the workflow's streaming loop from shards, or a plain fit. With a
    `barrier`, it waits after its warm-up for the other trials started with it (run_children)."""
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
    window = []  # wall-clock start and end of the timed epochs

    def timed(fn):
        if args.barrier:
            wait_for_siblings(args.barrier, args.parties)
        window.append(time.time())
        seconds = best_of(2, fn)
        window.append(time.time())
        return seconds

    if args.mode == "fit":  # the notebook's way: everything in memory as float32
        x = images(count).astype(np.float32) / 255
        y = keras.utils.to_categorical(np.random.default_rng(1).integers(0, 10, count), 10)
        model.fit(x[: 4 * batch], y[: 4 * batch], batch_size=batch, epochs=1, verbose=0)  # compile
        seconds = timed(lambda: model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=True))
    else:  # the workflow's way: uint8 originals + shards on disk, batches streamed
        with tempfile.TemporaryDirectory(dir=args.tmp) as folder:
            stream = streamed_batches(Path(folder), count, batch)
            train_steps(model, stream, 99, steps=1)  # compile
            seconds = timed(lambda: train_steps(model, stream, 0))
    result["images_per_second"] = count / seconds
    result["flops_per_image"] = flops_per_image("seed_a")
    result["xla"] = bool(getattr(model, "jit_compile", False))  # what jit_compile="auto" came to
    result["window"] = window
    return result


def child_precision(args) -> dict:
    """seed_a's streamed training in float32 and in mixed bfloat16, set as the workflow sets
    training.precision (build_model's `precision`), both models in this one process and their
    epochs alternating (float32, bfloat16, float32, ...), so that both see the same machine."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from cifar_noise import backend

    backend.configure(args.threads, deterministic=args.deterministic)
    import keras

    from cifar_noise.models import PRECISIONS, build_model, flops_per_image

    steps = {"float32": args.steps, "bfloat16": args.bfloat16_steps}
    result = {
        "backend": keras.backend.backend(),
        "threads": args.threads,
        "batch": args.batch,
        "rounds": args.rounds,
        "flops_per_image": flops_per_image("seed_a"),
    }
    with tempfile.TemporaryDirectory(dir=args.tmp) as folder:
        stream = streamed_batches(Path(folder), max(steps.values()) * args.batch, args.batch)
        models = {}
        for precision in steps:
            keras.utils.set_random_seed(1)
            models[precision] = build_model("seed_a", 1, precision)
            train_steps(models[precision], stream, 99, steps=1)  # compile
        seconds = {precision: [] for precision in steps}
        for epoch in range(args.rounds):
            for precision, model in models.items():
                start = time.perf_counter()
                train_steps(model, stream, epoch, steps[precision])
                seconds[precision].append(time.perf_counter() - start)
    for precision, model in models.items():
        result[precision] = {
            "setting": precision,  # training.precision
            "policy": PRECISIONS[precision],
            "compute_dtype": model.layers[0].dtype_policy.compute_dtype,
            "steps": steps[precision],
            "seconds": seconds[precision],
            "images_per_second": steps[precision] * args.batch / min(seconds[precision]),
            "xla": bool(getattr(model, "jit_compile", False)),
        }
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
    """Peak RSS of one trial on `train_size` x 10 images (`steps` steps) with a `test_size`-image test set."""
    from cifar_noise.fileio import save_npy
    from cifar_noise.params import TrialParams
    from cifar_noise.shards import build_shard, shard_count, write_shard
    from cifar_noise.train import Runtime, run_trial

    train_size, enlarge, shard_size, test_size = args.train_size, 10, 10_000, args.test_size
    folder = Path(args.tmp)
    originals = images(train_size)
    save_npy(folder / "train_images.npy", originals)
    save_npy(folder / "train_labels.npy", np.random.default_rng(1).integers(0, 10, train_size).astype(np.uint8))
    save_npy(folder / "test_images.npy", images(test_size, seed=2))
    save_npy(folder / "test_labels.npy", np.random.default_rng(3).integers(0, 10, test_size).astype(np.uint8))
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
        "train_size": train_size,
        "enlarge": enlarge,
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
    "backend_matmul": child_backend_matmul,
    "noise": child_noise,
    "gaussian_law": child_gaussian_law,
    "train": child_train,
    "precision": child_precision,
    "pipeline": child_pipeline,
    "memory": child_memory,
}

# ---------------------------------------------------------------------------------------------
# orchestration


# A measurement's settings, where its spec does not give them.
DEFAULTS = {"jit": "auto", "threads": 2, "batch": 128, "deterministic": 1, "barrier": None, "parties": 1}


def child(kind: str, tmp: str, env: dict | None = None, **settings) -> dict:
    """One measurement in its own process (benchmarks/children.py)."""
    return children(kind, tmp, 1, env, **settings)[0]


def children(kind: str, tmp: str, processes: int, env: dict | None = None, **settings) -> list[dict]:
    """One measurement in `processes` processes at once; with more than one, each waits after its
    warm-up until all are ready (a barrier folder), so that their timed parts run at the same time."""
    spec = {"kind": kind, "tmp": tmp, **settings}
    if processes > 1:
        spec.update(barrier=tempfile.mkdtemp(prefix="barrier-", dir=tmp), parties=processes)
    try:
        return run_children(__file__, [spec] * processes, timeout=3600, env=env)
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
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: few images, steps and small matrices (a few minutes)"
    )
    parser.add_argument("--render", action="store_true", help="measure nothing: write OUT.md again from OUT.json")
    args = parser.parse_args()
    out_json, out_md = Path(args.out + ".json"), Path(args.out + ".md")
    if args.render:
        write_text(out_md, report(json.loads(out_json.read_text())))
        print(out_md.read_text())
        return

    quick = args.quick
    out_json.parent.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="cifar-noise-bench-", dir=args.tmp)
    results = {
        "complete": False,
        "quick": quick,
        "machine": {
            "cpu": cpu_name(),
            "cores": os.cpu_count(),
            "cpu_flags": cpu_flags(),
            "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d"),
        },
    }

    def save() -> None:  # after every measurement, so that a run cut off keeps what it measured
        write_text(out_json, json.dumps(results, indent=2) + "\n")

    save()
    print("matmul peaks", file=sys.stderr)
    results["matmul"] = child("matmul", tmp)
    save()
    results["backend_matmul"] = child(
        "backend_matmul", tmp, threads=os.cpu_count(), size=512 if quick else 2048, seconds=0.2 if quick else 2.0
    )
    save()

    print("noise shards", file=sys.stderr)
    count = 10_000 if quick else 50_000
    reference = (
        {"regional": 100, "salt_pepper": 100, "gaussian": 20}
        if quick
        else {"regional": 500, "salt_pepper": 500, "gaussian": 100}
    )
    results["noise"] = []
    for k in ("regional", "salt_pepper", "gaussian"):
        results["noise"].append(child("noise", tmp, noise=k, count=count, reference=reference[k]))
        save()
    results["gaussian_law"] = child("gaussian_law", tmp)
    save()

    print("input pipeline alone", file=sys.stderr)
    results["pipeline"] = child("pipeline", tempfile.mkdtemp(dir=tmp), count=3000 if quick else 15000)
    save()

    print("training throughput", file=sys.stderr)
    # 24 steps of 128 a timed epoch (40 before the thread layouts and precisions were added; the whole
    # run stays near 10 minutes): about 10 s per epoch at the 2-core machine's speed
    steps = 3 if quick else 24
    variants = [
        ("stream", "auto", 2, 128),
        ("fit", "auto", 2, 128),
        ("stream", "on", 2, 128),
        ("stream", "off", 2, 128),
        ("stream", "auto", 1, 128),
        ("stream", "auto", 2, 256),
    ]
    results["train"] = []
    for m, j, t, b in variants:
        results["train"].append(
            child("train", tmp, mode=m, jit=j, threads=t, batch=b, steps=steps if b == 128 else max(2, steps // 2))
        )
        save()
    results["train"].append(child("train", tmp, mode="stream", steps=steps, deterministic=0))
    save()

    print("thread layouts: two 1-thread trials at once", file=sys.stderr)
    results["layouts"] = children("train", tmp, 2, mode="stream", threads=1, steps=steps)
    save()

    print("float32 against mixed bfloat16", file=sys.stderr)
    # bfloat16 runs fewer steps: on a CPU without bfloat16 instructions it is several times slower
    results["precision"] = child("precision", tmp, steps=steps, bfloat16_steps=max(2, steps // 6), rounds=2)
    save()

    # other Keras backends, where installed (jax is, in requirements.lock; torch: pip install torch==2.13.0),
    # at half the steps: they are slower on the CPU, and compiling takes most of their time
    for other in ("torch", "jax"):
        if importlib.util.find_spec(other) is not None:
            for mode in ("stream", "fit"):
                results["train"].append(
                    child("train", tmp, env={"KERAS_BACKEND": other}, mode=mode, steps=max(2, steps // 2))
                )
                save()

    print("memory of a trial", file=sys.stderr)
    memory_tmp = tempfile.mkdtemp(dir=tmp)
    # the peak RSS does not grow with the steps (batches are read with pread), so 100 steps suffice
    results["memory"] = child(
        "memory",
        memory_tmp,
        steps=5 if quick else 100,
        train_size=5_000 if quick else 50_000,
        test_size=4_500 if quick else 45_000,
    )
    results["complete"] = True
    save()
    write_text(out_md, report(results))
    print(report(results))
    shutil.rmtree(tmp)


def report(r: dict) -> str:
    """OUT.md: the machine and its peaks, then one section per measurement. A section whose
    measurement is missing (a run cut off) is left out."""
    sections = (
        machine_section,
        noise_section,
        training_section,
        layouts_section,
        precision_section,
        pipeline_section,
        memory_section,
    )
    return document(section(r) for section in sections)


def yes_no(value: bool) -> str:
    return "yes" if value else "no"


def machine_section(r: dict) -> list[str]:
    m = r["machine"]
    peaks = []
    if "matmul" in r:
        peaks.append(
            f"float32 matrix product (numpy, all cores): **{r['matmul']['gflops']:.0f} GFLOP/s**, "
            "the peak that training is compared with."
        )
    if "backend_matmul" in r:
        bm = r["backend_matmul"]
        peaks.append(
            f"The training backend's own product ({bm['backend']} through Keras ops, {bm['size']} × {bm['size']}, "
            f"{bm['threads']} threads): float32 **{bm['float32']['gflops']:.0f} GFLOP/s**, bfloat16 "
            f"**{bm['bfloat16']['gflops']:.0f} GFLOP/s**, the peaks of the precision comparison below."
        )
    flags = m.get("cpu_flags")
    if flags:
        peaks.append("CPU flags: " + ", ".join(f"{name} {yes_no(has)}" for name, has in flags.items()) + ".")
    notes = []
    if not r.get("complete", True):
        notes.append("**This run was cut off: the sections below are those it finished.**")
    if r.get("quick"):
        notes.append("**A smoke run (`--quick`): tiny sizes, the figures mean nothing.**")
    return blocks(
        f"# Benchmarks ({m['date']})",
        " ".join([f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}.", *peaks]),
        *notes,
    )


def noise_section(r: dict) -> list[str]:
    """Our shards against the notebook's loop and a plain copy; then the Gaussian's goodness of fit."""
    if not r.get("noise"):
        return []
    rows = [
        f"| {n['kind']} | {fmt(n['images_per_second'])} | {fmt(n['images_per_second_with_write'])} "
        f"| {fmt(n['notebook_images_per_second'])} "
        f"| {n['images_per_second'] / n['notebook_images_per_second']:,.0f}× "
        f"| {fmt(n['memcpy_images_per_second'])} "
        f"| {n['images_per_second'] / n['memcpy_images_per_second']:.1%} |"
        for n in r["noise"]
    ]
    law = r.get("gaussian_law")
    return blocks(
        "## Noise shards",
        "One shard of perturbed copies generated with both cores (`build_shard`), then written as .npy; "
        "the notebook's per-pixel loop on a small sample; a plain memory copy of the same bytes as the "
        "physical bound. Images per second:",
        table(
            "| noise | ours | ours incl. writing | notebook loop | × notebook | memory copy | share of copy speed |",
            rows,
        ),
        *(
            [
                f"The table-sampled Gaussian against the exact law of round(N(0, 20²)): χ² = {law['chi2']:.1f} "
                f"on {law['cells'] - 1} degrees of freedom over {law['values']:,} values, p = {law['p_value']:.3f}."
            ]
            if law
            else []
        ),
    )


def training_section(r: dict) -> list[str]:
    """Each training variant's speed, and the share of the matmul peak its FLOPs come to."""
    if not r.get("train") or "matmul" not in r:
        return []
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


def find_train(r: dict, **match) -> dict | None:
    """The first training variant with these settings (the defaults for the rest), or None."""
    wanted = {"mode": "stream", "backend": "tensorflow", **DEFAULTS, **match}
    keys = ("mode", "backend", "jit", "threads", "batch", "deterministic")
    return next((t for t in r.get("train", []) if all(t[key] == wanted[key] for key in keys)), None)


def layouts_section(r: dict) -> list[str]:
    """One trial on both threads against two one-thread trials at the same time."""
    pair, whole, alone = r.get("layouts"), find_train(r), find_train(r, threads=1)
    if not pair or whole is None:
        return []
    speeds = [t["images_per_second"] for t in pair]
    starts, ends = [t["window"][0] for t in pair], [t["window"][1] for t in pair]
    overlap = max(0.0, min(ends) - max(starts)) / (max(ends) - min(starts))
    whole_speed = fmt(whole["images_per_second"])
    rows = [f"| 1 trial × {whole['threads']} threads | {whole_speed} | {whole_speed} |"]
    if alone is not None:
        rows.append(
            f"| 1 trial × 1 thread, alone (for reference) | {fmt(alone['images_per_second'])} "
            f"| {fmt(alone['images_per_second'])} |"
        )
    rows.append(
        f"| {len(pair)} trials × 1 thread, at the same time | {' and '.join(fmt(v) for v in speeds)} "
        f"| {fmt(sum(speeds))} |"
    )
    return blocks(
        "## Thread layouts (seed_a, CPU)",
        f"How to spend the cores: one trial with {whole['threads']} threads, or {len(pair)} trials with one "
        f"thread each, started together as {len(pair)} processes (each waits for the others after its "
        f"warm-up; their timed epochs overlapped for {overlap:.0%} of the time they spanned). All are the "
        f"streaming loop above at batch {whole['batch']}; the {whole['threads']}-thread trial is the first row "
        "of the training table. Images per second:",
        table("| layout | per trial | in total |", rows),
        f"{len(pair)} one-thread trials against one {whole['threads']}-thread trial: "
        f"**{sum(speeds) / whole['images_per_second']:.2f}×** the images per second in total.",
    )


def precision_section(r: dict) -> list[str]:
    """float32 against mixed bfloat16, each as a share of the backend's matmul peak of its own type."""
    p, bm = r.get("precision"), r.get("backend_matmul")
    if not p or not bm:
        return []
    flags = r["machine"].get("cpu_flags", {})
    rows = []
    for precision in ("float32", "bfloat16"):
        t = p[precision]
        rate = t["images_per_second"] * p["flops_per_image"] / 1e9
        peak = bm[precision]["gflops"]
        rows.append(
            f"| {precision} | `{t['policy']}` (compute {t['compute_dtype']}) | {t['steps']} "
            f"| {fmt(t['images_per_second'])} | {rate:.0f} | {peak:.0f} | {rate / peak:.0%} |"
        )
    native = [name for name in ("avx512_bf16", "amx_bf16") if flags.get(name)]
    if native:
        cpu = f"This CPU has {' and '.join(native)}: bfloat16 instructions of its own."
    elif flags:
        cpu = (
            "This CPU has neither avx512_bf16 nor amx_bf16, so no bfloat16 arithmetic of its own: the "
            "figures are what bfloat16 costs here, not on a CPU that has them."
        )
    else:
        cpu = "The CPU's flags could not be read."
    ratio = p["bfloat16"]["images_per_second"] / p["float32"]["images_per_second"]
    return blocks(
        "## float32 against mixed bfloat16 (seed_a, CPU)",
        "The streaming loop of seed_a in float32 and in mixed bfloat16 (`training.precision: bfloat16`, "
        "through `build_model`: bfloat16 compute, float32 weights and output layer), both models in one "
        f"process with {p['threads']} threads and batch {p['batch']}, their epochs alternating "
        f"(float32, bfloat16, ...; the best of {p['rounds']} each), so that both see the same machine. "
        f"Each is compared with the matrix product of its own type measured with the training backend "
        f"({bm['backend']}, {bm['size']} × {bm['size']}), at the same "
        f"{p['flops_per_image'] / 1e6:.0f} MFLOP per image (`cifar_noise.models.flops_per_image`). "
        f"XLA: {'on' if p['float32']['xla'] else 'off'} (Keras's `auto`). {cpu}",
        table(
            "| precision | Keras policy | steps per epoch | images/s | GFLOP/s | matmul peak of that type (GFLOP/s) "
            "| share of it |",
            rows,
        ),
        f"Mixed bfloat16 against float32: **{ratio:.2f}×** the images per second.",
    )


def pipeline_section(r: dict) -> list[str]:
    """The input pipeline's speed next to the training's; it ends on streaming against fit (the
    first two training variants), which the pipeline's figures explain."""
    pipe = r.get("pipeline")
    if not pipe:
        return []
    stream, fit = find_train(r), find_train(r, mode="fit")
    rows = [f"| training batches | {b} | {fmt(v)} |" for b, v in pipe["train"].items()]
    rows += [f"| evaluation batches | {b} | {fmt(v)} |" for b, v in pipe["eval"].items()]
    beside = (
        f" Next to it, the streaming training above: {fmt(stream['images_per_second'])} images/s." if stream else ""
    )
    return blocks(
        "## Input pipeline alone (no model)",
        f"A trial's input without training: {pipe['train_images']:,} training images (uint8 originals + "
        "shards of Gaussian copies on disk) read in a shuffled order and converted to float32 batches "
        "with one-hot labels by the workflow's `BatchStream` (one reader thread beside the training "
        f"thread), and {pipe['eval_images']:,} test images read in order and converted as `evaluate` does. "
        "Goal: 50,000 images/s per trial." + beside,
        table("| stage | batch | images/s |", rows),
        *(
            [
                "Streaming from shards vs in-memory fit: "
                f"**{stream['images_per_second'] / fit['images_per_second']:.2f}×**."
            ]
            if stream and fit
            else []
        ),
    )


def memory_section(r: dict) -> list[str]:
    memory = r.get("memory")
    if not memory:
        return []
    size, enlarge = memory.get("train_size", 50_000), memory.get("enlarge", 10)
    return blocks(
        "## Memory",
        f"One trial on {memory['train_images']:,} training images ({size:,} × {enlarge}, "
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
