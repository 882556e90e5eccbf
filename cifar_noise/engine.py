"""The compiled training engine for Keras on JAX: the trial's images on the device, many steps a call.

Keras's own loop (``train_on_batch``, the TensorFlow and torch path in cifar_noise.train) pays on
the host for every step: a float32 batch is built and copied, the step is dispatched, its loss is
read back. On a GPU that overhead, not the arithmetic, sets the pace. Here instead:

- the trial's images (originals and noise shards, uint8 or int16) and its labels go to the device
  once;
- one call of a jitted function runs several optimizer steps (``lax.scan``); each step gathers
  its batch by index on the device, converts it to float there, and adds its loss and its correct
  predictions to sums that stay there;
- the host reads those sums only for a progress report and at the end of an epoch.

Each step is Keras's own ``train_step`` (the model's loss, its regularisation, its optimizer), fed
with freshly reset metrics as ``train_on_batch`` does, so the weights follow ``train_on_batch``'s
within float tolerance (tests/unit/test_engine.py). The epoch order is the streaming loop's
(``epoch_order(size, seed, epoch)``), so checkpoints and resumes mean the same on every backend.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .cifar import NUM_CLASSES, to_inputs

# Optimizer steps per call of the compiled function. On a GPU a call per step costs more than the
# step itself (the launch and the Python around it). On the CPU a scanned step is many times
# slower than a plain one (XLA's CPU convolutions inside a loop: about 30x for seed_a, measured
# with jax 0.10.2), and a call costs little next to a step, so there each call runs one step.
STEPS_PER_CALL = {"cpu": 1}
GPU_STEPS_PER_CALL = 32


def steps_per_call() -> int:
    import jax

    return STEPS_PER_CALL.get(jax.default_backend(), GPU_STEPS_PER_CALL)


def call_plan(images: int, batch: int, steps: int) -> list[tuple[int, int, int]]:
    """(start, steps, batch) of each call for an epoch of ``images``: calls of ``steps`` full
    batches, then the full batches left over one a call, then the last, smaller batch. Each of
    these three shapes compiles once."""
    full, rest = divmod(images, batch)
    scanned = full // steps * steps
    calls = [(start, steps, batch) for start in range(0, scanned * batch, steps * batch)]
    calls += [(start, 1, batch) for start in range(scanned * batch, full * batch, batch)]
    return calls + ([(full * batch, 1, rest)] if rest else [])


class CompiledLoop:
    """Trains a compiled Keras model on JAX, one epoch at a time, with the data on the device.

    ``images``: all N * k training images of the trial in their global order (originals first,
    then the shards' copies); ``labels``: the N originals' labels (image g has label g % N).
    ``epoch_order(epoch)`` gives the order of an epoch's images. The model's variables are only
    brought up to date by :meth:`sync_model` (before a checkpoint, an evaluation or the save).
    """

    def __init__(
        self,
        model,
        images: np.ndarray,
        labels: np.ndarray,
        batch_size: int,
        epoch_order: Callable[[int], np.ndarray],
        scale: bool,
        steps: int | None = None,
    ):
        import jax

        self.model, self.batch_size, self.epoch_order, self.scale = model, batch_size, epoch_order, scale
        self.size, self.originals = len(images), len(labels)
        self.steps = steps or steps_per_call()
        example = (np.zeros((batch_size, *images.shape[1:]), np.float32), np.zeros((batch_size, NUM_CLASSES)))
        # What fit() and train_on_batch() do before their first step: build the optimizer and the
        # compiled loss and metrics, whose variables train_step expects.
        model._symbolic_build(data_batch=(*example, None))
        model.reset_metrics()
        self.fresh_metrics = [v.value for v in model.metrics_variables]  # train_on_batch resets them each step
        self.data = jax.device_put((images, labels.astype(np.int32)))
        # The training state lives here, not in the model, between sync_model() calls.
        self.state = jax.device_put(
            tuple(
                [np.asarray(v.value) for v in variables]
                for variables in (model.trainable_variables, model.non_trainable_variables, model.optimizer.variables)
            )
        )
        self._run = jax.jit(self._run_steps, static_argnums=(4, 5), donate_argnums=(0,))

    def _run_steps(self, carry, data, order, start, steps: int, batch: int):
        """``steps`` optimizer steps of ``batch`` images each, the first at ``order[start]``."""
        import jax
        import jax.numpy as jnp

        images, labels = data
        batches = jax.lax.dynamic_slice_in_dim(order, start, steps * batch).reshape(steps, batch)

        def step(carry, indices):
            state, loss_sum, correct = carry
            x = to_inputs(images[indices], self.scale)
            y = jax.nn.one_hot(labels[indices % self.originals], NUM_CLASSES, dtype=jnp.float32)
            logs, (*state, _) = self.model.train_step((*state, self.fresh_metrics), (x, y, None))
            # the batch's mean loss and accuracy, as train_on_batch returns them, back to sums
            loss_sum = loss_sum + logs["loss"] * batch
            correct = correct + jnp.round(logs["accuracy"] * batch).astype(jnp.int32)
            return (tuple(state), loss_sum, correct), None

        if steps == 1:  # no loop: on the CPU a scanned step is much slower
            return step(carry, batches[0])[0]
        return jax.lax.scan(step, carry, batches)[0]

    def epoch(self, epoch: int, max_steps: int | None, progress) -> tuple[int, float, float]:
        """Train one epoch (at most ``max_steps`` steps); return (images, loss sum, correct sum).
        ``progress.due()`` says when to read the sums back for ``progress(images, loss_sum)``."""
        import jax
        import jax.numpy as jnp

        order = self.epoch_order(epoch).astype(np.int32)
        if max_steps is not None:
            order = order[: max_steps * self.batch_size]
        carry = (self.state, jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32))
        on_device = jax.device_put(order)
        for start, steps, batch in call_plan(len(order), self.batch_size, self.steps):
            carry = self._run(carry, self.data, on_device, start, steps, batch)
            if progress.due():  # the only reads mid-epoch: they wait for the device
                progress(start + steps * batch, float(carry[1]))
        self.state, loss_sum, correct = carry
        return len(order), float(loss_sum), float(correct)

    def sync_model(self) -> None:
        """Copy the training state into the model's variables (host copies: the state's own
        buffers are handed over to the next call)."""
        variables = (self.model.trainable_variables, self.model.non_trainable_variables, self.model.optimizer.variables)
        for refs, values in zip(variables, self.state, strict=True):
            for ref, value in zip(refs, values, strict=True):
                ref.assign(np.asarray(value))


def compiled_predict(model, scale: bool) -> Callable[[np.ndarray], np.ndarray]:
    """images -> class probabilities (float32), the conversion and the model compiled on the device."""
    import jax

    weights = ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables])

    @jax.jit
    def predict(weights, images):
        probs, _ = model.stateless_call(*weights, to_inputs(images, scale), training=False)
        return probs.astype(np.float32)

    return lambda images: np.asarray(predict(weights, images))
