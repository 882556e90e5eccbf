"""The CPU benchmark's report (benchmarks/run.py): its sections from a results record, whole or cut off."""

import importlib.util
import json

from workflow_runner import REPO

from cifar_noise.provenance import cpu_flags

_spec = importlib.util.spec_from_file_location("cpu_benchmark", REPO / "benchmarks/run.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def train(mode="stream", threads=2, ips=300.0, **extra):
    return {
        "mode": mode,
        "jit": "auto",
        "threads": threads,
        "batch": 128,
        "backend": "tensorflow",
        "deterministic": 1,
        "images_per_second": ips,
        "flops_per_image": 250e6,
        **extra,
    }


def results(complete=True):
    flags = {"avx512_bf16": False, "amx_bf16": False, "avx512f": False, "avx2": True}
    return {
        "complete": complete,
        "quick": False,
        "machine": {"cpu": "Test CPU", "cores": 2, "cpu_flags": flags, "python": "3.11", "date": "2026-01-01"},
        "matmul": {"gflops": 150.0},
        "backend_matmul": {
            "backend": "tensorflow",
            "size": 2048,
            "threads": 2,
            "float32": {"gflops": 100.0, "repeats": 5},
            "bfloat16": {"gflops": 50.0, "repeats": 3},
        },
        "train": [train(), train(mode="fit", ips=320.0), train(threads=1, ips=180.0)],
        "layouts": [train(threads=1, ips=160.0, window=[0.0, 10.0]), train(threads=1, ips=150.0, window=[1.0, 10.0])],
        "precision": {
            "backend": "tensorflow",
            "threads": 2,
            "batch": 128,
            "rounds": 2,
            "flops_per_image": 250e6,
            "float32": {
                "policy": "float32",
                "compute_dtype": "float32",
                "steps": 24,
                "images_per_second": 280.0,
                "xla": False,
            },
            "bfloat16": {
                "policy": "mixed_bfloat16",
                "compute_dtype": "bfloat16",
                "steps": 4,
                "images_per_second": 28.0,
            },
        },
    }


def test_the_report_compares_precisions_with_the_peak_of_their_own_type_and_the_thread_layouts():
    text = bench.report(json.loads(json.dumps(results())))  # as read back from results.json
    assert "avx512_bf16 no, amx_bf16 no" in text
    assert "neither avx512_bf16 nor amx_bf16" in text
    # float32: 280 images/s x 250 MFLOP = 70 GFLOP/s of the backend's 100; bfloat16: 7 of 50
    assert "| float32 | `float32` (compute float32) | 24 | 280 | 70 | 100 | 70% |" in text
    assert "| bfloat16 | `mixed_bfloat16` (compute bfloat16) | 4 | 28 | 7 | 50 | 14% |" in text
    assert "**0.10×** the images per second" in text
    assert "| 1 trial × 2 threads | 300 | 300 |" in text
    assert "| 2 trials × 1 thread, at the same time | 160 and 150 | 310 |" in text
    assert "overlapped for 90%" in text
    assert "**1.03×** the images per second in total" in text
    assert "cut off" not in text


def test_a_run_cut_off_reports_what_it_measured():
    partial = {key: value for key, value in results(complete=False).items() if key in ("complete", "machine", "matmul")}
    text = bench.report(partial)
    assert "**This run was cut off" in text
    assert "## " not in text  # no section without its measurement


def test_cpu_flags_are_booleans():
    flags = cpu_flags()
    assert set(flags) == {"avx512_bf16", "amx_bf16", "avx512f", "avx2"}
    assert all(isinstance(v, bool) for v in flags.values())
