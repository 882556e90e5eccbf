"""Keras-backend plumbing: which backend, threads, determinism, GPU memory and which device trains.

The model code is plain Keras 3, so any backend works. ``KERAS_BACKEND`` chooses one; unset, the
first installed of tensorflow (the CPU environment, requirements.lock), jax (the GPU environment,
requirements-gpu.lock, which trains with the compiled engine of cifar_noise.engine) and torch is
used. These helpers must run before Keras is first imported.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import tempfile

from . import StudyError
from .provenance import cpu_name

BACKENDS = ("tensorflow", "jax", "torch")


def choose_backend(env=os.environ) -> str:
    """``KERAS_BACKEND`` if set, else the first installed backend; the choice is written to ``env``."""
    if "KERAS_BACKEND" not in env:
        installed = [name for name in BACKENDS if importlib.util.find_spec(name) is not None]
        env["KERAS_BACKEND"] = installed[0] if installed else "tensorflow"
    return env["KERAS_BACKEND"]


def configure(threads: int, deterministic: bool = True, gpu_memory_fraction: float | None = None) -> str:
    """Set thread counts, determinism switches and the GPU memory cap for the chosen backend;
    return its name. ``gpu_memory_fraction`` caps this process's share of the GPU's memory, so
    that several trials fit on one GPU (None: the backend's default)."""
    backend = choose_backend()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        if deterministic:
            tf.config.experimental.enable_op_determinism()
        if gpu_memory_fraction is not None:  # TensorFlow takes the whole GPU unless told to grow
            for gpu in tf.config.list_physical_devices("GPU"):
                tf.config.experimental.set_memory_growth(gpu, True)
    elif backend == "torch":
        if deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        import torch

        torch.set_num_threads(threads)
        if deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
        if gpu_memory_fraction is not None and torch.cuda.is_available():
            torch.cuda.set_per_process_memory_fraction(gpu_memory_fraction)
    elif backend == "jax":
        if deterministic:
            flags = os.environ.get("XLA_FLAGS", "")
            if "xla_gpu_deterministic_ops" not in flags:
                os.environ["XLA_FLAGS"] = (flags + " --xla_gpu_deterministic_ops=true").strip()
        if gpu_memory_fraction is not None:  # JAX preallocates 75% of the GPU by default
            os.environ.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", f"{gpu_memory_fraction:.3f}")
        # Trials of one study compile the same few programs: the first compiles, the others load
        # the result (the same program, so the same numbers).
        os.environ.setdefault(
            "JAX_COMPILATION_CACHE_DIR", os.path.join(tempfile.gettempdir(), f"cifar-noise-jax-cache-{os.getuid()}")
        )
    return backend


def out_of_device_memory(error: BaseException) -> bool:
    """Whether ``error`` is a backend's out-of-memory error on the GPU (XLA's RESOURCE_EXHAUSTED,
    torch's OutOfMemoryError, TensorFlow's ResourceExhaustedError)."""
    names = {"OutOfMemoryError", "ResourceExhaustedError"}
    return type(error).__name__ in names or "RESOURCE_EXHAUSTED" in str(error)


@contextlib.contextmanager
def gpu_memory_errors(fraction: float | None):
    """A trial that outgrows its share of a shared GPU stops with one line that says what to change."""
    try:
        yield
    except Exception as error:
        if fraction is None or not out_of_device_memory(error):
            raise
        first_line = (str(error).strip().splitlines() or [""])[0][:200]
        raise StudyError(
            f"this job ran out of GPU memory in its share of the GPU ({fraction:.1%}, 90% of it divided by "
            f"trials_per_gpu): lower trials_per_gpu in the profile (set-resources) so that each job gets a "
            f"larger share ({type(error).__name__}: {first_line})"
        ) from None


def gpu_names() -> list[str]:
    """The GPUs the Keras backend can train on (empty on the CPU)."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return [
            tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
            for gpu in tf.config.list_physical_devices("GPU")
        ]
    if backend == "torch":
        import torch

        if not torch.cuda.is_available():
            return []
        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    if backend == "jax":
        import jax

        return [d.device_kind for d in jax.devices() if d.platform != "cpu"]
    return []


def require_gpu() -> list[str]:
    """The backend's GPUs; a StudyError in one line when it sees none (never a silent CPU run)."""
    import keras

    backend = keras.backend.backend()
    try:
        names = gpu_names()
    except Exception as error:  # a broken driver or CUDA library: say so in the same line
        names, problem = [], f"asking for its GPUs failed ({type(error).__name__}: {error})"
    else:
        problem = "it lists no GPU"
    if names:
        return names
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>")
    build = ""
    if backend == "torch":
        import torch

        build = f"; torch {torch.__version__} is built for CUDA {torch.version.cuda}"
    elif backend == "tensorflow":
        import tensorflow as tf

        build = f"; tensorflow {tf.__version__} is built {'with' if tf.test.is_built_with_cuda() else 'without'} CUDA"
    elif backend == "jax":
        import jax

        build = f"; jax {jax.__version__} has {'a' if importlib.util.find_spec('jax_plugins') else 'no'} CUDA plugin"
    raise StudyError(
        f"this job asked for a GPU, but the Keras backend {backend} sees none: {problem} "
        f"(CUDA_VISIBLE_DEVICES={visible}{build}). Fix: install the GPU environment (make setup GPU=1, "
        "which trains with KERAS_BACKEND=jax and JAX's CUDA build) on a machine where "
        "nvidia-smi lists a GPU, or run on the CPU by leaving out the GPU profile"
    )


def device_description() -> str:
    """ "GPU: <name>" when the backend trains on a GPU, else "CPU: <model name>"."""
    try:
        names = gpu_names()
    except Exception:  # a broken driver must not stop a CPU run from being described
        names = []
    return f"GPU: {names[0]}" if names else f"CPU: {cpu_name()}"
