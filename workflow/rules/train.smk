rule train:
    output:
        model=LAYOUT.pattern(MODEL_FILE),
    log:
        log_path("train", "{dataset}/{objective}/{schedule}/seed{seed}"),
    benchmark:
        benchmark_path("train", "{dataset}/{objective}/{schedule}/seed{seed}")
    conda:
        "../envs/scorebench.yaml"
    threads: resource("train", "cpus", 1)
    resources:
        **placement("train", gpus("train")),
        mem_mb=resource("train", "mem_mb", 4000),
        runtime=resource("train", "runtime", 120),
        gpu=gpus("train"),
    params:
        config=CONFIG_FILE,
        spec=run_params,
    shell:
        "scorebench train {params.config} --dataset {wildcards.dataset} --objective {wildcards.objective}"
        " --schedule {wildcards.schedule} --seed {wildcards.seed} --record-failure"
        " > {log} 2>&1"
