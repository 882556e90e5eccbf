"""Keras-backend plumbing: threads, determinism and which device trains.

The model code is plain Keras 3, so any backend works (``KERAS_BACKEND``: tensorflow, the
default, jax or torch). These helpers must run before Keras is first imported.
"""

from __future__ import annotations

import os

from .provenance import cpu_name


def configure(threads: int, deterministic: bool = True) -> str:
    """Set thread counts and determinism switches for the chosen backend; return its name."""
    backend = os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        if deterministic:
            tf.config.experimental.enable_op_determinism()
    elif backend == "torch":
        import torch

        torch.set_num_threads(threads)
        if deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
    elif backend == "jax":
        if deterministic:
            flags = os.environ.get("XLA_FLAGS", "")
            if "xla_gpu_deterministic_ops" not in flags:
                os.environ["XLA_FLAGS"] = (flags + " --xla_gpu_deterministic_ops=true").strip()
    return backend


def device_description() -> str:
    """"GPU: <name>" when the backend trains on a GPU, else "CPU: <model name>"."""
    import keras

    backend = keras.backend.backend()
    name = None
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", gpus[0].name)
        elif backend == "torch":
            import torch

            if torch.cuda.is_available():
                name = torch.cuda.get_device_name(0)
        elif backend == "jax":
            import jax

            device = jax.devices()[0]
            if device.platform != "cpu":
                name = device.device_kind
    except Exception:  # a broken driver must not stop a CPU run from being described
        name = None
    return f"GPU: {name}" if name else f"CPU: {cpu_name()}"
