# Robustness: corrupted test sets, made once per split and corruption, and one evaluation job per
# trial that reads the trained model. A new corruption adds jobs here and never retrains a trial.


rule corrupt_test_set:
    input:
        test_images=rules.split_dataset.output.test_images,
    output:
        images="results/corrupted/{split}/{corruption}.npy",
    log:
        "results/logs/corrupt_test_set/{split}/{corruption}.log",
    benchmark:
        "results/benchmarks/corrupt_test_set/{split}/{corruption}.tsv"
    conda:
        ENV
    threads: 1  # a default; profiles change it with set-threads
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(10),
    params:
        corrupted=get_corruption_params,
    script:
        "../../scripts/corrupt_test_set.py"


rule evaluate_trial:
    input:
        unpack(get_evaluation_files),
        model=rules.train_trial.output.model,
    output:
        robustness="results/experiments/{experiment}/trial-{trial}/robustness.json",
    log:
        "results/logs/evaluate_trial/{experiment}/trial-{trial}.log",
    benchmark:
        "results/benchmarks/evaluate_trial/{experiment}/trial-{trial}.tsv"
    # A trained model is evaluated before the next training starts: its trial is whole sooner.
    priority: 1
    conda:
        TRAIN_ENV
    threads: 2  # a default; profiles change it with set-threads
    # Like training, a runtime setting: profiles/gpu gives each evaluation a slot of a GPU.
    resources:
        gpu=0,
        trials_per_gpu=1,
        mem_mb=scaled(3000),
        runtime=scaled(30),
    params:
        evaluation=get_evaluation_params,
    script:
        "../../scripts/evaluate_trial.py"
