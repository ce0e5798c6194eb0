rule report:
    input:
        metrics=expand(
            LAYOUT.pattern(METRICS),
            dataset=DATASETS,
            name=METRIC_FILES,
        ),
        samples=expand(LAYOUT.pattern(SAMPLES), dataset=DATASETS, sampler=SAMPLERS),
        scaling=scaling_tables(),
    output:
        summary=LAYOUT.pattern(SUMMARY),
        html=LAYOUT.pattern(REPORT),
        figures=[
            report(
                f"{LAYOUT.path(FIGURES)}/{name}",
                caption=f"../report/{name.removesuffix('.png')}.rst",
                category="Figures",
            )
            for name in figure_files(CONFIG)
        ],
    log:
        log_path("report", "report"),
    benchmark:
        benchmark_path("report", "report")
    conda:
        "../envs/scorebench.yaml"
    threads: resource("report", "cpus", 1)
    resources:
        **placement("report"),
        mem_mb=resource("report", "mem_mb", 4000),
        runtime=resource("report", "runtime", 30),
    params:
        config=CONFIG_FILE,
    shell:
        "scorebench report {params.config} > {log} 2>&1"
