# One job per dataset: its FID/KID reference statistics and real-vs-real floor rows (the digits
# classifier whose features they are is trained by the first job that needs it, under a lock).
rule reference:
    output:
        reference=LAYOUT.pattern(FID_REFERENCE),
        rows=LAYOUT.pattern(METRICS, name=DATA_METRICS),
    log:
        log_path("features", "{dataset}/reference"),
    benchmark:
        benchmark_path("features", "{dataset}/reference")
    priority: 1  # an input of the dataset's sampling jobs, like its training groups (train.smk)
    conda:
        "../envs/scorebench.yaml"
    threads: resource("evaluate", "cpus", 1)
    resources:
        **placement("evaluate", gpus("evaluate")),
        mem_mb=resource("evaluate", "mem_mb", 4000),
        runtime=resource("evaluate", "runtime", 60),
        gpu=gpus("evaluate"),
    params:
        config=CONFIG_FILE,
        spec=reference_params,
    shell:
        "scorebench reference {params.config} --dataset {wildcards.dataset} --record-failure > {log} 2>&1"
