"""Experiment files: what parses, what expands to what, and every mistake as a one-line error."""

from __future__ import annotations

from pathlib import Path

import pytest

from recsys_bench.errors import UserError
from recsys_bench.experiment.config import dataset_label, load_config, parse_config
from recsys_bench.models import model_params
from recsys_bench.threads import cores

CONFIGS = Path(__file__).resolve().parent.parent / "configs"

BASE = """\
[experiment]
name = "t"

[[datasets]]
name = "sketchfab-synthetic"
options = { seed = 0 }

[split]
kind = "user_holdout"
seeds = [0, 1]
options = { split_count = 5, fraction = 0.2 }

[evaluation]
k = 5
metrics = ["precision", "mse"]
exclude_train = false
subsets = ["train", "test"]
checkpoints = { start = 2, stop = 10, step = 2 }

[[models]]
name = "implicit-als"
params = { factors = 8 }
grid = { alpha = [1, 10], regularization = [0.1, 1.0, 10.0] }
threads = [1, 2]

[[models]]
name = "popularity"
warmup = 0
"""


def error_of(text: str, tmp_path: Path) -> UserError:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UserError) as info:
        load_config(path)
    return info.value


def test_valid_config_expands(tmp_path):
    path = tmp_path / "ok.toml"
    path.write_text(BASE)
    exp = load_config(path)
    assert exp.name == "t" and exp.path == path and exp.source == BASE
    assert exp.evaluation.checkpoints == (2, 4, 6, 8, 10)
    assert exp.evaluation.exclude_train is False
    assert exp.split.seeds == (0, 1) and exp.split.options == {"split_count": 5, "fraction": 0.2}
    als, pop = exp.models
    settings = als.settings()
    assert len(settings) == 6
    assert {(s["alpha"], s["regularization"]) for s in settings} == {
        (a, r) for a in (1, 10) for r in (0.1, 1.0, 10.0)}
    assert all(s["factors"] == 8 for s in settings)
    assert als.threads == (1, 2) and pop.threads == (1,) and pop.settings() == [{}]
    assert exp.timing.warmup == 1 and exp.timing.repeats == 1 and exp.timing.exclusive == "scaling"
    assert exp.warmup_of(als) == 1 and exp.warmup_of(pop) == 0 and exp.repeats_of(pop) == 1
    assert exp.checkpoints_of(pop) == (2, 4, 6, 8, 10)


def test_defaults_when_sections_are_left_out(tmp_path):
    text = '[experiment]\nname = "x"\n[[datasets]]\nname = "sketchfab-synthetic"\n' \
           '[[models]]\nname = "random"\n'
    exp = parse_config(text)
    assert exp.evaluation.checkpoints is None and exp.evaluation.subsets == ("test",)
    assert exp.evaluation.exclude_train is True and exp.split.kind == "user_holdout"
    assert exp.datasets[0].label == "sketchfab-synthetic"


@pytest.mark.parametrize("old, new, key, line", [
    ('name = "t"', 'name = "t"\ncolour = "red"', "experiment.colour", 3),
    ("k = 5", "k = 5\nkk = 3", "evaluation.kk", 15),
    ('threads = [1, 2]', 'threads = [1, 2]\nthread = 3', "models[0].thread", 25),
    ('name = "popularity"', 'name = "popularty"', "models[1].name", 27),
    ('"precision", "mse"', '"precision", "serendipity"', "evaluation.metrics", 15),
    ('name = "sketchfab-synthetic"', 'name = "sketchfab-synth"', "datasets[0].name", 5),
    ('options = { seed = 0 }', 'options = { sed = 0 }', "datasets[0].options.sed", 6),
    ('kind = "user_holdout"', 'kind = "holdout"', "split.kind", 9),
    ('split_count = 5, fraction', 'split_cnt = 5, fraction', "split.options.split_cnt", 11),
    ("alpha = [1, 10]", "alpha = []", "models[0].grid.alpha", 23),
    ("step = 2 }", "step = 0 }", "evaluation.checkpoints.step", 18),
    ('params = { factors = 8 }', 'params = { factors = 0 }', "models[0].params", 22),
    ('params = { factors = 8 }', 'params = { factors = 8, alpha = 3 }', "models[0].grid.alpha", 23),
    ('params = { factors = 8 }', 'params = { num_threads = 2 }', "models[0].params.num_threads",
     22),
    ('threads = [1, 2]', 'threads = [0]', "models[0].threads", 24),
    ('exclude_train = false', 'exclude_train = "no"', "evaluation.exclude_train", 16),
    ('subsets = ["train", "test"]', 'subsets = ["valid"]', "evaluation.subsets", 17),
    ('exclude_train = false', 'exclude_train = false\nprotocol = ["lightfm", "surprise"]',
     "evaluation.protocol", 17),
    ('exclude_train = false', 'exclude_train = false\nprotocol_rescore = true',
     "evaluation.protocol_rescore", 17),
])
def test_bad_keys_and_values_name_key_file_and_line(tmp_path, old, new, key, line):
    assert old in BASE
    error = error_of(BASE.replace(old, new, 1), tmp_path)
    assert key in error.message
    assert error.path == str(tmp_path / "bad.toml")
    assert error.line == line
    assert "\n" not in str(error)


def test_protocol_presets_are_read_with_rescoring_on_by_default():
    plain = parse_config(BASE).evaluation
    assert plain.protocols == () and plain.protocol_rescore is False
    named = parse_config(BASE.replace("k = 5", 'k = 5\nprotocol = "lightfm"')).evaluation
    assert named.protocols == ("lightfm",) and named.protocol_rescore is True
    kept = parse_config(BASE.replace("k = 5", 'k = 5\nprotocol = ["implicit", "liang2018"]\n'
                                     "protocol_rescore = false")).evaluation
    assert kept.protocols == ("implicit", "liang2018") and kept.protocol_rescore is False


def test_checkpoints_must_increase(tmp_path):
    text = BASE.replace("checkpoints = { start = 2, stop = 10, step = 2 }",
                        "checkpoints = [2, 8, 4]")
    error = error_of(text, tmp_path)
    assert "evaluation.checkpoints" in error.message and "increase" in error.message
    text = BASE.replace("checkpoints = { start = 2, stop = 10, step = 2 }",
                        "checkpoints = { start = 10, stop = 2 }")
    assert "below start" in error_of(text, tmp_path).message


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_config(tmp_path / "nope.toml")
    error = error_of("[experiment\nname = 1", tmp_path)
    assert "TOML" in error.message and error.line == 1


def test_missing_required_sections(tmp_path):
    assert "models" in error_of(BASE.split("[[models]]")[0], tmp_path).message
    assert "experiment.name" in error_of(BASE.replace('name = "t"', 'description = "d"'),
                                         tmp_path).message


def test_threads_all_expands_to_every_core():
    exp = parse_config(BASE.replace("threads = [1, 2]", 'threads = "all"'))
    assert exp.models[0].threads == tuple(range(1, cores() + 1))


def test_dataset_labels_tell_entries_apart():
    text = BASE.replace('[[datasets]]\nname = "sketchfab-synthetic"\noptions = { seed = 0 }',
                        '[[datasets]]\nname = "sketchfab-synthetic"\noptions = { seed = 0 }\n'
                        '[[datasets]]\nname = "sketchfab-synthetic"\noptions = { seed = 1 }\n'
                        '[[datasets]]\nname = "sketchfab-synthetic"\nlabel = "mine"\n'
                        'options = { seed = 2 }')
    exp = parse_config(text)
    assert [d.label for d in exp.datasets] == ["sketchfab-synthetic-seed0",
                                               "sketchfab-synthetic-seed1", "mine"]
    assert dataset_label("synthetic", {"nnz": 20_000_000, "n_users": 10},
                         [{"nnz": 1_250_000, "n_users": 10}, {"nnz": 20_000_000, "n_users": 10}]
                         ) == "synthetic-nnz20M"
    assert dataset_label("synthetic", {"nnz": 1_250_000}, [{"nnz": 1_250_000}, {}]) \
        == "synthetic-nnz1.25M"


def test_model_datasets_must_be_known_labels(tmp_path):
    text = BASE.replace('name = "popularity"', 'name = "popularity"\ndatasets = ["movies"]')
    assert "models[1].datasets" in error_of(text, tmp_path).message


def test_features_param_is_the_runners_for_models_without_it():
    assert model_params("implicit-als", {"factors": 4, "features": "tags"}, threads=2, seed=7) \
        == {"factors": 4, "num_threads": 2, "random_state": 7}
    assert model_params("lightfm-warp", {"features": "tags", "random_state": 3}, threads=1,
                        seed=7) == {"features": "tags", "num_threads": 1, "random_state": 3}
    assert model_params("item-knn", {"K": 5}, threads=1, seed=1) == {"K": 5, "num_threads": 1}


RUN_CONFIGS = [p for p in sorted(CONFIGS.glob("*.toml")) if "[search]" not in p.read_text()]


@pytest.mark.parametrize("path", RUN_CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_are_valid(path):
    exp = load_config(path)
    assert exp.models and exp.datasets


def test_a_search_config_is_pointed_to_the_search_command(tmp_path):
    error = error_of('[experiment]\nname = "s"\n[search]\nmodel = "implicit-als"\n', tmp_path)
    assert "recsys-bench search" in error.message and error.line == 3


def test_study_grid_is_the_studys():
    exp = load_config(CONFIGS / "sketchfab-wrmf-grid.toml")
    (model,) = exp.models
    settings = model.settings()
    assert len(settings) == 180
    assert {s["factors"] for s in settings} == {10, 20, 40, 80, 120}
    assert {s["regularization"] for s in settings} == {0, 1e-5, 1e-3, 0.1, 10, 100}
    assert {s["alpha"] for s in settings} == {1, 10, 50, 100, 500, 1000}
    assert exp.evaluation.checkpoints == tuple(range(2, 39, 2))
    assert exp.evaluation.exclude_train is False and exp.evaluation.k == 5
    assert set(exp.evaluation.subsets) == {"train", "test"}
    assert set(exp.evaluation.metrics) == {"precision", "mse"}
