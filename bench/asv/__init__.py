"""asv regression suite of recsys-bench (configured by ``asv.conf.json`` at the repository root).

``common`` holds the shared knobs, data and models; each ``bench_*`` module declares suites.
Set ``RECSYS_BENCH_ASV_FAST=1`` for the CI smoke profile (tiny data, one repeat).
"""
