# Stage: figures for people to look at.


rule contact_sheet:
    input:
        manifests=expand(
            "results/manifests/{dataset}.parquet", dataset=synthetic_datasets()
        ),
    output:
        figure=report(
            "results/figures/synthetic_contact_sheet.png",
            caption="../report/contact_sheet.rst",
            category="Synthetic benchmark",
        ),
    log:
        "logs/contact_sheet.log",
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/contact_sheet.py"
