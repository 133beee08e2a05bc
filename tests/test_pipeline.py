"""The resolved pipeline: one output tree per configuration, each stage's settings, and the keys they read."""

from __future__ import annotations

import pytest
from conftest import REPO, TINY_CONFIGS

from geolink.config import ConfigError, load_config, validate_config
from geolink.pipeline import Layout, Pipeline, run_name
from geolink.pipeline.reads import ConfigView, outermost


@pytest.fixture(scope="module")
def paper() -> Pipeline:
    return Pipeline(load_config(REPO / "config/config.yaml"))


@pytest.fixture(scope="module")
def synthetic() -> Pipeline:
    return Pipeline(load_config(REPO / "config/config.yaml", REPO / "config/synthetic.yaml"))


def test_layout_gives_patterns_and_paths_from_one_function():
    layout = Layout("paper")
    assert layout.manifest("{dataset}") == "results/paper/manifests/{dataset}.parquet"
    assert layout.manifest("sues200") == "results/paper/manifests/sues200.parquet"
    assert run_name("{source}", "{variant}", "{seed}") == "{source}__{variant}__s{seed}"
    assert layout.checkpoint(run_name("sues200", "geolink", 0), "best") == (
        "results/paper/checkpoints/sues200__geolink__s0/best.pt"
    )
    assert layout.log("train", "x") == "logs/paper/train/x.log"
    # Downloads are the same bytes for every configuration: shared, not under the name.
    assert Layout("a").acquired("denseuav") == Layout("b").acquired("denseuav") == "data/raw/denseuav/extracted"
    assert Layout("a").weights("vggt") == Layout("b").weights("vggt") == "data/weights/vggt"


def test_two_configurations_share_no_derived_product(paper, synthetic):
    def products(pipeline: Pipeline) -> set[str]:
        layout = pipeline.layout
        paths = set(pipeline.final_targets()) | set(pipeline.metrics_files())
        for dataset in pipeline.datasets:
            paths |= {layout.synthetic_tree(dataset), layout.point_bank(dataset), *pipeline.recon_shards(dataset)}
        return paths | {layout.sues200_split()}

    assert products(paper) and not products(paper) & products(synthetic)
    assert all(p.startswith(("results/paper/", "data/paper/")) for p in products(paper))


def test_config_view_records_the_keys_read():
    reads: set[str] = set()
    view = ConfigView({"a": {"b": 1, "c": [1, 2], "d": {"e": 2}}, "f": 3}, reads=reads)
    assert view["a"]["b"] == 1 and reads == {"a.b"}
    view["a"]["c"].append(3)  # a copy: the configuration itself does not change
    assert view["a"]["c"] == [1, 2]
    assert dict(view["a"]["d"]) == {"e": 2} and "a.d" in reads  # a whole section taken
    assert "x" not in view["a"] and "a.x" in reads
    assert outermost({"a.d", "a.d.e", "a.b", "f", "a.dd"}) == ["a.b", "a.d", "a.dd", "f"]


def test_stage_settings_read_only_their_keys(synthetic):
    assert synthetic.keys_read("points", dataset="sues200") == ["points", "seed"]
    train_keys = synthetic.keys_read("train", source="sues200", variant="geolink", seed="0")
    assert "train.loss" in train_keys and "train.heights.sues200" in train_keys
    assert not any(k.startswith(("reconstruct", "points", "synth", "train.sources", "train.seeds")) for k in train_keys)
    assert "train.heights.university1652" not in train_keys  # another source's heights
    recon_keys = synthetic.keys_read("reconstruct", dataset="sues200", shard="0")
    assert not any(k.startswith("train") for k in recon_keys) and "reconstruct.sues200.backend" in recon_keys
    assert synthetic.keys_read("contact_sheet") == []  # a rule without settings reads nothing
    assert all(k.startswith("datasets.") for k in synthetic.keys_read("metrics_table"))  # whether synthetic


def test_train_settings_merge_the_variant_and_pick_the_source_heights(paper):
    config = load_config(REPO / "config/config.yaml")
    config["train"]["variants"] = {"geolink": {}, "no_rd": {"loss": {"weights": {"rd": 0.0}}, "epochs": 2}}
    config["train"]["heights"] = {"sues200": [300]}  # the official code's single height, as an override
    pipeline = Pipeline(config)
    full = pipeline.train_settings("sues200", "geolink", 0)
    ablation = pipeline.train_settings("sues200", "no_rd", "3")
    assert full["loss"]["weights"] == {"cc": 1.0, "rd": 1.0, "ga": 1.0, "sc": 4.0}  # eq. 15, the schema default
    assert ablation["loss"]["weights"] == {"cc": 1.0, "rd": 0.0, "ga": 1.0, "sc": 4.0}
    assert (full["epochs"], ablation["epochs"], ablation["seed"]) == (40, 2, 3)
    assert full["heights"] == [300]
    assert Pipeline(load_config(REPO / "config/config.yaml")).train_settings("sues200", "geolink", 0)["heights"] is None
    assert pipeline.train_settings("denseuav", "geolink", 0)["heights"] is None
    assert not {"sources", "seeds", "variants"} & set(full)
    assert full["model"] == {"name": "geolink_dinov2_base", "kwargs": {"pretrained": True}}


def test_each_source_trains_at_its_own_batch_size(paper, synthetic):
    sources = ("university1652", "sues200", "denseuav")
    # The paper configuration: the official trainers' 8 for University-1652, 4 for SUES-200 and DenseUAV.
    assert [paper.train_settings(s, "geolink", 0)["batch_size"] for s in sources] == [8, 4, 4]
    assert [synthetic.train_settings(s, "geolink", 0)["batch_size"] for s in sources] == [16, 16, 16]
    config = load_config(REPO / "config/config.yaml")
    config["train"]["variants"] = {
        "geolink": {},
        "paper_batch": {"batch_size": 8},
        "big_sues": {"batch_size": {"sues200": 6}},
    }
    pipeline = Pipeline(config)
    assert [pipeline.train_settings(s, "paper_batch", 0)["batch_size"] for s in sources] == [8, 8, 8]
    assert [pipeline.train_settings(s, "big_sues", 0)["batch_size"] for s in sources] == [8, 6, 4]


def test_each_variant_trains_its_own_sources_and_seeds():
    config = load_config(REPO / "config/config.yaml")
    config["train"]["seeds"] = [0, 1]
    config["train"]["variants"] = {
        "geolink": {},
        "only_rd": {"sources": ["sues200", "university1652"], "loss": {"weights": {"ga": 0.0, "sc": 0.0}}},
        "experts_1": {"sources": ["sues200"], "seeds": [5]},
    }
    runs = Pipeline(config).train_runs
    assert runs == [
        ("university1652", "geolink", 0),
        ("university1652", "geolink", 1),
        ("university1652", "only_rd", 0),
        ("university1652", "only_rd", 1),
        ("sues200", "geolink", 0),
        ("sues200", "geolink", 1),
        ("sues200", "only_rd", 0),
        ("sues200", "only_rd", 1),
        ("sues200", "experts_1", 5),
        ("denseuav", "geolink", 0),
        ("denseuav", "geolink", 1),
    ]
    with pytest.raises(ConfigError, match=r"'train\.variants\.x\.variants': a variant cannot declare variants"):
        validate_config({"name": "t", "train": {"variants": {"x": {"variants": {}}}}})


def test_weather_sets_evaluate_the_runs_of_the_configured_sources(paper, synthetic):
    conditions = ["fog_rain", "fog_snow", "rain_snow", "wind"]  # Table 4's
    assert paper.weather_conditions("sues200", "denseuav") == conditions  # weather.sources null: every run
    assert paper.weather_conditions("university1652", "university1652") == []  # no weather set of that target
    assert synthetic.weather_conditions("sues200", "university1652") == conditions
    assert synthetic.weather_conditions("sues200", "denseuav") == []  # config/synthetic.yaml: Table 4's source only
    assert synthetic.evaluate_settings("denseuav", "geolink")["targets"] == {
        "university1652": [],
        "sues200": [],
        "denseuav": [],
    }
    assert list(paper.weather_manifests("sues200", "sues200")) == conditions


def test_table6_counts_the_model_each_rerun_row_trains(paper, synthetic):
    models = paper.complexity_table_settings()["row_models"]
    assert {row: (m["model"], m["image_size"]) for row, m in models.items()} == {
        "Sample4Geo": ("sample4geo_convnext_base", 384),
        "CV-Cities": ("baseline_dinov2_base", 448),
        "GeoLink": ("geolink_dinov2_base", 448),
    }
    tiny = synthetic.complexity_table_settings()
    assert tiny["synthetic"] and tiny["row_models"]["GeoLink"]["model"] == "geolink_tiny_cnn"


def test_pinned_weights_reach_the_consumers():
    commit = "0123456789abcdef0123456789abcdef01234567"
    config = load_config(REPO / "config/config.yaml")
    config["weights"]["dinov2"]["revision"] = commit
    config["reconstruct"]["sues200"]["backend"] = "vggt"
    config["weights"]["vggt"]["revision"] = commit
    pipeline = Pipeline(config)
    settings = pipeline.train_settings("sues200", "geolink", 0)
    assert settings["model"]["kwargs"]["weights_path"] == "data/weights/dinov2/model.safetensors"
    assert pipeline.train_weights_input("sues200", "geolink", 0) == ["data/weights/dinov2"]
    assert pipeline.reconstruct_settings("sues200", 0)["options"]["weights"] == "data/weights/vggt/model.pt"
    assert "data/weights/vggt" in pipeline.reconstruct_extra_input("sues200")


def test_where_each_dataset_is_read_from(paper, synthetic):
    assert paper.released_root("sues200") == "data/raw/sues200/SUES-200-512x512"
    assert paper.manifest_root("sues200") == "data/paper/prepared/sues200"
    assert synthetic.released_root("university1652") == "data/synthetic/university1652/University-Release"
    assert synthetic.sues200_split_index() == "data/synthetic/sues200/indexs.yaml"
    config = load_config(REPO / "config/config.yaml")
    config["datasets"]["denseuav"] |= {"source": "huggingface", "subdir": "release/DenseUAV"}
    assert Pipeline(config).released_root("denseuav") == "data/raw/denseuav/extracted/release/DenseUAV"
    assert Pipeline(config).released_input("denseuav") == "data/raw/denseuav/extracted"


def test_external_inputs_are_the_user_supplied_paths_with_advice(paper, synthetic):
    external = paper.external_inputs()
    assert set(external) == {
        "data/raw/university1652/University-Release",
        "data/raw/sues200/SUES-200-512x512",
        "data/raw/denseuav/DenseUAV",
    }
    assert "datasets.sues200.root" in external["data/raw/sues200/SUES-200-512x512"]
    assert synthetic.external_inputs() == {}
    config = load_config(REPO / "config/config.yaml")
    config["datasets"]["university1652"]["activate"] = False
    config["datasets"]["denseuav"] |= {"source": "archive", "archive": "DenseUAV.zip"}
    external = Pipeline(config).external_inputs()
    assert "DenseUAV.zip" in external and "datasets.denseuav.archive" in external["DenseUAV.zip"]
    assert "data/raw/university1652/University-Release" not in external  # an inactive dataset is not an input
    config["datasets"]["sues200"]["root"] = None
    with pytest.raises(ConfigError, match=r"source: local but datasets\.sues200\.root is not set\. SUES-200 is"):
        Pipeline(config).external_inputs()


def test_geolink3d_from_the_hub_needs_a_relative_folder():
    config = validate_config(
        {
            "name": "g3d",
            "reconstruct": {
                "sues200": {"backend": "geolink3d"},
                "geolink3d": {"sues200": "/abs/folder"},
                "geolink3d_hub": {"revision": "0123456789abcdef0123456789abcdef01234567"},
            },
        }
    )
    with pytest.raises(ConfigError, match=r"reconstruct\.geolink3d\.sues200 must name the folder inside"):
        Pipeline(config).reconstruct_settings("sues200", 0)
    config["reconstruct"]["geolink3d"]["sues200"] = "SUES-200/train"
    assert Pipeline(config).reconstruct_extra_input("sues200") == ["data/raw/geolink3d/extracted"]


def test_the_tiny_configuration_enumerates_its_jobs():
    tiny = Pipeline(load_config(REPO / "config/config.yaml", *(REPO / f for f in TINY_CONFIGS)))
    assert tiny.name == "tiny" and tiny.datasets == ["university1652", "sues200", "denseuav"]
    assert tiny.run_names == ["university1652__geolink__s0", "sues200__geolink__s0", "denseuav__geolink__s0"]
    assert len(tiny.metrics_files()) == 9 and tiny.recon_shards("sues200") == ["results/tiny/recon/sues200/shard0"]
    assert tiny.weather_datasets == ["sues200"] and len(tiny.conditions) == 4


def test_the_locate_stage_is_on_for_the_synthetic_area_or_a_given_map(paper, synthetic):
    assert paper.locate_run is None and synthetic.locate_run == "denseuav__geolink__s0"
    assert "results/synthetic/locate/summary.json" in synthetic.final_targets()
    assert synthetic.locate_input()["area"] == "data/synthetic/locate_map"
    # The synthetic area's footprint: DenseUAV's tile at 90 m, 2 x 90 x 0.9 x tan(30 deg) = 93.53 m.
    assert synthetic.locate_index_settings()["footprint_m"] == pytest.approx(2 * 90 * 0.9 * 3**-0.5)
    user = {"map": "maps/area.tif", "photos": "flights/0412", "footprint_m": 120.0}
    config = load_config(REPO / "config/config.yaml", REPO / "config/synthetic.yaml", overrides={"locate": user})
    mapped = Pipeline(config)
    assert mapped.locate_input() == {"checkpoint": mapped.locate_input()["checkpoint"], "map": user["map"],
                                     "photos": user["photos"]}  # fmt: skip
    assert {"maps/area.tif", "flights/0412"} <= set(mapped.external_inputs())
    assert mapped.locate_index_settings()["footprint_m"] == 120.0
    with pytest.raises(ConfigError, match="locate.photos"):
        Pipeline(
            load_config(
                REPO / "config/config.yaml", REPO / "config/synthetic.yaml", overrides={"locate": {"map": "a.tif"}}
            )
        ).locate_input()
    unknown = load_config(
        REPO / "config/config.yaml", REPO / "config/synthetic.yaml", overrides={"locate": {**user, "variant": "nope"}}
    )
    with pytest.raises(ConfigError, match="does not train run denseuav/nope"):
        Pipeline(unknown).final_targets()


def test_the_locate_stage_tunes_on_synthetic_training_areas_or_given_ones(synthetic):
    # The synthetic area: tuned on synth.locate_map.train_areas areas of its own, the untuned run beside it.
    assert synthetic.locate_tuned
    inputs = synthetic.locate_input()
    assert inputs["checkpoint"] == "results/synthetic/locate/tuned.pt"
    assert inputs["untuned"] == "results/synthetic/checkpoints/denseuav__geolink__s0/best.pt"
    assert synthetic.locate_tune_input() == {
        "checkpoint": inputs["untuned"],
        "areas": "data/synthetic/locate_train_areas",
    }
    settings = synthetic.locate_tune_settings()
    n_areas = synthetic.cfg["synth"]["locate_map"]["train_areas"]
    assert len(settings["areas"]) == n_areas and settings["areas"][1] == {
        "map": "data/synthetic/locate_train_areas/area_01/map.tif",
        "photos": "data/synthetic/locate_train_areas/area_01/photos",
    }
    assert settings["footprint_m"] == synthetic.locate_index_settings()["footprint_m"]
    areas = synthetic.locate_train_areas_settings()
    assert areas["n_areas"] == n_areas and "train_areas" not in synthetic.locate_map_settings()
    # No training areas: the run's checkpoint as trained.
    off = Pipeline(
        load_config(REPO / "config/config.yaml", REPO / "config/synthetic.yaml",
                    overrides={"synth": {"locate_map": {"train_areas": 0}}})
    )  # fmt: skip
    assert not off.locate_tuned and "untuned" not in off.locate_input()
    # A user's map with tune areas of their own: each area's map and photos are inputs of the tune job.
    user = {"map": "maps/area.tif", "photos": "flights/0412", "footprint_m": 120.0}
    user["tune"] = {"areas": [{"map": "maps/west.tif", "photos": "flights/0301"}]}
    mapped = Pipeline(
        load_config(REPO / "config/config.yaml", REPO / "config/synthetic.yaml", overrides={"locate": user})
    )
    assert mapped.locate_tuned
    assert mapped.locate_tune_input() == {"checkpoint": mapped.locate_input()["untuned"], "map_0": "maps/west.tif",
                                         "photos_0": "flights/0301"}  # fmt: skip
    assert {"maps/west.tif", "flights/0301"} <= set(mapped.external_inputs())
