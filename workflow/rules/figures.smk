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
