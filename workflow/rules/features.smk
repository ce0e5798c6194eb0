rule feature_net:
    output:
        LAYOUT.pattern(FEATURE_NET),
    log:
        log_path("features", "{dataset}/classifier"),
    benchmark:
        benchmark_path("features", "{dataset}/classifier")
    conda:
        "../envs/scorebench.yaml"
    threads: resource("evaluate", "cpus", 1)
    resources:
        **placement("evaluate"),
        mem_mb=resource("evaluate", "mem_mb", 4000),
        runtime=resource("evaluate", "runtime", 60),
    params:
        config=CONFIG_FILE,
    shell:
        "scorebench features {params.config} --dataset {wildcards.dataset} > {log} 2>&1"


rule reference:
    input:
        feature_net_input,
    output:
        reference=LAYOUT.pattern(REFERENCE),
        rows=LAYOUT.pattern(METRICS, name=DATA_METRICS),
    log:
        log_path("features", "{dataset}/reference"),
    benchmark:
        benchmark_path("features", "{dataset}/reference")
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
