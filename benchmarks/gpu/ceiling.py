"""Two ceilings for the GPU measurement, in plain JAX (no Keras, no workflow):

- the GPU's matrix-product rate (bfloat16 and float32 at JAX's default precision), against which
  every training figure is given as a share;
- a hand-written training loop of seed_a: the same layers, loss and Adam as Keras's, the images
  on the GPU, ``steps`` optimizer steps per call of one jitted ``lax.scan``. What the workflow's
  engine could reach at best.
"""

from __future__ import annotations

import time

import numpy as np


def _timed(run, repeats: int) -> float:
    """Seconds per call of ``run`` (which returns a JAX value), after one warm-up call."""
    import jax

    jax.block_until_ready(run())
    start = time.perf_counter()
    for _ in range(repeats):
        out = run()
    jax.block_until_ready(out)
    return (time.perf_counter() - start) / repeats


def matmul_rates(size: int = 8192, repeats: int = 20) -> dict:
    """FLOP/s of a ``size`` x ``size`` matrix product, bfloat16 and float32."""
    import jax
    import jax.numpy as jnp

    rates = {"size": size}
    for dtype in ("bfloat16", "float32"):
        a = jax.random.normal(jax.random.key(0), (size, size), dtype)
        b = jax.random.normal(jax.random.key(1), (size, size), dtype)
        product = jax.jit(jnp.matmul)
        rates[dtype] = 2 * size**3 / _timed(lambda a=a, b=b, product=product: product(a, b), repeats)
    return rates


def _init(key) -> dict:
    """seed_a's weights, Glorot-uniform as in Keras."""
    import jax

    shapes = {"c1": (3, 3, 3, 64), "c2": (3, 3, 64, 64), "d1": (16384, 128), "d2": (128, 30), "d3": (30, 10)}
    params = {}
    for (name, shape), k in zip(shapes.items(), jax.random.split(key, len(shapes)), strict=True):
        receptive = np.prod(shape[:-2])  # 3 x 3 for a convolution, 1 for a dense layer
        fan_in, fan_out = receptive * shape[-2], receptive * shape[-1]
        limit = np.sqrt(6 / (fan_in + fan_out))
        params[name] = jax.random.uniform(k, shape, minval=-limit, maxval=limit)
        params[name + "_b"] = np.zeros(shape[-1], np.float32)
    return params


def _loss(params, x, y, dtype):
    import jax
    import jax.numpy as jnp

    p = {k: v.astype(dtype) for k, v in params.items()}  # float32 master weights, compute in dtype
    x = x.astype(dtype)
    for conv in ("c1", "c2"):
        x = jax.lax.conv_general_dilated(x, p[conv], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        x = jax.nn.relu(x + p[conv + "_b"])
    x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID").reshape(len(x), -1)
    x = jax.nn.relu(x @ p["d1"] + p["d1_b"])
    x = jax.nn.relu(x @ p["d2"] + p["d2_b"])
    logits = (x @ p["d3"] + p["d3_b"]).astype(jnp.float32)
    cross_entropy = -jnp.mean(jnp.sum(y * jax.nn.log_softmax(logits), axis=-1))
    return cross_entropy + 0.01 * jnp.sum(params["d1"] ** 2)  # Keras's "l2" regulariser on d1


def train_rate(batch: int, steps: int, dtype: str, images: int = 100_000, calls: int = 10) -> float:
    """Images per second of the hand-written loop: ``calls`` calls of ``steps`` steps each."""
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    data = jax.device_put(rng.integers(0, 256, (images, 32, 32, 3), dtype=np.uint8))
    labels = jax.device_put(rng.integers(0, 10, images).astype(np.int32))
    params = _init(jax.random.key(0))
    moments = jax.tree.map(jnp.zeros_like, params), jax.tree.map(jnp.zeros_like, params)
    grad = jax.grad(_loss)

    def step(carry, indices):
        params, (m, v), t = carry
        x = data[indices].astype(jnp.float32) * (1 / 255)
        y = jax.nn.one_hot(labels[indices], 10)
        g = grad(params, x, y, getattr(jnp, dtype))
        t = t + 1
        m = jax.tree.map(lambda m, g: 0.9 * m + 0.1 * g, m, g)
        v = jax.tree.map(lambda v, g: 0.999 * v + 0.001 * g * g, v, g)
        rate = 1e-3 * jnp.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        params = jax.tree.map(lambda p, m, v: p - rate * m / (jnp.sqrt(v) + 1e-7), params, m, v)
        return (params, (m, v), t), None

    order = jax.device_put(rng.permutation(images).astype(np.int32))  # batches gathered at random, as in training

    @jax.jit
    def run(carry, start):
        batches = jax.lax.dynamic_slice_in_dim(order, start, steps * batch).reshape(steps, batch)
        if steps == 1:  # no loop (on the CPU a scanned step is much slower)
            return step(carry, batches[0])[0]
        return jax.lax.scan(step, carry, batches)[0]

    carry = [(params, moments, jnp.zeros((), jnp.float32))]
    starts = iter(range(0, 10**9, steps * batch))

    def one_call():
        carry[0] = run(carry[0], next(starts) % (images - steps * batch + 1))
        return carry[0][2]

    return steps * batch / _timed(one_call, calls)
