"""Do a tuned tag model's queries recover the synthetic data's hidden topics?

``sketchfab-synthetic`` draws every like from a user's topics and every informative tag from
its model's topic (``docs/synthetic-data.md``), and the generator knows each model's topic. This
script reads the best saved LightFM-with-tags model of a run or search folder, regenerates the
topics of the same seed, and measures on that model:

``tag_items``
    for every *topic tag* (a tag on at least ``--min-carriers`` models, at least 80% of them of
    one topic), the share of its ``-n`` nearest items (``recsys-bench tag-items``) that are of
    that topic, and the share that carry the tag;
``suggest_tags``
    for ``--items`` items drawn at random, the share of their ``-n`` suggested tags
    (``recsys-bench suggest-tags``) that are topic tags of the item's own topic, for each
    ``--min-items`` threshold on the tags considered;
``base_rate``
    the chance that a random item shares a given model's topic (the sum over topics of their
    squared shares), the level a query that knew nothing would reach.

Usage::

    python bench/scripts/tag_topics.py --run results/search-lightfm-tags --out results/search-lightfm-tags/tag-topics.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from recsys_bench import embeddings
from recsys_bench.datasets import sketchfab_synthetic

PURITY = 0.8


def tag_topics(saved: embeddings.SavedModel, item_topic: np.ndarray, min_carriers: int
               ) -> np.ndarray:
    """The topic of each feature that is a topic tag (see the module docstring), else -1."""
    carriers = saved.item_tags.tocsc()
    names = np.asarray([str(n) for n in saved.feature_names])
    counts = np.diff(carriers.indptr)
    found = np.full(len(names), -1)
    for j in np.flatnonzero(np.char.startswith(names, "tag_") & (counts >= min_carriers)):
        topics = np.bincount(item_topic[carriers.indices[carriers.indptr[j]:carriers.indptr[j + 1]]])
        if topics.max() >= PURITY * counts[j]:
            found[j] = int(topics.argmax())
    return found


def measure(run: str, seed: int, scale: float, n: int, items: int, min_carriers: int,
            thresholds: list[int]) -> dict:
    """The figures of the module docstring for the best tag model of ``run``, whose data set is
    ``sketchfab-synthetic`` drawn with ``seed`` at ``scale``."""
    saved = embeddings.pick_model(run, needs_tags=True)
    sample = sketchfab_synthetic.generate(seed, scale=scale)
    topic_of = dict(zip(sample.mids.tolist(), sample.topic.tolist()))
    item_topic = np.array([topic_of[str(i)] for i in saved.item_ids])
    topic_of_tag = tag_topics(saved, item_topic, min_carriers)
    carriers = saved.item_tags.tocsc()
    in_topic, carrying = [], []
    for j in np.flatnonzero(topic_of_tag >= 0):
        hits = np.array([h.index for h in saved.items_for_tag(int(j), n)])
        in_topic.append(np.mean(item_topic[hits] == topic_of_tag[j]))
        carrying.append(np.mean(np.isin(hits, carriers.indices[carriers.indptr[j]:
                                                               carriers.indptr[j + 1]])))
    index = {str(name): j for j, name in enumerate(saved.feature_names)}
    picked = np.random.default_rng(0).choice(saved.n_items, min(items, saved.n_items),
                                             replace=False)
    suggest = {}
    for threshold in thresholds:
        own = []
        for i in picked:
            tags = [index[t.feature] for t in saved.tags_for_item(int(i), n, threshold)]
            own.append(np.mean(topic_of_tag[tags] == item_topic[i]) if tags else 0.0)
        suggest[str(threshold)] = float(np.mean(own))
    shares = np.bincount(item_topic) / len(item_topic)
    return {"run": run, "model": saved.label, "seed": seed, "scale": scale, "n": n,
            "topic_tags": len(in_topic), "min_carriers": min_carriers,
            "tag_items": {"in_topic": float(np.mean(in_topic)) if in_topic else None,
                          "carrying_the_tag": float(np.mean(carrying)) if carrying else None},
            "suggest_tags": {"items": len(picked), "own_topic_share_by_min_items": suggest},
            "base_rate": float(shares @ shares)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="run or search folder with a tag model")
    parser.add_argument("--seed", type=int, default=0, help="the data set's generator seed")
    parser.add_argument("--scale", type=float, default=1.0, help="the data set's scale")
    parser.add_argument("-n", type=int, default=10, help="rows per query")
    parser.add_argument("--items", type=int, default=300, help="items whose tags are suggested")
    parser.add_argument("--min-carriers", type=int, default=5,
                        help="models a tag needs to count as a topic tag")
    parser.add_argument("--min-items", type=int, nargs="+", default=[1, 2, 5, 20],
                        help="thresholds for the suggested tags")
    parser.add_argument("--out", help="JSON file for the figures")
    args = parser.parse_args(argv)
    found = measure(args.run, args.seed, args.scale, args.n, args.items, args.min_carriers,
                    args.min_items)
    near = found["tag_items"]
    print(f"{found['model']}: {found['topic_tags']} topic tags" + (
        f"; their {args.n} nearest items: {near['in_topic']:.1%} in the tag's topic, "
        f"{near['carrying_the_tag']:.1%} carry it" if found["topic_tags"] else "")
        + f"; base rate {found['base_rate']:.1%}")
    for threshold, share in found["suggest_tags"]["own_topic_share_by_min_items"].items():
        print(f"suggested tags (tags on >= {threshold} items) of the item's own topic: "
              f"{share:.1%}")
    if args.out:
        found["command"] = " ".join(["python", *sys.argv])
        Path(args.out).write_text(json.dumps(found, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
