rule download_archive:
    output:
        archive=f"{RESULTS}/data/cifar-10-python.tar.gz",
    params:
        url=CONFIG["data"]["url"],
        md5=CONFIG["data"]["md5"],
    log:
        f"{RESULTS}/logs/download_archive.log",
    benchmark:
        f"{RESULTS}/benchmarks/download_archive.tsv"
    localrule: True  # cluster nodes often have no internet
    conda:
        ENV
    script:
        "../../scripts/download_archive.py"


rule extract_dataset:
    input:
        archive=STUDY.archive,
    output:
        **STUDY.DATASET,
    params:
        local_archive=bool(CONFIG["data"]["archive"]),
        archive_md5=CONFIG["data"]["archive_md5"],
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(15),
    log:
        f"{RESULTS}/logs/extract_dataset.log",
    benchmark:
        f"{RESULTS}/benchmarks/extract_dataset.tsv"
    conda:
        ENV
    script:
        "../../scripts/extract_dataset.py"


rule split_dataset:
    input:
        **STUDY.DATASET,
    output:
        **{name: f"{RESULTS}/splits/{{split}}/{name}.npy" for name in STUDY.DATASET},
    params:
        split=lambda wildcards: STUDY.split_params(wildcards.split),
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(15),
    log:
        f"{RESULTS}/logs/split_dataset/{{split}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/split_dataset/{{split}}.tsv"
    conda:
        ENV
    script:
        "../../scripts/split_dataset.py"
