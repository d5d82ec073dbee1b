"""Training cost: one epoch of each model across thread counts and data sizes, and peak memory."""

from __future__ import annotations

from .common import MODELS, SIZES, THREADS, WithSplits, new_model, read_split


class FitEpoch(WithSplits):
    """Seconds of one training epoch, continuing a model already fitted for one epoch.

    The first epoch (model construction, data conversion, random init) is untimed, so the figure
    is the per-epoch cost that a learning curve pays 19 times per setting.
    """

    param_names = ["model", "threads", "size"]
    params = [list(MODELS), list(THREADS), list(SIZES)]

    def setup(self, splits, model, threads, size):
        self.model = new_model(model, threads)
        self.model.fit(read_split(splits[size]).train, epochs=1)

    def time_fit_epoch(self, splits, model, threads, size):
        self.model.fit_more(1)


class FitMemory(WithSplits):
    """Peak resident memory of the benchmark process while a model is fitted for one epoch.

    asv reports the peak of the whole process, so it includes the interpreter, the libraries and
    the loaded split (about the same for every model); differences between models and steps over
    commits are what to read.
    """

    param_names = ["model", "size"]
    params = [list(MODELS), list(SIZES)]

    def setup(self, splits, model, size):
        self.train = read_split(splits[size]).train

    def peakmem_fit(self, splits, model, size):
        new_model(model, 1).fit(self.train, epochs=1)
