rule make_shard:
    input:
        train_images=get_shard_originals,
    # Temporary: removed once the trial has trained. A study's shards are its largest files (the
    # answer's 30 noisy trials: about 12 GB) and cost seconds to make again, which a retrained
    # trial does by itself; --notemp keeps them.
    output:
        shard=temp("results/experiments/{experiment}/trial-{trial}/shards/shard-{shard}.npy"),
        identity=temp("results/experiments/{experiment}/trial-{trial}/shards/shard-{shard}.json"),
    log:
        "results/logs/make_shard/{experiment}/trial-{trial}/shard-{shard}.log",
    benchmark:
        "results/benchmarks/make_shard/{experiment}/trial-{trial}/shard-{shard}.tsv"
    conda:
        ENV
    threads: 2  # a default; profiles change it with set-threads
    resources:
        mem_mb=scaled(1500),
        runtime=scaled(10),
    params:
        shard=get_shard_params,
    script:
        "../../scripts/make_shard.py"


rule noise_examples:
    input:
        train_images=rules.extract_dataset.output.train_images,
    output:
        png=report(
            "results/plots/noise_examples/{condition}.png",
            caption="../report/noise_examples.rst",
            category="Noise examples",
            labels={"condition": "{condition}"},
        ),
    log:
        "results/logs/noise_examples/{condition}.log",
    benchmark:
        "results/benchmarks/noise_examples/{condition}.tsv"
    conda:
        REPORT_ENV
    resources:
        mem_mb=scaled(1000),
        runtime=scaled(10),
    params:
        noise=get_noise,
        noise_params=get_noise_params,
        seed=config["seed"],
        images=8,
    script:
        "../../scripts/noise_examples.py"


# The share of pixel values that clipping to 0..255 changes, per noise condition (summary.md
# quotes it), measured on the first training images.
rule clipping_share:
    input:
        train_images=rules.extract_dataset.output.train_images,
    output:
        json="results/tables/clipping/{condition}.json",
    log:
        "results/logs/clipping_share/{condition}.log",
    benchmark:
        "results/benchmarks/clipping_share/{condition}.tsv"
    conda:
        REPORT_ENV
    resources:
        mem_mb=scaled(1000),
        runtime=scaled(10),
    params:
        noise=get_noise,
        noise_params=get_noise_params,
        seed=config["seed"],
        images=CLIPPING_SAMPLE,
    script:
        "../../scripts/clipping_share.py"
