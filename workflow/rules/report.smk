rule report:
    input:
        metrics=METRIC_PATHS,
        scaling=scaling_tables(),
    output:
        summary=LAYOUT.pattern(SUMMARY),
        aggregate=report(
            LAYOUT.pattern(AGGREGATE),
            caption="../report/aggregate.rst",
            category="Results",
        ),
        paired=report(
            LAYOUT.pattern(PAIRED), caption="../report/paired.rst", category="Results"
        ),
        overall=report(
            LAYOUT.pattern(OVERALL),
            caption="../report/overall.rst",
            category="Results",
        ),
        curves=LAYOUT.pattern(CURVES),
        html=report(
            LAYOUT.pattern(REPORT), caption="../report/verdict.rst", category="Verdict"
        ),
        figures=[
            report(
                f"{LAYOUT.path(FIGURES)}/{name}",
                caption=f"../report/{name.removesuffix('.png')}.rst",
                category="Figures",
            )
            for name in figure_files(
                BENCH.has_grid,
                BENCH.scaling is not None,
                BENCH.conditioning is not None,
                bool(BENCH.sweeps),
            )
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
        # the page embeds the config and its sections decide the tables: any change rebuilds it
        spec=CONFIG,
    shell:
        "scorebench report {params.config} > {log} 2>&1"
