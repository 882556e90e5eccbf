"""Trial counts from measured power (benchmarks/gpu/size_trials.py)."""

import sys

import pandas as pd
from workflow_runner import REPO

sys.path.insert(0, str(REPO / "benchmarks/gpu"))
from size_trials import primary, proposal  # noqa: E402


def test_each_primary_comparison_gets_the_trials_its_noisier_axis_needs():
    trials = pd.DataFrame(
        {
            "experiment": ["gaussian_x10", "no_noise-20ep", "gaussian_6k", "no_noise-6k"],
            "train_size": [15000, 15000, 6000, 6000],
            "enlarge": [10, 1, 10, 1],
        }
    )
    rows = [
        ("gaussian_x10", "no_noise-20ep", "step-matched", "clean", 0.004, 8.0),
        ("gaussian_x10", "no_noise-20ep", "step-matched", "corruption", 0.006, 12.0),
        ("gaussian_x10", "no_noise-20ep", "configured", "clean", 0.009, 40.0),  # not step-matched
        ("gaussian_6k", "no_noise-6k", "step-matched", "clean", 0.02, 90.0),  # another train size
    ]
    columns = ["experiment", "baseline", "kind", "metric", "sd_difference", "trials_for_1pp"]
    comparisons = pd.DataFrame(rows, columns=columns)
    chosen = primary(comparisons, trials, train_size=15000, enlarge=10)
    assert list(chosen["trials_for_1pp"]) == [8.0, 12.0]
    counts = proposal(chosen, most=10)
    assert {name: entry["trials"] for name, entry in counts.items()} == {"gaussian_x10": 10, "no_noise-20ep": 10}
    assert proposal(chosen, most=50)["gaussian_x10"]["trials"] == 12
    assert proposal(chosen, most=50)["no_noise-20ep"]["sd"] == {
        "gaussian_x10 clean": 0.004,
        "gaussian_x10 corruption": 0.006,
    }
