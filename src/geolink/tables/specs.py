"""What each of the paper's result tables holds: its settings (columns) and where its rows come from.

Rows are the paper's printed rows (``paper_values.csv``) plus the rows we add: the in-domain diagonal of
Tables 2-3 (Figure 1 needs it), Table 4's other direction, and Table 5's three pairs of objectives (the paper
prints one "two of three" row whose pair is lost in its text). A row is re-run here when ``tables.variants``
(the schema gives the default mapping) maps its label to a training variant of the configuration.
"""

from __future__ import annotations

from dataclasses import dataclass

from geolink.tables.cells import Setting

D2S, S2D = "drone_to_satellite", "satellite_to_drone"
U, S, D = "university1652", "sues200", "denseuav"
#: Table 4's weather conditions, in the paper's column order.
WEATHER = ("fog_rain", "fog_snow", "rain_snow", "wind")


@dataclass(frozen=True)
class TableSpec:
    number: int | str  # the paper's table number, or "skylink"
    title: str
    #: What the paper's table shows, and how ours is made; the report's caption starts with it.
    caption: str
    settings: tuple[Setting, ...]
    metrics: tuple[str, ...] = ("R@1", "AP")
    #: Row labels we add to the paper's (they have no printed value).
    extra_rows: tuple[str, ...] = ()
    #: Whether the printed values measure the same test set as ours, so that Δ = ours - printed means something.
    comparable: bool = True


def _pairs(direction: str, pairs: list[tuple[str, str]]) -> tuple[Setting, ...]:
    return tuple(Setting(source, target, direction) for source, target in pairs)


CROSS_D2S = [(U, S), (D, S), (S, U), (D, U), (U, D), (S, D)]
CROSS_S2D = [(U, S), (D, S), (S, U), (D, U)]
DIAGONAL = [(U, U), (S, S), (D, D)]

TABLES: dict[int, TableSpec] = {
    2: TableSpec(
        2,
        "Table 2: cross-area transfer, drone → satellite",
        "Recall@1 and AP (%) of each model trained on one dataset and tested on another (SUES-200: the mean of "
        "its four heights); the last three settings are in-domain (trained and tested on the same dataset), "
        "which the paper does not print and Figure 1 needs.",
        _pairs(D2S, CROSS_D2S + DIAGONAL),
    ),
    3: TableSpec(
        3,
        "Table 3: cross-area transfer, satellite → drone",
        "Recall@1 and AP (%) of satellite queries against drone galleries across datasets (SUES-200: the mean "
        "of its four heights), plus the in-domain settings the paper does not print.",
        _pairs(S2D, CROSS_S2D + DIAGONAL),
    ),
    4: TableSpec(
        4,
        "Table 4: multi-weather robustness, University-1652 → SUES-200",
        "Recall@1 and AP (%) with the SUES-200 drone images corrupted by each weather condition (mean of the "
        "four heights). The paper labels its table drone → satellite (weather-corrupted drone queries); the "
        "official code evaluates satellite queries against a weather-corrupted drone gallery. Both directions "
        "are run here; the paper's values stand beside the drone → satellite rows.",
        tuple(Setting(U, S, direction, condition) for direction in (D2S, S2D) for condition in WEATHER),
    ),
    5: TableSpec(
        5,
        "Table 5: ablation of GeoLink's components",
        "Recall@1 and AP (%) of the 2D baseline, the baseline with the 3D branch (MME, cross-view InfoNCE only), "
        "each of L_ga, L_sc and L_rd added alone, each pair, and all three (GeoLink), in the paper's two settings. "
        "The paper's 'two of three' row does not say which pair it is; the three pairs are run here.",
        (Setting(S, D, D2S), Setting(U, S, S2D)),
        extra_rows=("L_ga+L_sc", "L_ga+L_rd", "L_sc+L_rd"),
    ),
    7: TableSpec(
        7,
        "Table 7: number of MME experts",
        "Recall@1 and AP (%) of GeoLink with 1, 3 (the default), 7 and 15 experts in the MME block.",
        (Setting(S, D, D2S), Setting(S, U, S2D)),
    ),
}

ST2S, S2ST = "street_to_satellite", "satellite_to_street"

#: SkyLink's table (not in the GeoLink paper): the method and its ablation, street -> satellite on University-1652.
SKYLINK = TableSpec(
    "skylink",
    "SkyLink: street → satellite on University-1652, and its ablation",
    "Recall@1, @5, @10 and AP (%) of SkyLink trained on University-1652's street, satellite and web photos, with "
    "the drone flights' point clouds as the bridge, and tested on its test set: street queries against the "
    "satellite gallery (the UAVM challenge's task) and satellite queries against the street gallery. Each "
    "ablation row removes one module: the Google Retrieval Enhancement Module (street images only), the "
    "Patch-Aware Feature Aggregation (global descriptor only), the 3D bridge (a 2D model). The printed 25.75 is "
    "SkyLink's Recall@1 in the UAVM 2025 challenge, on the challenge's own test set (name-masked street queries), "
    "not University-1652's query_street: it is shown for reference and has no Δ.",
    (Setting(U, U, ST2S), Setting(U, U, S2ST)),
    metrics=("R@1", "R@5", "R@10", "AP"),
    extra_rows=("SkyLink", "w/o GREM", "w/o PAFA", "w/o 3D"),
    comparable=False,
)

#: Every result table by its name in paths (``table2`` ... ``table7`` and ``skylink``) -> spec.
RESULT_TABLES: dict[str, TableSpec] = {**{f"table{n}": spec for n, spec in TABLES.items()}, "skylink": SKYLINK}


def table_spec(table: int | str) -> TableSpec:
    """The spec of a paper table number (``2``) or a result table name (``"table2"``, ``"skylink"``)."""
    return TABLES[table] if isinstance(table, int) else RESULT_TABLES[table]
