# Stage: the paper's result tables (2, 3, 4, 5, 7) from every evaluation, ours beside the printed
# values, with the spread over seeds and bootstrap intervals over test queries (geolink.tables);
# Table 6 counts the re-run models' parameters and operations (no training needed).


rule paper_table:
    input:
        metrics=paper_table_input,
    output:
        csv=LAYOUT.table("{table}", "csv"),
        markdown=LAYOUT.table("{table}", "md"),
        latex=LAYOUT.table("{table}", "tex"),
        html=report(
            LAYOUT.table("{table}", "html"),
            caption="../report/paper_table.rst",
            category="Paper tables",
        ),
    log:
        LAYOUT.log("paper_table", "{table}"),
    conda:
        "../../envs/plots.yaml"
    params:
        settings=settings_of("paper_table"),
    script:
        "../scripts/paper_table.py"


rule complexity_table:
    output:
        csv=LAYOUT.table("table6", "csv"),
        markdown=LAYOUT.table("table6", "md"),
        latex=LAYOUT.table("table6", "tex"),
        html=report(
            LAYOUT.table("table6", "html"),
            caption="../report/complexity_table.rst",
            category="Paper tables",
        ),
    log:
        LAYOUT.log("complexity_table"),
    conda:
        "../../envs/torch.yaml"
    params:
        settings=settings_of("complexity_table"),
    script:
        "../scripts/complexity_table.py"
