rule scaling:
    output:
        table=LAYOUT.pattern(SCALING, device=SCALING_DEVICE),
        slopes=LAYOUT.pattern(SCALING_SLOPES, device=SCALING_DEVICE),
    log:
        log_path("scaling", SCALING_DEVICE),
    benchmark:
        benchmark_path("scaling", SCALING_DEVICE)
    conda:
        "../envs/scorebench.yaml"
    # every core: the job runs alone, so no other job competes for the cores it times
    threads: resource("scaling", "cpus", every_core())
    resources:
        **placement("scaling", 1 if SCALING_DEVICE == "cuda" else 0),
        mem_mb=resource("scaling", "mem_mb", 8000),
        runtime=resource("scaling", "runtime", 60),
        gpu=1 if SCALING_DEVICE == "cuda" else 0,
    params:
        config=CONFIG_FILE,
        scaling=CONFIG.get("scaling"),
    shell:
        "scorebench scaling {params.config} > {log} 2>&1"
