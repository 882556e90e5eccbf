rule train_trial:
    input:
        unpack(get_trial_files),
    output:
        metrics="results/experiments/{experiment}/trial-{trial}/metrics.json",
        history="results/experiments/{experiment}/trial-{trial}/history.csv",
        model="results/experiments/{experiment}/trial-{trial}/model.keras",
    log:
        "results/logs/train_trial/{experiment}/trial-{trial}.log",
    benchmark:
        "results/benchmarks/train_trial/{experiment}/trial-{trial}.tsv"
    # A failed or preempted trial is retried with more memory and time (the profile's retries); it
    # resumes from its last per-epoch checkpoint (see training_retries).
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
        # its log as <name>.attempt-<N>.log (trial-01.attempt-2.log), since Snakemake deletes the log before a retry.
        attempt=attempt_number,
    params:
        trial=get_trial_params,
        # where its per-epoch checkpoints go (a path relative to the working directory, so that a
        # moved checkout retrains nothing)
        checkpoints=f"{CHECKPOINTS}/{{experiment}}/trial-{{trial}}",
        # what the records of its split and shards must say (the same values their rules were given)
        split=get_trial_split_params,
        shard=get_shard_params,
    script:
        "../../scripts/train_trial.py"
