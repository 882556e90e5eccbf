"""The schema's bounds on what a config may cost."""

import pytest
import yaml
from workflow_runner import REPO

from cifar_noise import StudyError
from cifar_noise.schema import validate_config
from cifar_noise.study import Study


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c: c["experiments"]["gaussian"].update(enlarge=100000), "enlarge: 100000 is greater than the maximum"),
        (lambda c: c["experiments"]["gaussian"].update(enlarge=100000000), "is greater than the maximum of 100"),
        (lambda c: c["experiments"]["no_noise"].update(trials=1000), "trials: 1000 is greater than the maximum of 100"),
        (lambda c: c["experiments"]["no_noise"].update(epochs=10**6), "epochs: 1000000 is greater than the maximum"),
        (lambda c: c.update(shards={"size": 1}), r"shards.size: 1 makes [\d,]+ shard files, more than the 5,000"),
    ],
)
@pytest.mark.fault(kind="bad config", real=True)
def test_sizes_are_bounded(change, message):
    config = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    change(config)
    with pytest.raises(StudyError, match=message):
        Study(validate_config(config))


def test_the_bound_on_shard_files_names_a_shards_size_that_fits():
    config = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    config["shards"] = {"size": 1}
    with pytest.raises(StudyError, match=r"set shards.size to at least (\d+)") as error:
        Study(validate_config(config))
    config["shards"]["size"] = int(error.value.args[0].split("at least ")[1].split(" ")[0].replace(",", ""))
    study = Study(validate_config(config))
    assert sum(study.shard_count(t.experiment) for t in study.trials()) <= 5000
