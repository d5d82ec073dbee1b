"""The compiled top-k selection kernel; everything else about the package is in pyproject.toml.

``recsys_bench/eval/kernel.py`` loads it where it was built and ranks with NumPy where not, so the
kernel is optional: without a C compiler the install still succeeds (with a warning), and only
the ranking is slower.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("recsys_bench.eval._select", ["recsys_bench/eval/_select.c"],
                             extra_compile_args=["-O3"], optional=True)])
