rule train_trial:
    input:
        unpack(get_trial_files),
    output:
        metrics=f"{RESULTS}/experiments/{{experiment}}/trial-{{trial}}/metrics.json",
        history=f"{RESULTS}/experiments/{{experiment}}/trial-{{trial}}/history.csv",
        model=f"{RESULTS}/experiments/{{experiment}}/trial-{{trial}}/model.keras",
    log:
        f"{RESULTS}/logs/train_trial/{{experiment}}/trial-{{trial}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_trial/{{experiment}}/trial-{{trial}}.tsv"
    # A failed or preempted trial is retried with more memory and time; it resumes from its last
    # per-epoch checkpoint (see training_retries).
    retries: training_retries()
    conda:
        TRAIN_ENV
    threads: 2  # a default; profiles change it with set-threads
    # Where a trial trains is a runtime setting, not part of the study: the GPU profiles set gpu=1
    # (and trials_per_gpu) for this rule; without them it trains on the CPU.
    resources:
        gpu=0,
        trials_per_gpu=1,
        mem_mb=scaled(4000),
        runtime=train_runtime,
        # Which attempt this is (Snakemake gives scripts no other way to know): each attempt keeps
        # its log as <log>.attempt-<N>.log, since Snakemake deletes the log before a retry.
        attempt=lambda wildcards, attempt: attempt,
    params:
        trial=get_trial_params,
        checkpoint_dir=lambda wildcards: STUDY.checkpoint_dir(wildcards.experiment, wildcards.trial),
        # what the records of its split and shards must say (the same values their rules were given)
        split=get_trial_split_params,
        shard=get_shard_params,
    script:
        "../../scripts/train_trial.py"
