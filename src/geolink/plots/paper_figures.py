"""The paper's figures as products (rule ``paper_figure``): what each shows, and which drawing makes it.

Every figure is drawn from what the runs logged: the metrics JSON of rule ``evaluate`` (Figs. 1 and 7), the
training logs (Fig. 4) or the checkpoints (Figs. 5, 6 and the retrieval examples, which embed test images with
the trained 2D encoder). None trains anything. ``geolink.pipeline.Pipeline.paper_figure_settings`` says which
runs a figure reads.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FigureSpec:
    title: str
    #: The report's caption: what the figure shows and how it was made.
    caption: str
    #: The drawing (a module of geolink.plots) and, through it, the inputs the figure reads.
    draws: str


FIGURES: dict[str, FigureSpec] = {
    "figure1": FigureSpec(
        "Figure 1: same-area vs cross-area Recall@1 on SUES-200 at 150 m",
        "Drone → satellite Recall@1 on SUES-200 at 150 m of each re-run model (the GeoLink, CV-Cities and "
        "Sample4Geo rows of tables.variants) trained on SUES-200 itself (same area) and on each other dataset "
        "(cross area). Bars: mean over seeds; whiskers: the 95 % bootstrap interval over test queries (as in the "
        "tables). From the metrics of rule evaluate.",
        "transfer",
    ),
    "figure4": FigureSpec(
        "Figure 4: InfoNCE between points and images over training, with and without L_ga",
        "The epoch means of the cross-view InfoNCE between point-cloud and drone features (left) and point-cloud "
        "and satellite features (right), logged by training (train_logs/<run>/plots/metrics/epoch_loss), for "
        "GeoLink and for the same model without L_ga (figures.loss_curves). Line: mean over seeds; band: their "
        "range.",
        "loss_curves",
    ),
    "figure5": FigureSpec(
        "Figure 5: PCA of backbone feature maps, clean and under each weather",
        "The first three principal components of the last backbone feature map (before MixVPR), as RGB, for the "
        "same drone test images clean and under every weather condition, CV-Cities beside GeoLink (each model's "
        "components fitted on all its maps shown, so colours compare across conditions). First seed of the runs "
        "of figures.robustness.",
        "feature_pca",
    ),
    "figure6": FigureSpec(
        "Figure 6: t-SNE of drone and satellite embeddings",
        "t-SNE of the 2D descriptors of the drone (stars) and satellite (crosses) test images of a few locations "
        "(one colour each), CV-Cities beside GeoLink. Circled: drone images whose nearest satellite in the whole "
        "test gallery is another location's (false matches). First seed of the runs of figures.robustness.",
        "tsne",
    ),
    "figure7": FigureSpec(
        "Figure 7: sensitivity to λ and to the vCLUB hidden size",
        "Recall@1 in Table 7's two settings as λ (the weight of L_sc, eq. 15) and the hidden size of vCLUB's "
        "q_θ vary (figures.sensitivity; the marked point is GeoLink's default). Points: mean over seeds; whiskers: "
        "the 95 % bootstrap interval over test queries. Variants the configuration does not train are left out "
        "and named.",
        "sensitivity",
    ),
    "retrieval_examples": FigureSpec(
        "Retrieval examples: the top satellites of a few drone queries",
        "For a few drone test queries (first column), the top-ranked satellite images of each model, green where "
        "the location is right and red where it is wrong; the row label gives the rank of the first right one "
        "over the whole test gallery. First seed of the runs of figures.robustness.",
        "retrieval_examples",
    ),
}


def draw_paper_figure(settings: dict, inputs: dict, out_path: str) -> None:
    """Draw one figure (``settings`` from ``Pipeline.paper_figure_settings``; ``inputs`` the rule's named inputs)."""
    draws = FIGURES[settings["figure"]].draws
    if draws == "transfer":
        from geolink.plots.transfer import transfer_figure

        transfer_figure(_records(inputs["metrics"]), settings, out_path)
    elif draws == "sensitivity":
        from geolink.plots.sensitivity import sensitivity_figure

        sensitivity_figure(_records(inputs["metrics"]), settings, out_path)
    elif draws == "loss_curves":
        from geolink.plots.loss_curves import loss_curve_figure

        loss_curve_figure(settings, out_path)
    elif draws == "feature_pca":
        from geolink.plots.feature_pca import feature_pca_figure

        feature_pca_figure(settings, out_path)
    elif draws == "tsne":
        from geolink.plots.embedding_tsne import tsne_figure

        tsne_figure(settings, out_path)
    else:
        from geolink.plots.retrieval_examples import retrieval_examples_figure

        retrieval_examples_figure(settings, out_path)


def _records(paths: list[str]):
    from geolink.report import load_metrics

    return load_metrics(paths) if paths else None
