"""HTML gallery pages of embedding-space queries, one page per query type.

For a few example items and tags of each data set, the gallery shows what the saved models of a
run folder answer (see :mod:`recsys_bench.embeddings`):

- ``gallery/similar-items.html``: the most similar items of each example item, for the best saved
  model of every kind (the study's item-to-item view; the first row is the item itself);
- ``gallery/tag-items.html``: the items closest to each example tag (LightFM with tags);
- ``gallery/suggest-tags.html``: tags suggested for each example item (LightFM with tags);
- ``gallery/index.html``: links to the three and the models used.

Every page is one self-contained HTML file (inline CSS, no scripts, no external assets): names,
ids, tags and cosines, with the item's tags in bold where a hit shares them. Sketchfab items link
to their page on sketchfab.com. Examples are the most liked items (by train likes of the saved
split when the run folder has it) and tags, each at a spread of popularity ranks.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

import numpy as np

from recsys_bench.embeddings import Hit, SavedModel, load_entry, saved_models
from recsys_bench.fileio import atomic_write_text
from recsys_bench.store.run_folder import RunFolder

GALLERY_DIR = "gallery"
PAGES = {"similar-items": "Similar items", "tag-items": "Items for a tag",
         "suggest-tags": "Suggested tags"}
EXAMPLE_RANKS = (0, 1, 2, 10, 50, 200, 1000)
# Suggested tags are drawn from tags on at least this many items (see SavedModel.tags_for_item).
SUGGEST_MIN_ITEMS = 5

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1em; color: #555; margin-bottom: .3em; }
table { border-collapse: collapse; margin: .3em 0 1.2em; font-size: .9em; }
th, td { padding: .2em .6em; text-align: left; vertical-align: top; border-bottom: 1px solid #eee; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.tags { color: #666; } .tags b { color: #000; } .id { font-family: monospace; font-size: .85em; }
tr.self { background: #f3f7ff; } .note { color: #666; font-size: .9em; }
"""


def _best_per_model(run_dir: Path) -> dict[str, list[SavedModel]]:
    """dataset -> the best saved model of each model name (best first)."""
    seen: set[tuple[str, str]] = set()
    out: dict[str, list[SavedModel]] = {}
    for entry in saved_models(run_dir):
        dataset = str(entry.meta.get("dataset", ""))
        if (dataset, entry.model) in seen:
            continue
        seen.add((dataset, entry.model))
        out.setdefault(dataset, []).append(load_entry(entry))
    return out


def _popularity(run_dir: Path, saved: SavedModel) -> np.ndarray | None:
    """Likes per item in the saved split's train part, when the run folder has the split."""
    from recsys_bench.splits import load_split

    seed = saved.meta.get("seed")
    if seed is None:
        return None
    path = RunFolder(run_dir).split(str(saved.meta.get("dataset")), seed)
    if not path.exists():
        return None
    train = load_split(path).train
    if train.shape[1] != saved.n_items:
        return None
    return np.bincount(train.indices, minlength=saved.n_items)


def example_items(run_dir: Path, saved: SavedModel, count: int = 6) -> list[int]:
    """Item indices at a spread of popularity ranks (the top three, then rank 10, 50, ...)."""
    counts = _popularity(run_dir, saved)
    order = (np.arange(saved.n_items) if counts is None
             else np.lexsort((np.arange(saved.n_items), -counts)))
    ranks = sorted({min(r, saved.n_items - 1) for r in EXAMPLE_RANKS})
    return [int(order[r]) for r in ranks][:count]


def example_tags(saved: SavedModel, count: int = 7) -> list[int]:
    """``tag_*`` features (all features if none is named ``tag_*``) at a spread of usage ranks
    (the three most used, then rank 10, 50, ...; the next most used where there are fewer
    ranks than ``count``), skipping those carried by more than half of the items. The most used
    tags are often tool or style tags that say little about taste; the lower ranks reach the
    tags of narrower subjects."""
    counts = np.bincount(saved.item_tags.indices, minlength=len(saved.feature_names))
    names = np.asarray([str(n) for n in saved.feature_names])
    tags = np.char.startswith(names, "tag_")
    pool = np.flatnonzero((tags if tags.any() else np.ones(len(names), bool))
                          & (counts <= saved.n_items / 2) & (counts > 0))
    pool = pool[np.lexsort((pool, -counts[pool]))]
    ranks = [r for r in EXAMPLE_RANKS if r < len(pool)][:count]
    ranks += [r for r in range(len(pool)) if r not in ranks][:count - len(ranks)]
    return [int(pool[r]) for r in sorted(ranks)]


def _e(text) -> str:
    return html.escape(" ".join(str(text).split()))


def _item_link(saved: SavedModel, item_id: str, name: str) -> str:
    label = _e(name) or f'<span class="id">{_e(item_id)}</span>'
    dataset = str(saved.meta.get("dataset_name") or saved.meta.get("dataset") or "")
    if dataset.startswith("sketchfab"):
        return f'<a href="https://sketchfab.com/models/{html.escape(item_id)}">{label}</a>'
    return label


def _tags_html(tags, highlight=()) -> str:
    shown = [f"<b>{_e(t)}</b>" if t in highlight else _e(t) for t in tags[:12]]
    more = f" … (+{len(tags) - 12})" if len(tags) > 12 else ""
    return f'<span class="tags">{", ".join(shown)}{more}</span>'


def _hits_table(saved: SavedModel, hits: list[Hit], *, highlight=(), query: int | None = None,
                mark: str | None = None) -> str:
    head = ["#", "cosine", "item", "id", "tags"] + ([mark] if mark else [])
    rows = []
    for rank, h in enumerate(hits, start=1):
        cls = ' class="self"' if h.index == query else ""
        extra = [("✓" if mark and mark in h.tags else "")] if mark else []
        cells = [f'<td class="num">{rank}</td>', f'<td class="num">{h.score:.4f}</td>',
                 f"<td>{_item_link(saved, h.item_id, h.name)}</td>",
                 f'<td class="id">{_e(h.item_id)}</td>',
                 f"<td>{_tags_html(h.tags, highlight)}</td>"] + [f"<td>{x}</td>" for x in extra]
        rows.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return (f"<table><thead><tr>{''.join(f'<th>{_e(c)}</th>' for c in head)}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _item_heading(saved: SavedModel, index: int) -> str:
    item_id, name = str(saved.item_ids[index]), str(saved.item_names[index])
    return (f"<h2>{_item_link(saved, item_id, name)} <span class=\"id\">{_e(item_id)}</span></h2>"
            f"<p>tags: {_tags_html(saved.tags_of(index)) if saved.tags_of(index) else '–'}</p>")


def _page(title: str, body: list[str], run_dir: Path) -> str:
    nav = " · ".join(f'<a href="{name}.html">{_e(label)}</a>' for name, label in PAGES.items())
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>\n"
            f'<p class="note"><a href="index.html">gallery</a> · {nav} — run folder '
            f"<code>{_e(run_dir.name)}</code></p>\n<h1>{_e(title)}</h1>\n" + "\n".join(body)
            + "\n</body></html>\n")


def _similar_page(run_dir: Path, groups: dict[str, list[SavedModel]], n: int) -> list[str]:
    body = ['<p class="note">Cosine of item vectors, the study\'s item-to-item view; the first '
            "row is the item itself. Bold tags are shared with the query item.</p>"]
    for dataset, group in groups.items():
        body.append(f"<h1>{_e(dataset)}</h1>")
        first = group[0]
        for index in example_items(run_dir, first):
            item_id = str(first.item_ids[index])
            body.append(_item_heading(first, index))
            query_tags = set(first.tags_of(index))
            for saved in group:
                found = np.flatnonzero(saved.item_ids == item_id)
                if not len(found):
                    continue
                body.append(f"<h3>{_e(saved.label)}</h3>")
                body.append(_hits_table(saved, saved.similar(int(found[0]), n),
                                        highlight=query_tags, query=int(found[0])))
    return body


def _tagged(groups: dict[str, list[SavedModel]]) -> list[SavedModel]:
    return [next(s for s in models if s.tag_vectors is not None)
            for models in groups.values() if any(s.tag_vectors is not None for s in models)]


_NO_TAGS = ('<p>No saved model has tag embeddings: these queries need LightFM trained with '
            '<code>features = "tags"</code>.</p>')


def _tag_items_page(run_dir: Path, groups, n: int) -> list[str]:
    tagged = _tagged(groups)
    body = ['<p class="note">Items ranked by the cosine between the tag\'s embedding and each '
            "item's representation (the sum of its identity and tag embeddings).</p>"]
    if not tagged:
        return body + [_NO_TAGS]
    for saved in tagged:
        body.append(f"<h1>{_e(saved.meta.get('dataset', ''))}</h1><p>{_e(saved.label)}</p>")
        for feature in example_tags(saved):
            name = str(saved.feature_names[feature])
            carriers = int(np.count_nonzero(saved.item_tags.indices == feature))
            body.append(f"<h2>{_e(name)}</h2><p class=\"note\">carried by {carriers} items</p>")
            body.append(_hits_table(saved, saved.items_for_tag(feature, n), highlight={name},
                                    mark=name))
    return body


def _suggest_page(run_dir: Path, groups, n: int) -> list[str]:
    tagged = _tagged(groups)
    body = ['<p class="note">Tags the item does not carry, ranked by the cosine between their '
            f"embeddings and the item's representation, among tags on at least "
            f"{SUGGEST_MIN_ITEMS} items (a tag used once or twice has an embedding trained on "
            "those items alone).</p>"]
    if not tagged:
        return body + [_NO_TAGS]
    for saved in tagged:
        body.append(f"<h1>{_e(saved.meta.get('dataset', ''))}</h1><p>{_e(saved.label)}</p>")
        for index in example_items(run_dir, saved):
            body.append(_item_heading(saved, index))
            rows = "".join(f'<tr><td class="num">{r}</td><td class="num">{t.score:.4f}</td>'
                           f'<td>{_e(t.feature)}</td><td class="num">{t.items}</td></tr>'
                           for r, t in enumerate(saved.tags_for_item(index, n, SUGGEST_MIN_ITEMS),
                                                start=1))
            body.append("<table><thead><tr><th>#</th><th>cosine</th><th>suggested tag</th>"
                        f"<th>items with it</th></tr></thead><tbody>{rows}</tbody></table>")
    return body


def write_gallery(run_dir: str | os.PathLike, *, n: int = 10) -> Path | None:
    """Write the gallery pages of a run (or search) folder from its saved models.

    Parameters
    ----------
    run_dir : path-like
        A folder with ``models/*.npz`` (see :func:`recsys_bench.embeddings.save_run_model`).
    n : int
        Rows per query (similar items show ``n`` items, the query item included).

    Returns
    -------
    pathlib.Path or None
        ``gallery/index.html``, or None when the folder has no saved models (nothing written).
    """
    run_dir = Path(run_dir)
    groups = _best_per_model(run_dir)
    if not groups:
        return None
    folder = run_dir / GALLERY_DIR
    pages = {"similar-items": _similar_page(run_dir, groups, n),
             "tag-items": _tag_items_page(run_dir, groups, n),
             "suggest-tags": _suggest_page(run_dir, groups, n)}
    for name, body in pages.items():
        atomic_write_text(folder / f"{name}.html", _page(PAGES[name], body, run_dir))
    models = "".join(f"<li>{_e(s.label)}</li>" for group in groups.values() for s in group)
    links = "".join(f'<li><a href="{name}.html">{_e(label)}</a></li>'
                    for name, label in PAGES.items())
    index = _page("Embedding-space gallery",
                  [f"<ul>{links}</ul>", "<h2>Models (the best saved trial of each)</h2>",
                   f"<ul>{models}</ul>"], run_dir)
    path = folder / "index.html"
    atomic_write_text(path, index)
    return path


__all__ = ["write_gallery", "example_items", "example_tags", "GALLERY_DIR"]
