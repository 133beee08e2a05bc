# Stage: the paper's result tables (2, 3, 4, 5, 7) from every evaluation, ours beside the printed
# values, with the spread over seeds and bootstrap intervals over test queries (geolink.tables).


rule paper_table:
    input:
        metrics=paper_table_input,
    output:
        csv=report(
            LAYOUT.table("{table}", "csv"),
            caption="../report/paper_table.rst",
            category="Paper tables",
        ),
        markdown=LAYOUT.table("{table}", "md"),
        latex=LAYOUT.table("{table}", "tex"),
    log:
        LAYOUT.log("paper_table", "{table}"),
    conda:
        "../../envs/plots.yaml"
    params:
        settings=settings_of("paper_table"),
    script:
        "../scripts/paper_table.py"
