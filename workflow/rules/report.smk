rule report:
    input:
        metrics=expand(
            LAYOUT.pattern(METRICS),
            dataset=DATASETS,
            name=[MODEL_METRICS, *SAMPLERS],
        ),
        samples=expand(LAYOUT.pattern(SAMPLES), dataset=DATASETS, sampler=SAMPLERS),
    output:
        summary=LAYOUT.pattern(SUMMARY),
        html=LAYOUT.pattern(REPORT),
        figures=[
            report(
                str(LAYOUT.path(FIGURES) / name),
                caption=f"../report/{name.removesuffix('.png')}.rst",
                category="Figures",
            )
            for name in FIGURE_FILES
        ],
    params:
        config=CONFIG_FILE,
    log:
        log_path("report", "report"),
    benchmark:
        benchmark_path("report", "report")
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../envs/scorebench.yaml"
    shell:
        "scorebench report {params.config} --results " + RESULTS + " > {log} 2>&1"
