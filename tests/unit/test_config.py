import copy
import dataclasses
import json
from dataclasses import MISSING

import pytest
import yaml
from workflow_runner import REPO

from cifar_noise import StudyError
from cifar_noise.changes import notes
from cifar_noise.models import ARCHITECTURES
from cifar_noise.noise import NOISES
from cifar_noise.params import TrialParams
from cifar_noise.schema import SCHEMA_PATH, load_schema, validate_config
from cifar_noise.study import Study, derive_seed

GOOD = {
    "experiments": {
        "base": {
            "train_size": 100,
            "architecture": "seed_a",
            "noise": "none",
            "epochs": 1,
            "batch_size": 10,
            "trials": 2,
        },
        "noisy": {
            "train_size": 100,
            "architecture": "seed_a",
            "noise": "gaussian",
            "enlarge": 3,
            "epochs": 1,
            "batch_size": 10,
            "trials": 3,
            "noise_params": {"sigma": 5},
        },
    }
}


def make_study(config: dict) -> Study:
    """The study of a copy of ``config`` (validated, its defaults filled in)."""
    return Study(validate_config(copy.deepcopy(config)))


def broken(path: str, value):
    """GOOD with the value at dotted ``path`` replaced (or deleted for value=KeyError)."""
    config = copy.deepcopy(GOOD)
    *parents, last = path.split(".")
    node = config
    for key in parents:
        node = node.setdefault(key, {})
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return config


@pytest.mark.parametrize("name", ["config.yaml"] + sorted(f"config/{p.name}" for p in (REPO / "config").glob("*.yaml")))
def test_shipped_configs_are_valid(name):
    assert make_study(yaml.safe_load((REPO / name).read_text())).trials()


def test_defaults_are_filled_in_in_place():
    config = copy.deepcopy(GOOD)
    assert validate_config(config) is config  # Snakemake's config itself: no second copy
    assert config["seed"] == 20240601
    assert config["data"]["md5"] == "c58f30108f718f92721af3b95e74349a"
    assert config["noise"]["regional"] == {"patches": 3, "patch_size": 5, "amplitude": 25}
    assert config["experiments"]["base"]["test_set"] == "rest"
    assert config["experiments"]["base"]["enlarge"] == 1
    assert validate_config(copy.deepcopy(config)) == config  # validating it again changes nothing


@pytest.mark.parametrize(
    "path, value, message",
    [
        ("colour", "red", r"\(top level\): Additional properties are not allowed \('colour' was unexpected\)"),
        ("experiments.base.epoch", 3, r"experiments\.base: Additional properties .*'epoch'"),
        ("experiments.base.train_size", "many", r"experiments\.base\.train_size: 'many' is not of type 'integer'"),
        ("experiments.base.train_size", -5, r"experiments\.base\.train_size: -5 is less than the minimum of 1"),
        ("experiments.base.train_size", 50001, r"experiments\.base\.train_size: 50001 is greater than the maximum"),
        ("experiments.base.batch_size", 0, r"experiments\.base\.batch_size: 0 is less than the minimum"),
        ("experiments.base.trials", 0, r"experiments\.base\.trials: 0 is less than the minimum of 1"),
        ("experiments.base.noise", "speckle", r"experiments\.base\.noise: 'speckle' is not one of"),
        ("experiments.base.architecture", "resnet", r"experiments\.base\.architecture: 'resnet' is not one of"),
        ("experiments.base.epochs", KeyError, r"experiments\.base: 'epochs' is a required property"),
        ("experiments.base.test_set", "train", r"experiments\.base\.test_set: 'train' is not one of"),
        ("shards.size", -1, r"shards\.size: -1 is less than the minimum"),
        ("seed", 1.5, r"seed: 1\.5 is not of type 'integer'"),
        ("data.md5", "xyz", r"data\.md5: 'xyz' does not match"),
        ("noise.gaussian.sigma", -1, r"noise\.gaussian\.sigma: -1 is less than the minimum of 0"),
        ("noise.salt_pepper.probability", 2, r"noise\.salt_pepper\.probability: 2 is greater than the maximum of 1"),
        ("training.scale_inputs", "yes", r"training\.scale_inputs: 'yes' is not of type 'boolean'"),
        ("experiments", {}, r"experiments: \{\} should be non-empty"),
        # a runtime setting is the profile's: the config has no key for it
        ("training.threads", 4, r"training: .*'threads' was unexpected\) \(check the spelling; allowed keys are in"),
    ],
)
@pytest.mark.fault(kind="bad config", real=True)
def test_schema_errors_name_the_key(path, value, message):
    with pytest.raises(StudyError, match=message):
        validate_config(broken(path, value))


@pytest.mark.parametrize("name", ["a/b", "has space", "../up", ""])
@pytest.mark.fault(kind="bad config", real=True)
def test_experiment_names_that_break_paths(name):
    config = copy.deepcopy(GOOD)
    config["experiments"][name] = config["experiments"].pop("base")
    with pytest.raises(StudyError, match="experiment name .* not allowed"):
        validate_config(config)


@pytest.mark.parametrize(
    "path, value, message",
    [
        ("experiments.noisy.noise_params", {"probability": 0.2}, r"noisy\.noise_params: probability do not apply"),
        ("experiments.base.enlarge", 3, r"base\.enlarge: is 3 but noise is 'none'"),
        ("experiments.noisy.enlarge", 1, r"noisy\.enlarge: noise 'gaussian' needs enlarge >= 2"),
        ("experiments.base.train_size", 50000, r"base\.test_set: 'rest' with train_size 50000"),
        ("experiments.base.test_size", 59901, r"base\.test_size: 59901 is more than the 59900 images"),
        ("noise.regional.patch_size", 4, None),
    ],
)
@pytest.mark.fault(kind="bad config", real=True)
def test_inconsistent_values(path, value, message):
    config = broken(path, value)
    if message is None:  # an even patch size only matters for experiments that use regional noise
        validate_config(config)
        config["experiments"]["noisy"]["noise"] = "regional"
        config["experiments"]["noisy"]["noise_params"] = {}
        message = "regional patch_size must be odd"
    with pytest.raises(StudyError, match=message):
        validate_config(config)


@pytest.mark.fault(kind="bad config", real=True)
def test_official_test_size_limit():
    config = broken("experiments.base.test_set", "official")
    config["experiments"]["base"]["test_size"] = 10001
    with pytest.raises(StudyError, match="10001 is more than the 10000 images"):
        validate_config(config)


def test_trials_splits_and_shards():
    study = make_study({**GOOD, "matched_baselines": False})
    assert [(t.experiment, t.trial) for t in study.trials()] == [
        ("base", 1),
        ("base", 2),
        ("noisy", 1),
        ("noisy", 2),
        ("noisy", 3),
    ]
    # trial t of every experiment with the same sizes shares one split (paired comparison)
    assert study.split_id("base", 2) == study.split_id("noisy", 2) == "train100-rest-trial02"
    assert study.split_id("base", 1) != study.split_id("base", 2)
    assert study.split_ids() == ["train100-rest-trial01", "train100-rest-trial02", "train100-rest-trial03"]
    assert study.split_params("train100-rest-trial03")["seed"] == derive_seed(study.config["seed"], "split", 3)
    assert study.shard_wildcards("noisy", 1) == [{"experiment": "noisy", "trial": "01", "shard": "0000"}]
    assert study.shard_wildcards("base", 1) == []
    params = study.trial_params("noisy", 3)
    assert params.noise_params == {"sigma": 5}
    assert params.train_seed == derive_seed(study.config["seed"], "train", 3)  # trial 3 of any experiment
    assert study.trial_params("base", 2).train_seed == study.trial_params("noisy", 2).train_seed
    assert params.train_seed != study.trial_params("noisy", 2).train_seed


def test_wildcards_are_converted_and_checked_in_one_place():
    study = make_study(GOOD)
    job = study.wildcards({"experiment": "noisy", "trial": "03", "shard": "0000"})
    assert (job.experiment, job.trial, job.shard, job.split) == ("noisy", 3, 0, None)
    assert study.wildcards(study.trials()[0].wildcards).trial == 1  # the rules' spelling, read back
    for wildcards, message in [
        ({"experiment": "nosy", "trial": "01"}, "no experiment 'nosy' in the config; its experiments: base, noisy"),
        ({"experiment": "noisy", "trial": "04"}, r"experiment 'noisy' has 3 trials \(trial-01 to trial-03\)"),
        ({"experiment": "noisy", "trial": "01", "shard": "0001"}, "shard-0000 to shard-0000: there is no shard-0001"),
        ({"split": "train100-rest-trial09"}, "no trial of the config uses split 'train100-rest-trial09'"),
        ({"sweep": "s"}, "no sweep 's' in the config; its sweeps: none"),
        ({"condition": "gaussian-sigma7"}, "no noise condition 'gaussian-sigma7' in the config; its conditions: "),
        ({"corruption": "fog"}, "no corruption 'fog' in the config; its corruptions: gaussian, "),
        ({"experiment": "noisy", "trial": "x1"}, "trial 'x1' is not a number"),
    ]:
        with pytest.raises(StudyError, match=message):
            study.wildcards(wildcards)


def test_trial_params_defaults_are_the_schemas():
    """TrialParams' defaults (for benchmarks and tests that build one by hand) are the config's."""
    config = make_study(GOOD).config
    experiment = config["experiments"]["base"]
    schema_defaults = {
        **{key: experiment[key] for key in ("test_set", "test_size", "enlarge", "shuffle", "clip", "scale_inputs")},
        "noise_params": {},
        "evaluate_every_epoch": config["training"]["evaluate_every_epoch"],
        "precision": config["training"]["precision"],
        "shard_size": config["shards"]["size"],
    }
    given = {field.name: field.default for field in dataclasses.fields(TrialParams) if field.default is not MISSING}
    given["noise_params"] = TrialParams.__dataclass_fields__["noise_params"].default_factory()
    assert given == schema_defaults


def test_seed_derivation_is_stable():
    # Changing how seeds are derived would silently change every published number: pin it.
    assert derive_seed(20240601, "split", 1) == 747521400
    assert derive_seed(20240601, "noise", 1) == 2825981668
    assert len({derive_seed(1, p, t) for p in ("split", "noise", "train") for t in (1, 2, 3)}) == 9
    assert derive_seed(20240601, "train", 1) == 4116337697


def test_matched_baselines_are_created_or_reused():
    study = make_study(GOOD)
    # noisy: x3 for 1 epoch -> a no-noise baseline of 3 epochs on the same 100 images
    assert "no_noise-100-3ep-b10" in study.experiments
    matched = study.experiments["no_noise-100-3ep-b10"]
    assert (matched["noise"], matched["enlarge"], matched["epochs"], matched["trials"]) == ("none", 1, 3, 3)
    assert study.comparisons == [{"experiment": "noisy", "baseline": "no_noise-100-3ep-b10", "kind": "step-matched"}]

    config = copy.deepcopy(GOOD)
    config["experiments"]["base"]["epochs"] = 3  # base is now exactly the step-matched baseline
    config["experiments"]["noisy"]["baseline"] = "base"
    study = make_study(config)
    assert "no_noise-100-3ep-b10" not in study.experiments
    assert study.experiments["base"]["trials"] == 3  # the larger trial count of the two
    assert study.comparisons == [{"experiment": "noisy", "baseline": "base", "kind": "configured, step-matched"}]


def test_declared_and_matched_baselines_both_compared():
    config = copy.deepcopy(GOOD)
    config["experiments"]["noisy"]["baseline"] = "base"
    kinds = {(c["baseline"], c["kind"]) for c in make_study(config).comparisons}
    assert kinds == {("base", "configured"), ("no_noise-100-3ep-b10", "step-matched")}


@pytest.mark.parametrize(
    "baseline, message",
    [
        ("nothing", "noisy.baseline: no experiment named 'nothing'"),
        ("noisy", "noisy.baseline: an experiment cannot be its own baseline"),
    ],
)
@pytest.mark.fault(kind="bad config", real=True)
def test_bad_baselines(baseline, message):
    config = copy.deepcopy(GOOD)
    config["experiments"]["noisy"]["baseline"] = baseline
    with pytest.raises(StudyError, match=message):
        validate_config(config)


def test_sweeps_expand_into_experiments_and_reuse_identical_ones():
    config = copy.deepcopy(GOOD)
    config["matched_baselines"] = False
    config["sweeps"] = {
        "sigma": {
            "vary": "sigma",
            "values": [0, 5, 10],
            "experiment": {**GOOD["experiments"]["noisy"], "noise_params": {}, "trials": 4},
        },
        "k": {"vary": "enlarge", "values": [1, 3, 6], "experiment": {**GOOD["experiments"]["noisy"], "trials": 2}},
    }
    study = make_study(config)
    # sigma=5 with trials 4 is "noisy" (sigma 5, x3, 1 epoch): reused, with 4 trials now
    assert study.sweeps["sigma"]["experiments"] == ["sigma-sigma0", "noisy", "sigma-sigma10"]
    assert study.experiments["noisy"]["trials"] == 4
    assert study.experiments["sigma-sigma10"]["noise_params"] == {"sigma": 10}
    # enlarge=1 is the originals alone, i.e. the no-noise experiment "base"
    assert study.sweeps["k"]["experiments"] == ["base", "noisy", "k-enlarge6"]
    assert study.experiments["k-enlarge6"]["enlarge"] == 6


@pytest.mark.parametrize(
    "sweep, message",
    [
        (
            {"vary": "probability", "values": [0.1, 0.2]},
            r"sweeps\.s\.vary: probability is not a parameter of noise 'gaussian'",
        ),
        ({"vary": "enlarge", "values": [1, 2.5]}, r"sweeps\.s\.values: enlarge takes whole numbers"),
        ({"vary": "sigma", "values": [1]}, r"sweeps\.s\.values: \[1\] is too short"),
        ({"vary": "speed", "values": [1, 2]}, r"sweeps\.s\.vary: 'speed' is not one of"),
    ],
)
@pytest.mark.fault(kind="bad config", real=True)
def test_bad_sweeps(sweep, message):
    config = copy.deepcopy(GOOD)
    config["sweeps"] = {"s": {**sweep, "experiment": copy.deepcopy(GOOD["experiments"]["noisy"])}}
    with pytest.raises(StudyError, match=message):
        validate_config(config)


def test_unpaired_experiments_get_their_own_split():
    config = copy.deepcopy(GOOD)
    config["experiments"]["broken"] = {**GOOD["experiments"]["base"], "shuffle": "unpaired"}
    study = make_study(config)
    assert study.split_id("broken", 1) == "train100-rest-unpaired-trial01"
    assert study.split_params("train100-rest-unpaired-trial01")["shuffle"] == "unpaired"
    assert study.split_params("train100-rest-trial01")["shuffle"] == "paired"


@pytest.mark.parametrize("kind", list(NOISES))
def test_every_registered_noise_is_a_valid_config_with_its_defaults(kind):
    config = copy.deepcopy(GOOD)
    config["experiments"]["noisy"].update(noise=kind, noise_params={})
    study = make_study(config)
    assert study.experiments["noisy"]["noise_params"] == NOISES[kind].defaults
    assert study.config["noise"][kind] == NOISES[kind].defaults
    for key, spec in NOISES[kind].params.items():  # each parameter can be swept
        values = [1, 3] if spec["type"] == "integer" else [spec["default"] / 2, spec["default"]]
        base = {**GOOD["experiments"]["noisy"], "noise": kind, "noise_params": {}}
        sweep = {"vary": key, "values": values, "experiment": base}
        assert len(make_study({**config, "sweeps": {"s": sweep}}).sweeps["s"]["experiments"]) == 2


def test_schema_is_made_from_the_registries_alone():
    on_disk = yaml.safe_load(SCHEMA_PATH.read_text())  # declares no noise and no architecture itself
    assert on_disk["properties"]["noise"]["properties"] == {}
    assert on_disk["$defs"]["experiment"]["properties"]["noise"]["enum"] == ["none"]
    assert on_disk["$defs"]["experiment"]["properties"]["architecture"]["enum"] == []
    assert on_disk["$defs"]["experiment"]["properties"]["noise_params"]["properties"] == {}
    schema = load_schema()
    experiment = schema["$defs"]["experiment"]["properties"]
    assert experiment["noise"]["enum"] == ["none", *NOISES]
    assert experiment["architecture"]["enum"] == list(ARCHITECTURES)
    with pytest.raises(StudyError, match="'speckle' is not one of"):
        validate_config(broken("experiments.base.noise", "speckle"))


def test_scale_inputs_per_experiment_and_a_raw_vs_scaled_comparison():
    config = copy.deepcopy(GOOD)
    config["experiments"]["raw"] = {**GOOD["experiments"]["base"], "scale_inputs": False, "baseline": "base"}
    study = make_study(config)
    assert study.trial_params("base", 1).scale_inputs is True  # training.scale_inputs' default
    assert study.trial_params("raw", 1).scale_inputs is False
    assert {"experiment": "raw", "baseline": "base", "kind": "configured"} in study.comparisons
    config["training"] = {"scale_inputs": False}  # the global default, per experiment unless set
    assert make_study(config).trial_params("base", 1).scale_inputs is False


@pytest.mark.fault(kind="bad config", real=True)
def test_a_baseline_must_pair_trial_by_trial():
    config = copy.deepcopy(GOOD)
    config["experiments"]["noisy"]["baseline"] = "base"
    config["experiments"]["base"]["train_size"] = 50
    with pytest.raises(StudyError, match="'base' uses other splits .* do not pair"):
        validate_config(config)


def test_a_train_size_sweep_has_its_own_splits_and_baselines_per_size():
    config = copy.deepcopy(GOOD)
    base = {**GOOD["experiments"]["noisy"], "test_set": "official", "trials": 2}
    config["sweeps"] = {"size": {"vary": "train_size", "values": [300, 1000], "experiment": base}}
    study = make_study(config)
    sweep = study.sweeps["size"]
    assert [study.experiments[name]["train_size"] for name in sweep["experiments"]] == [300, 1000]
    assert [study.experiments[name]["noise"] for name in sweep["baselines"]] == ["none", "none"]
    assert [study.experiments[name]["epochs"] for name in sweep["baselines"]] == [3, 3]  # x3 for 1 epoch
    assert study.split_id(sweep["experiments"][0], 1) == study.split_id(sweep["baselines"][0], 1)
    assert study.split_id(sweep["experiments"][0], 1) != study.split_id(sweep["experiments"][1], 1)
    pairs = {(c["experiment"], c["baseline"]) for c in study.comparisons}
    assert set(zip(sweep["experiments"], sweep["baselines"], strict=True)) <= pairs
    config["sweeps"]["size"]["values"] = [300, 60000]
    with pytest.raises(StudyError, match="train_size takes whole numbers from 1 to 50000"):
        make_study(config)


def test_unclipped_noise_is_a_definition_of_its_own_with_int16_shards():
    config = copy.deepcopy(GOOD)
    config["experiments"]["unclipped"] = {**GOOD["experiments"]["noisy"], "clip": False, "baseline": "noisy"}
    study = make_study(config)
    assert study.shard_params("unclipped", 1)["clip"] is False and study.shard_params("noisy", 1)["clip"] is True
    assert study.trial_params("unclipped", 1).clip is False
    assert {"experiment": "unclipped", "baseline": "noisy", "kind": "configured"} in study.comparisons
    # both share one step-matched baseline, which has no noise to clip
    matched = {c["baseline"] for c in study.comparisons if c["kind"] == "step-matched"}
    assert len(matched) == 1 and study.experiments[matched.pop()]["clip"] is True
    config["experiments"]["base"]["clip"] = False
    with pytest.raises(StudyError, match="base.clip: false keeps unclipped noisy values, but noise is 'none'"):
        make_study(config)
    with pytest.raises(StudyError, match="sigma: 5000 is greater than the maximum of 1000"):
        validate_config(broken("experiments.noisy.noise_params", {"sigma": 5000}))


def test_the_default_study_holds_the_analysis_pairs_and_the_train_size_sweep():
    study = make_study(yaml.safe_load((REPO / "config.yaml").read_text()))
    pairs = {(c["experiment"], c["baseline"]) for c in study.comparisons}
    assert ("gaussian_x10_2ep_unclipped", "gaussian_x10_2ep") in pairs  # differs only in clipping
    assert ("no_noise_12ep_raw", "no_noise_12ep") in pairs  # differs only in scale_inputs
    for name, other, field in [
        ("gaussian_x10_2ep_unclipped", "gaussian_x10_2ep", "clip"),
        ("no_noise_12ep_raw", "no_noise_12ep", "scale_inputs"),
    ]:
        a, b = study.experiments[name], study.experiments[other]
        assert {key for key in a if a[key] != b[key]} == {field, "description", "baseline"}
    sweep = study.sweeps["gaussian_train_size"]
    assert sweep["values"][0] < 1000 and sweep["values"][-1] == 15000 and len(sweep["baselines"]) == 5
    assert study.experiments["cutout_x10_2ep"]["noise"] == "cutout"


def test_every_sweep_point_is_compared_with_its_reference():
    """The default study's sweeps: each sigma against sigma=0, each k and each train size against
    its step-matched no-noise baseline (same splits, k*E epochs), every pair compared once."""
    study = make_study(yaml.safe_load((REPO / "config.yaml").read_text()))
    kinds = {(c["experiment"], c["baseline"]): c["kind"] for c in study.comparisons}
    assert len(kinds) == len(study.comparisons)
    sigma = study.sweeps["gaussian_sigma"]
    zero = sigma["experiments"][sigma["values"].index(0)]
    assert sigma["baselines"] == [None, zero, zero, zero, zero] and sigma["baseline_kind"] == "sigma=0"
    assert [kinds[(point, zero)] for point in sigma["experiments"][1:]] == ["sigma=0"] * 4
    for name in ("gaussian_enlarge", "gaussian_train_size"):
        sweep = study.sweeps[name]
        assert sweep["baseline_kind"] == "step-matched"
        for point, baseline in zip(sweep["experiments"], sweep["baselines"], strict=True):
            exp = study.experiments[point]
            if exp["noise"] == "none":  # k = 1: the originals alone, a no-noise run itself
                assert baseline is None
                continue
            base = study.experiments[baseline]
            assert base["noise"] == "none" and base["epochs"] == exp["epochs"] * exp["enlarge"]
            assert study.split_id(point, 1) == study.split_id(baseline, 1)
            assert kinds[(point, baseline)] == "step-matched"
    assert study.sweeps["gaussian_enlarge"]["baselines"][0] is None


def test_a_sweep_without_zero_is_compared_with_the_step_matched_baseline_and_gets_a_title():
    config = copy.deepcopy(GOOD)
    config["sweeps"] = {
        "s": {"vary": "sigma", "values": [5, 10], "experiment": copy.deepcopy(GOOD["experiments"]["noisy"])}
    }
    study = make_study(config)
    sweep = study.sweeps["s"]
    assert sweep["baseline_kind"] == "step-matched" and len(set(sweep["baselines"])) == 1
    assert study.experiments[sweep["baselines"][0]]["epochs"] == 3  # x3 for 1 epoch
    assert sweep["description"] == "sigma = 5, 10: gaussian, x3, 1 epoch, 100 training images"
    assert study.experiments["s-sigma10"]["description"] == f"{sweep['description']}: sigma=10"


BAD_CONFIG = pytest.mark.fault(kind="bad config", real=True)


@pytest.mark.parametrize(
    "grow",
    [
        pytest.param(lambda c: c["experiments"]["base"].update(description="x" * 10_000_000), id="one 10 MB string"),
        pytest.param(
            lambda c: c["experiments"].update({f"e{i}": GOOD["experiments"]["base"] for i in range(60_000)}),
            id="60,000 experiments",
        ),
    ],
)
@BAD_CONFIG
def test_a_config_of_megabytes_is_refused_before_it_is_validated(grow):
    config = copy.deepcopy(GOOD)
    grow(config)
    assert len(yaml.safe_dump(config)) > 1_000_000  # valid YAML, megabytes of it
    with pytest.raises(StudyError, match=r"invalid config: it is \d+\.\d MB, more than the 1 MB"):
        validate_config(config)


@pytest.mark.parametrize(
    "names, sweep, message",
    [
        (["Gaussian", "gaussian"], None, "experiments.gaussian: differs from 'Gaussian' only in case"),
        # a sweep's generated experiment against a declared one
        (["base", "Sigma-sigma7"], "sigma", "experiments.sigma-sigma7: differs from 'Sigma-sigma7' only in case"),
    ],
)
@BAD_CONFIG
def test_names_that_collide_on_a_case_insensitive_filesystem(names, sweep, message):
    config = {"experiments": {name: copy.deepcopy(GOOD["experiments"]["noisy"]) for name in names}}
    if sweep:
        base = {**GOOD["experiments"]["noisy"], "noise_params": {}}
        config["sweeps"] = {sweep: {"vary": "sigma", "values": [7, 9], "experiment": base}}
    with pytest.raises(StudyError, match=message):
        make_study(config)


def test_precision_is_a_parameter_of_every_trial():
    assert make_study(copy.deepcopy(GOOD)).trial_params("base", 1).precision == "float32"  # the default
    config = copy.deepcopy(GOOD)
    config["training"] = {"precision": "bfloat16"}  # other numbers: Snakemake reruns the trials
    assert make_study(config).trial_params("base", 1).precision == "bfloat16"
    with pytest.raises(StudyError, match=r"training\.precision: 'float16' is not one of \['float32', 'bfloat16'\]"):
        validate_config(broken("training.precision", "float16"))


def test_an_experiment_pair_that_differs_only_in_precision_is_two_experiments_on_the_same_splits():
    config = copy.deepcopy(GOOD)
    config["experiments"]["base_bf16"] = {**GOOD["experiments"]["base"], "precision": "bfloat16", "baseline": "base"}
    study = make_study(config)
    fp32, bf16 = study.trial_params("base", 2), study.trial_params("base_bf16", 2)
    assert (fp32.precision, bf16.precision) == ("float32", "bfloat16")  # not merged as one definition
    assert (fp32.split_seed, fp32.train_seed) == (bf16.split_seed, bf16.train_seed)
    assert study.split_id("base", 2) == study.split_id("base_bf16", 2)


def test_the_config_reference_names_every_key_of_an_experiment_and_of_a_sweep():
    from cifar_noise.schema import load_schema

    schema = load_schema()
    text = (REPO / "config/README.md").read_text()
    experiment = next(line for line in text.splitlines() if line.startswith("| `experiments.<name>` |"))
    assert [key for key in schema["$defs"]["experiment"]["properties"] if f"`{key}`" not in experiment] == []
    sweep = next(line for line in text.splitlines() if line.startswith("| `sweeps.<name>` |"))
    keys = schema["properties"]["sweeps"]["additionalProperties"]["properties"]
    assert [key for key in [*keys, *keys["vary"]["enum"]] if f"`{key}`" not in sweep] == []
    assert "inline definition" in sweep


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"training": {"precision": "bfloat16"}}, "training.precision"),
        ({"shards": {"size": 7}}, "shards.size"),
        ({"seed": 8}, "seed"),
    ],
)
def test_a_changed_global_setting_is_named_by_its_key(tmp_path, change, named):
    """Trials that would be redone because of a setting outside the experiments are reported under
    that setting's key, not as a list of every experiment's parameter."""
    before = make_study(GOOD)
    metrics = {}
    for trial in before.trials():
        path = tmp_path / f"{trial.experiment}-{trial.trial}.json"
        path.write_text(json.dumps({"params": before.trial_params(trial.experiment, trial.trial).asdict()}))
        metrics[trial] = str(path)
    after = make_study({**GOOD, **change})
    note = notes(after, metrics, "archive.tar.gz", None, None)
    assert note == [f"{len(metrics)} finished trials would be redone because the config changed: {named}"]
