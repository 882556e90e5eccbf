"""The compiled engine (Keras on JAX, cifar_noise.engine) on the CPU: the same weights as Keras's own
train_on_batch loop, several steps a call (a real trial through the workflow, killed and resumed:
tests/workflow/test_engine_resume.py)."""

import pytest
from workflow_runner import run_with_jax

from cifar_noise import StudyError
from cifar_noise.backend import gpu_memory_errors
from cifar_noise.engine import call_plan


def test_an_epoch_is_cut_into_calls_of_three_shapes():
    assert call_plan(23, batch=4, steps=2) == [(0, 2, 4), (8, 2, 4), (16, 1, 4), (20, 1, 3)]
    assert call_plan(8, batch=4, steps=1) == [(0, 1, 4), (4, 1, 4)]
    assert call_plan(3, batch=8, steps=4) == [(0, 1, 3)]
    plan = call_plan(1000, batch=32, steps=8)
    covered = [i for start, steps, batch in plan for i in range(start, start + steps * batch)]
    assert covered == list(range(1000))
    assert {(steps, batch) for _, steps, batch in plan} == {(8, 32), (1, 32), (1, 8)}


def assert_same_epochs(result, rel):
    for (seen, loss, correct), (seen2, loss2, correct2) in zip(result["expected"], result["found"], strict=True):
        assert seen2 == seen and correct2 == pytest.approx(correct, abs=1e-3)
        assert loss2 == pytest.approx(loss, rel=rel)


@pytest.mark.slow
def test_the_compiled_loop_ends_with_train_on_batchs_weights_after_300_steps(tmp_path):
    # 300 images x 2, batch 8: 75 steps an epoch, 4 epochs. One step a call, as on the CPU.
    result = run_with_jax("follow_train_on_batch", folder=str(tmp_path), images=300, batch=8, epochs=4, steps=1)
    assert result["steps"] == 300
    assert result["weight_difference"] <= 1e-6 * result["weight_scale"], result
    assert_same_epochs(result, rel=1e-5)  # the loss summed in float32 on the device
    assert result["predict_difference"] <= 1e-6  # the compiled evaluation predicts as Keras does


@pytest.mark.slow
def test_several_steps_a_call_give_the_same_weights(tmp_path):
    # Tiny on purpose: on the CPU a scanned step runs many times slower than a plain one.
    result = run_with_jax("follow_train_on_batch", folder=str(tmp_path), images=11, batch=4, epochs=1, steps=2)
    assert result["steps"] == 6  # calls of 2 steps, 2 steps, 1 step of 4 and the last 2 images
    assert result["weight_difference"] <= 1e-5 * result["weight_scale"], result
    assert_same_epochs(result, rel=1e-5)


def test_running_out_of_a_gpu_share_names_trials_per_gpu():
    class XlaRuntimeError(RuntimeError):
        pass

    with pytest.raises(StudyError, match="lower trials_per_gpu") as caught:
        with gpu_memory_errors(0.1125):
            raise XlaRuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 2.00GiB.\nmore")
    assert "11.2%" in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(XlaRuntimeError):  # on the CPU (no share of a GPU) the error stays what it is
        with gpu_memory_errors(None):
            raise XlaRuntimeError("RESOURCE_EXHAUSTED")
    with pytest.raises(ValueError):
        with gpu_memory_errors(0.5):
            raise ValueError("something else")
