"""The conformance suite every built-in passes, run on the example's own model."""

from recsys_bench.testing import ConformanceSuite


class TestPureSVD(ConformanceSuite):
    model_name = "mymodels:PureSVD"
    params = {"factors": 8}
    bad_params = [{"factors": 0}, {"factors": 2.5}]
    checkerboard_params = {"factors": 2}
