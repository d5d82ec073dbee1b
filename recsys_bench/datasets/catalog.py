"""The field's published data sets: where each comes from, what its official archive is, and how
to recognise it.

Checksums: a ``sha256`` is given only where one was published by a third party that verified the
archive (TensorFlow Datasets' URL checksums for MovieLens 1M, 20M and 25M); ``md5`` is the value
GroupLens publishes next to its archives. Where neither is known the field is None and nothing is
checked: no value here is made up.
"""

from __future__ import annotations

from dataclasses import dataclass

_MOVIELENS_TERMS = ("GroupLens terms: research use, no redistribution or commercial use without "
                    "permission (README in the archive)")


@dataclass(frozen=True)
class FieldDataset:
    """One published data set.

    Attributes
    ----------
    name : str
        Registry name.
    title : str
        What the field calls it.
    archive : str
        File name of the official archive.
    url : str
        Where the archive is published.
    sha256, md5 : str or None
        Known digests of the archive (None where none is published).
    size : int or None
        Bytes of the archive, where known.
    folder : str
        The top folder inside the archive.
    files : tuple of str
        The files read (inside ``folder``).
    rows : int
        Interactions in the main file as published (from the data set's own documentation).
    license : str
        A short note on the terms of use.
    loader : str
        The function of :mod:`recsys_bench.datasets.field` that reads it.
    """

    name: str
    title: str
    archive: str
    url: str
    sha256: str | None
    md5: str | None
    size: int | None
    folder: str
    files: tuple[str, ...]
    rows: int
    license: str
    loader: str

    def expected(self) -> str:
        """The digest to quote to a user: sha256, else md5, else that none is known."""
        if self.sha256:
            return f"sha256 {self.sha256}"
        if self.md5:
            return f"md5 {self.md5} (no sha256 known)"
        return "no published checksum known"


_GROUPLENS = "https://files.grouplens.org/datasets/movielens/"

CATALOG: dict[str, FieldDataset] = {d.name: d for d in (
    FieldDataset("movielens-1m", "MovieLens 1M", "ml-1m.zip", _GROUPLENS + "ml-1m.zip",
                 "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
                 "c4d9eecfca2ab87c1945afe126590906", 5917549, "ml-1m",
                 ("ratings.dat", "movies.dat"), 1_000_209, _MOVIELENS_TERMS, "movielens_dat"),
    FieldDataset("movielens-10m", "MovieLens 10M", "ml-10m.zip", _GROUPLENS + "ml-10m.zip",
                 None, "ce571fd55effeba0271552578f2648bd", None, "ml-10M100K",
                 ("ratings.dat", "movies.dat"), 10_000_054, _MOVIELENS_TERMS, "movielens_dat"),
    FieldDataset("movielens-20m", "MovieLens 20M", "ml-20m.zip", _GROUPLENS + "ml-20m.zip",
                 "96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3",
                 "cd245b17a1ae2cc31bb14903e1204af3", 198702078, "ml-20m",
                 ("ratings.csv", "movies.csv"), 20_000_263, _MOVIELENS_TERMS, "movielens_csv"),
    FieldDataset("movielens-25m", "MovieLens 25M", "ml-25m.zip", _GROUPLENS + "ml-25m.zip",
                 "8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa",
                 "6b51fb2759a8657d3bfcbfc42b592ada", 261978986, "ml-25m",
                 ("ratings.csv", "movies.csv"), 25_000_095, _MOVIELENS_TERMS, "movielens_csv"),
    FieldDataset("movielens-32m", "MovieLens 32M", "ml-32m.zip", _GROUPLENS + "ml-32m.zip",
                 None, None, None, "ml-32m", ("ratings.csv", "movies.csv"), 32_000_204,
                 _MOVIELENS_TERMS, "movielens_csv"),
    FieldDataset("lastfm-360k", "Last.fm 360K", "lastfm-dataset-360K.tar.gz",
                 "http://mtg.upf.edu/static/datasets/last.fm/lastfm-dataset-360K.tar.gz",
                 None, None, None, "lastfm-dataset-360K",
                 ("usersha1-artmbid-artname-plays.tsv",), 17_559_530,
                 "non-commercial research use (README in the archive)", "lastfm"),
    FieldDataset("msd-taste-profile", "Million Song Dataset, Echo Nest Taste Profile",
                 "train_triplets.txt.zip",
                 "http://millionsongdataset.com/sites/default/files/challenge/"
                 "train_triplets.txt.zip",
                 None, None, None, "", ("train_triplets.txt",), 48_373_586,
                 "research use; terms at millionsongdataset.com", "msd_triplets"),
)}
