rule evaluate_models:
    input:
        model_files,
    output:
        LAYOUT.pattern(METRICS, name=MODEL_METRICS),
    log:
        log_path("evaluate", f"{{dataset}}/{MODEL_METRICS}"),
    benchmark:
        benchmark_path("evaluate", f"{{dataset}}/{MODEL_METRICS}")
    conda:
        "../envs/scorebench.yaml"
    threads: resource("evaluate", "cpus", 1)
    resources:
        **placement("evaluate", gpus("evaluate")),
        mem_mb=resource("evaluate", "mem_mb", 4000),
        runtime=resource("evaluate", "runtime", 120),
        gpu=gpus("evaluate"),
    params:
        config=CONFIG_FILE,
        spec=evaluate_params,
    shell:
        "scorebench evaluate {params.config} --dataset {wildcards.dataset} > {log} 2>&1"
