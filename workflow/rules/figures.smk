# Stage: figures for people to look at.


rule contact_sheet:
    input:
        manifests=[LAYOUT.manifest(d) for d in PIPELINE.synthetic_datasets],
    output:
        figure=report(
            LAYOUT.figure("synthetic_contact_sheet"),
            caption="../report/contact_sheet.rst",
            category="Synthetic benchmark",
        ),
    log:
        LAYOUT.log("contact_sheet"),
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/contact_sheet.py"


# The paper's figures 1, 4-7 and the retrieval examples (geolink.plots.paper_figures), each drawn from
# what the runs logged: metrics (1, 7), training logs (4) or checkpoints (5, 6, examples).
rule paper_figure:
    input:
        unpack(paper_figure_input),
    output:
        figure=report(
            LAYOUT.figure("{figure}"),
            caption="../report/paper_figure.rst",
            category="Paper figures",
        ),
    log:
        LAYOUT.log("paper_figure", "{figure}"),
    conda:
        "../../envs/figures.yaml"
    params:
        settings=settings_of("paper_figure"),
    script:
        "../scripts/paper_figure.py"
