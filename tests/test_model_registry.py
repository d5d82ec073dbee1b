"""The model registry: every built-in has a conformance test, plug-ins load by import path,
and a class that breaks the contract is refused with the missing member named."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

import pytest

from recsys_bench import models
from recsys_bench.errors import UserError
from recsys_bench.models.rp3beta import RP3beta
from recsys_bench.protocol import Capabilities
from recsys_bench.testing import ConformanceSuite

TESTS = Path(__file__).parent


def test_every_registered_model_has_a_conformance_test():
    for path in sorted(TESTS.glob("test_models_*.py")):
        importlib.import_module(path.stem)
    covered = set()
    stack = list(ConformanceSuite.__subclasses__())
    while stack:
        cls = stack.pop()
        covered.add(cls.model_name)
        stack.extend(cls.__subclasses__())
    missing = sorted(set(models.builtin_names()) - covered)
    assert not missing, f"registered models without a conformance test: {missing}"


def test_capabilities_are_declared_not_inferred_from_names():
    for name in models.builtin_names():
        try:
            cls = models.model_class(name)
        except ImportError:
            continue
        assert isinstance(cls.capabilities, Capabilities)
        assert cls.supports_continue == cls.capabilities.continues
    assert models.model_class("lightfm-warp").capabilities.deterministic_threads is False
    assert models.model_class("implicit-als").capabilities.continues is True
    assert models.model_class("ease").capabilities.item_vectors is False


@pytest.fixture
def plugin_package(tmp_path, monkeypatch):
    package = tmp_path / "myrecs"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "models.py").write_text(textwrap.dedent("""
        import numpy as np
        from recsys_bench.models.base import BaseRecommender

        class MostLiked(BaseRecommender):
            name = "most-liked"
            defaults = {"shrink": 0.0}

            def fit(self, train, *, item_features=None, epochs=None):
                train = self.check_train(train, item_features)
                self.counts = np.asarray(train.sum(axis=0)).ravel().astype(np.float32)

            def scores(self, users):
                return np.tile(self.counts - self.params["shrink"], (len(users), 1))

        class NoScores:
            name = "broken"
            defaults = {}
            aliases = {}
        """))
    (package / "boom.py").write_text("raise RuntimeError('plug-in exploded')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "myrecs"
    for module in [m for m in sys.modules if m.startswith("myrecs")]:
        del sys.modules[module]


def test_a_model_named_by_import_path_loads_and_fits(plugin_package, checkerboard):
    model = models.get(f"{plugin_package}.models:MostLiked", shrink=1.0)
    model.fit(checkerboard.train)
    assert model.scores([0, 1]).shape == (2, checkerboard.train.shape[1])


@pytest.mark.parametrize("name, message", [
    ("myrecs.models:NoScores", "missing: capabilities, fit, fit_more, scores"),
    ("myrecs.models:Nothing", "has no class 'Nothing'"),
    ("myrecs.nowhere:X", "cannot import 'myrecs.nowhere'"),
    ("myrecs.boom:X", "RuntimeError: plug-in exploded"),
    ("no-such-model", "unknown model 'no-such-model'"),
])
def test_bad_plugins_are_one_line_errors(plugin_package, name, message):
    with pytest.raises(UserError) as info:
        models.model_class(name)
    assert message in str(info.value) and "\n" not in str(info.value)


class TestSuiteWithAModelClass(ConformanceSuite):
    """``make_model`` given a class, as a plug-in author in another repository would."""

    make_model = RP3beta
    params = {"K": 10}


class TestSuiteWithAFactoryMethod(ConformanceSuite):
    """``make_model`` written as a method."""

    params = {"similarity": "bm25", "K": 20}

    def make_model(self, **params):
        return models.get("item-knn", **params)


def test_the_suite_builds_through_make_model():
    assert type(TestSuiteWithAModelClass().make()).__name__ == "RP3beta"
    assert TestSuiteWithAFactoryMethod().make().params["similarity"] == "bm25"
    assert TestSuiteWithAFactoryMethod().make().params["num_threads"] == 1
