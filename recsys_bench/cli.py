"""The ``recsys-bench`` command line.

Bad input (a :class:`~recsys_bench.errors.UserError`, a corrupt stored file included) and an OS
error of the environment (permissions, a full or read-only file system, a path through a file)
end with one line on stderr naming the path and exit status 2; a ``run`` in which no trial
succeeded with status 1; an interruption with status 130. Anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap

from recsys_bench.errors import UserError, os_error_line

PROG = "recsys-bench"


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, formatter_class=_formatter,
        description="A comparative benchmark harness for implicit-feedback recommenders.",
        epilog=textwrap.dedent("""\
            examples:
              recsys-bench datasets list
              recsys-bench datasets stats sketchfab-synthetic --json
              recsys-bench models list
              recsys-bench run configs/default.toml --out results/default
              recsys-bench report results/default
              recsys-bench board results/default results/sketchfab-wrmf-grid --out site
            """))
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    datasets = commands.add_parser(
        "datasets", help="list, generate and describe data sets", formatter_class=_formatter,
        description="List, generate and describe the registered data sets.",
        epilog=textwrap.dedent("""\
            examples:
              recsys-bench datasets list
              recsys-bench datasets synth-sketchfab --out data/sketchfab --seed 0
              recsys-bench datasets stats sketchfab --path data/sketchfab
              recsys-bench datasets stats movielens-100k --min-user-likes 1 --min-item-likes 1 --json
              recsys-bench datasets inspect data/ratings.csv
              recsys-bench datasets stats interactions --option path=data/ratings.csv \
                  --option user_col=userId --option item_col=movieId
            """))
    dsub = datasets.add_subparsers(dest="datasets_command", metavar="ACTION", required=True)
    listing = dsub.add_parser("list", help="the registered data sets (source, size, license, "
                                           "whether present)")
    listing.add_argument("--json", action="store_true", help="print one JSON object per line")
    inspect_cmd = dsub.add_parser(
        "inspect", formatter_class=_formatter,
        help="guess an interaction file's delimiter, header and columns; print the config",
        description="Read the first lines of a delimited or Parquet file, guess its delimiter, "
                    "header and which columns are the user, item, weight and timestamp, and "
                    "print the [[datasets]] entry (and the stats command) that load it.",
        epilog="example:\n  recsys-bench datasets inspect data/ratings.csv.gz\n")
    inspect_cmd.add_argument("file", metavar="FILE", help="the interaction file")
    synth = dsub.add_parser(
        "synth-sketchfab", formatter_class=_formatter,
        help="write the synthetic Sketchfab files (model_likes_anon.psv, model_feats.psv)",
        description="Write the seeded synthetic stand-in for the Sketchfab likes data, in the real "
                    "files' exact format, to a folder.",
        epilog="example:\n  recsys-bench datasets synth-sketchfab --out data/sketchfab --seed 0\n")
    synth.add_argument("--out", required=True, metavar="DIR", help="folder to write the files to")
    synth.add_argument("--seed", type=int, default=0, help="generator seed (default: 0)")
    stats = dsub.add_parser(
        "stats", formatter_class=_formatter,
        help="statistics before and after thresholding",
        description="Load a data set and print its statistics before and after dropping "
                    "duplicates and iterative thresholding, as the study did.",
        epilog=textwrap.dedent("""\
            examples:
              recsys-bench datasets stats sketchfab-synthetic
              recsys-bench datasets stats sketchfab --path data/sketchfab --min-user-likes 10
              recsys-bench datasets stats movielens-100k --json
              recsys-bench datasets stats interactions --option path=ratings.csv \
                  --option user_col=userId --option item_col=movieId \
                  --option weight_col=rating --option min_weight=4
              recsys-bench datasets stats movielens-1m --option path=downloads/ml-1m.zip
            """))
    stats.add_argument("name", help="data set name (see `datasets list`)")
    stats.add_argument("--path", metavar="PATH",
                       help="the source: a folder, a file or an archive (= --option path=PATH)")
    stats.add_argument("--seed", type=int, help="generator seed (synthetic data sets)")
    stats.add_argument("--min-user-likes", type=int, metavar="N",
                       help="drop users with fewer likes, iteratively (1 = no thresholding)")
    stats.add_argument("--min-item-likes", type=int, metavar="N",
                       help="drop items with fewer likes, iteratively (1 = no thresholding)")
    stats.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                       help="a loader option (repeatable): path=FILE, user_col=0, header=true, "
                            "min_weight=4, ... (values read as in TOML, else as text)")
    stats.add_argument("--json", action="store_true", help="print one JSON object")

    models = commands.add_parser(
        "models", help="list and describe models, built-in and plug-in", formatter_class=_formatter,
        description="List every model (built-in, registered, or a plug-in of the entry-point "
                    "group recsys_bench.models) with its parameters, defaults and capabilities. "
                    "Your own model: docs/writing-a-model.md.",
        epilog=textwrap.dedent("""\
            examples:
              recsys-bench models list
              recsys-bench models list --json
              recsys-bench models show implicit-bpr
              recsys-bench models show mypackage.recs:MyModel
            """))
    msub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    mlist = msub.add_parser("list", help="every model with parameters and capabilities")
    mlist.add_argument("--json", action="store_true", help="print a JSON list")
    mshow = msub.add_parser("show", help="one model: parameters, capabilities, documentation")
    mshow.add_argument("name", help="model name or package.module:Class")
    mshow.add_argument("--json", action="store_true", help="print one JSON object")

    run = commands.add_parser(
        "run", formatter_class=_formatter, help="run an experiment config into a result folder",
        description="Run every trial of an experiment (datasets x split seeds x models x settings "
                    "x threads) and store results, raw top-k lists and a report in a folder. "
                    "Rerunning the same command resumes: finished trials are kept and skipped.",
        epilog=textwrap.dedent("""\
            examples:
              recsys-bench run configs/default.toml --out results/default
              recsys-bench run configs/sketchfab-wrmf-grid.toml --out runs/grid --workers 2
              recsys-bench run configs/default.toml --out results/default --retry-failed
              recsys-bench run configs/movielens-p10.toml --out runs/debug --executor inline
              recsys-bench run configs/sketchfab-wrmf-grid.toml --out /mnt/nfs/runs/grid \\
                  --executor dask --scheduler tcp://HOST:8786

            executors:
              processes  worker processes on this machine (default); a trial past timeout_s
                         is killed, a crashed worker costs only its own trial
              inline     this process, one trial at a time, for debugging and profiling;
                         timeout_s is not enforced
              dask       tasks on a Dask cluster (pip install "recsys-bench[dask]"); the
                         result folder must be at the same path on every worker, plug-in
                         models importable there, and each worker declares the threads it
                         lends:
                           dask worker tcp://HOST:8786 --nthreads 4 --resources "threads=4"
            """))
    run.add_argument("config", help="experiment file (TOML)")
    run.add_argument("--out", required=True, metavar="DIR", help="result folder")
    run.add_argument("--workers", type=int, metavar="N",
                     help="most trials side by side (default: the cores; with dask, the tasks "
                          "the workers run at once)")
    run.add_argument("--retry-failed", action="store_true", help="run failed trials again")
    run.add_argument("--executor", choices=("processes", "inline", "dask"), default="processes",
                     help="where trials run (default: processes)")
    run.add_argument("--scheduler", metavar="ADDR",
                     help="the Dask scheduler's address, e.g. tcp://HOST:8786 (--executor dask)")
    run.add_argument("--memory-budget", metavar="SIZE",
                     help="memory the trials running at once may need together by their "
                          "estimates, e.g. 8G (default: the available memory minus a margin)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")

    report = commands.add_parser(
        "report", formatter_class=_formatter, help="(re)write the report of a result folder",
        description="Write report.md, report.html and figures/*.png from a result folder's "
                    "stored results (no retraining).",
        epilog="example:\n  recsys-bench report results/default\n")
    report.add_argument("run_dir", metavar="DIR", help="result folder of `run`")

    reconcile = commands.add_parser(
        "reconcile", formatter_class=_formatter,
        help="a run's lists under every protocol preset, side by side",
        description="Score each trial's stored top-k lists under every protocol preset "
                    "(recsys-bench, lightfm, implicit, liang2018) and write reconcile.md into "
                    "the run folder, with a line per reason the figures differ.",
        epilog="examples:\n  recsys-bench reconcile results/movielens-reconcile\n"
               "  recsys-bench reconcile results/movielens-reconcile --rescore\n"
               "  recsys-bench reconcile results/movielens-reconcile --preset implicit\n")
    reconcile.add_argument("run_dir", metavar="DIR", help="result folder of `run`")
    reconcile.add_argument("--preset", action="append", metavar="NAME",
                           help="only this preset (repeatable); a metric of it that cannot "
                                "apply is an error")
    reconcile.add_argument("--rescore", action="store_true",
                           help="train each trial's model again for every item's score (AUC, "
                                "LightFM's tie rule, lists of either exclusion)")
    reconcile.add_argument("--out", metavar="FILE", help="write here instead of DIR/reconcile.md")

    compare = commands.add_parser(
        "compare", formatter_class=_formatter, help="compare two result folders of one experiment",
        description="Quality (with 95%% intervals), fit and recommend time of RUN_B against RUN_A "
                    "(same experiment, same splits); times raw and normalised by the runs' "
                    "yardsticks (the machine's speed during each run), the verdict on the "
                    "normalised ones; exit status 1 when anything regressed. Also writes the "
                    "two runs side by side as a results board (charts).",
        epilog="example:\n  recsys-bench compare runs/main runs/branch --threshold 1.2\n")
    compare.add_argument("run_a", metavar="RUN_A", help="the baseline result folder")
    compare.add_argument("run_b", metavar="RUN_B", help="the result folder to check")
    compare.add_argument("--threshold", type=float, default=1.10,
                         help="time ratio B/A counted as slower (default: 1.10)")
    compare.add_argument("--min-seconds", type=float, default=0.05,
                         help="smallest absolute slowdown, in seconds of the whole fit or "
                              "recommend pass, that counts (default: 0.05)")
    compare.add_argument("--max-spread", type=float, default=2.0,
                         help="no timing verdict for a run whose slowest yardstick probe took "
                              "more than this many times its fastest (default: 2.0)")
    compare.add_argument("--json", action="store_true", help="print JSON")
    compare.add_argument("--board", metavar="DIR",
                         help="where to write the comparison's board (default: "
                              "RUN_B/compare-board; 'none' writes none)")

    board = commands.add_parser(
        "board", formatter_class=_formatter,
        help="an interactive results board (static site) of one or more result folders",
        description="Write a static, offline site (index.html and the vendored chart library) "
                    "exploring result folders: leaderboard, quality vs fit time, learning "
                    "curves, grid heatmaps, per-user metrics, scaling, runs side by side and "
                    "asv history. Built from stored results only; open index.html in a browser.",
        epilog=textwrap.dedent("""\
            examples:
              recsys-bench board results/sketchfab-wrmf-grid --out site/grid
              recsys-bench board runs/main runs/branch --out site/main-vs-branch
              recsys-bench board results/default --out site --asv .asv/results
              recsys-bench board results/default --out results/default/board \\
                  --lib-dir results/board-lib
            """))
    board.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                       help="result folders; the first is the baseline when comparing")
    board.add_argument("--out", required=True, metavar="DIR", help="site folder to write")
    board.add_argument("--asv", metavar="DIR", help="an asv results folder (.asv/results)")
    board.add_argument("--lib-dir", metavar="DIR",
                       help="write the chart library here and link to it, so boards share one "
                            "copy (default: the copy an existing index.html in --out links to, "
                            "else next to index.html)")

    search = commands.add_parser(
        "search", formatter_class=_formatter,
        help="Bayesian hyperparameter search (Optuna TPE, pruning), resumable",
        description="Search a model's hyperparameters with Optuna's TPE sampler, pruning trials "
                    "that fall behind on the learning curve. Trials are scored on a validation "
                    "split carved from the train part; the best is retrained and scored on test "
                    "once. Rerunning continues the study up to --trials in total.",
        epilog=textwrap.dedent("""\
            examples:
              recsys-bench search configs/search-lightfm.toml --trials 250 \\
                  --out results/search-lightfm
              recsys-bench search configs/search-wrmf.toml --trials 40 --out results/search-wrmf \\
                  --grid-run results/sketchfab-wrmf-grid
              recsys-bench search configs/search-wrmf.toml --trials 40 --out results/search-wrmf \\
                  --executor processes --parallel 4
              recsys-bench search configs/search-lightfm.toml --trials 250 \\
                  --out /mnt/nfs/search-lightfm --executor dask --scheduler tcp://HOST:8786

            executors (trials are asked for and told here; only their training moves):
              inline     this process, one trial at a time (default)
              processes  worker processes on this machine; a crashed worker costs only its
                         own trial
              dask       tasks on a Dask cluster (pip install "recsys-bench[dask]"); the
                         search folder (its search.db) must be at the same path on every
                         worker, and each worker declares the threads it lends:
                           dask worker tcp://HOST:8786 --nthreads 4 --resources "threads=4"
              With --parallel N > 1 the sampler proposes trials while others still run, so
              it learns from fewer finished ones: expect to need somewhat more trials.
            """))
    search.add_argument("config", help="search config (TOML, see configs/search-*.toml)")
    search.add_argument("--trials", type=int, required=True, metavar="N",
                        help="trials wanted in total (a rerun adds the missing ones)")
    search.add_argument("--out", required=True, metavar="DIR", help="search folder")
    search.add_argument("--grid-run", metavar="DIR",
                        help="a grid's run folder: compare its best p@k and compute in the report")
    search.add_argument("--executor", choices=("inline", "processes", "dask"), default="inline",
                        help="where trials run (default: inline)")
    search.add_argument("--scheduler", metavar="ADDR",
                        help="the Dask scheduler's address, e.g. tcp://HOST:8786 (--executor dask)")
    search.add_argument("--parallel", type=int, metavar="N",
                        help="trials at once (default: 1 inline, else as many as the cores or "
                             "the cluster's declared threads hold at search.threads each)")
    search.add_argument("--memory-budget", metavar="SIZE",
                        help="memory the trials running at once may need together, by the "
                             "estimate of the space's largest trial, e.g. 8G (default: the "
                             "available memory minus a margin)")
    search.add_argument("--quiet", action="store_true",
                        help="no line per trial or per checkpoint")

    def query(name: str, summary: str, description: str, example: str, item: bool, n: int):
        cmd = commands.add_parser(name, formatter_class=_formatter, help=summary,
                                  description=description, epilog=f"example:\n  {example}\n")
        cmd.add_argument("--run", required=True, metavar="DIR",
                         help="run or search folder with saved models (models/*.npz)")
        if item:
            cmd.add_argument("--item", required=True, metavar="MID", help="item id (or exact name)")
        else:
            cmd.add_argument("--tag", required=True, metavar="TAG",
                             help="tag or category: lowpoly, tag_lowpoly, category_architecture")
        cmd.add_argument("--model", metavar="M", required=name == "similar",
                         help="model name: its best saved trial by test p@k is used"
                              + ("" if name == "similar" else " (default: the best with tags)"))
        cmd.add_argument("--trial", metavar="ID", help="use this trial's saved model instead")
        cmd.add_argument("-n", type=int, default=n, help=f"rows to show (default: {n})")
        return cmd

    query("similar", "the items most similar to an item (cosine of item vectors)",
          "Print the items whose vectors have the highest cosine to an item's (the study's "
          "item-to-item view), with names and tags; the first row is the item itself.",
          "recsys-bench similar --run results/default --model implicit-als "
          "--item 5dcebcfaedbd4e7b8a27bd1ae55f1ac3",
          True, 5)
    query("tag-items", "the items closest to a tag's embedding (LightFM with tags)",
          "Print the items whose representations have the highest cosine to a tag's embedding "
          "(LightFM trained with features = \"tags\").",
          "recsys-bench tag-items --run results/default --tag lowpoly", False, 10)
    suggest = query(
        "suggest-tags", "tags an item lacks, closest to it (LightFM with tags)",
        "Print the tags an item does not carry whose embeddings are closest to its "
        "representation (LightFM trained with features = \"tags\"). A tag used by one or two "
        "items has an embedding trained on those items alone; --min-items 5 keeps the tags "
        "the model learned from more.",
        "recsys-bench suggest-tags --run results/default "
        "--item 5dcebcfaedbd4e7b8a27bd1ae55f1ac3 --min-items 5",
        True, 10)
    suggest.add_argument("--min-items", type=int, default=1, metavar="N",
                         help="only tags carried by at least N items (default: 1, every tag)")
    return parser


def _datasets(args: argparse.Namespace) -> int:
    from recsys_bench import datasets

    if args.datasets_command == "list":
        rows = datasets.catalog_rows()
        width = max(len(row["name"]) for row in rows)
        for row in rows:
            if args.json:
                print(json.dumps(row))
                continue
            print(f"{row['name']:<{width}}  {row['description']}")
            if "source" in row:
                pad = " " * (width + 2)
                print(f"{pad}{'present' if row['present'] else 'not present'}; {row['size']}, "
                      f"{row['rows']:,} interactions; {row['checksum']}\n"
                      f"{pad}source: {row['source']}\n{pad}license: {row['license']}")
        return 0
    if args.datasets_command == "inspect":
        from recsys_bench.datasets.sniff import guess

        found = guess(args.file)
        print(f"# {found.path}: " + ", ".join(found.notes))
        print(found.toml())
        print(f"# check it with:\n# {found.command()}")
        return 0
    if args.datasets_command == "synth-sketchfab":
        from recsys_bench.datasets import sketchfab_synthetic

        stats = sketchfab_synthetic.write(args.out, seed=args.seed)
        print(f"wrote {args.out}: " + ", ".join(f"{k}={v}" for k, v in stats.items()))
        return 0
    options = {key: value for key, value in (
        ("path", args.path), ("seed", args.seed), ("min_user_likes", args.min_user_likes),
        ("min_item_likes", args.min_item_likes)) if value is not None}
    accepted = datasets.option_names(args.name)
    for key in options:
        if key not in accepted:
            raise UserError(f"dataset {args.name!r} takes no --{key.replace('_', '-')}")
    for text in args.option:
        key, value = _option(text)
        if key in options:
            raise UserError(f"option {key!r} given twice")
        options[key] = value
    data = datasets.load(args.name, **options)
    summary = data.summary()
    if args.json:
        print(json.dumps({**summary, "sources": [s.as_dict() for s in data.sources]}))
    else:
        width = max(map(len, summary))
        for key, value in summary.items():
            print(f"{key:<{width}}  {value:,}" if isinstance(value, int) else
                  f"{key:<{width}}  {value}")
        for source in data.sources:
            print(f"{'source':<{width}}  {source.name} ({source.size:,} bytes, "
                  f"sha256 {source.sha256})")
    return 0


def _models(args: argparse.Namespace) -> int:
    from recsys_bench.models import describe

    if args.models_command == "list":
        infos = describe.all_models()
        print(json.dumps([m.to_json() for m in infos], indent=1) if args.json
              else describe.format_list(infos))
        return 0
    model = describe.info(args.name)
    print(json.dumps(model.to_json(), indent=1) if args.json else describe.format_show(model))
    return 0


def _report_after(run_dir, quiet: bool) -> None:
    """Write a finished run's gallery and report; a report bug is a warning, never a lost run."""
    from recsys_bench.analysis.gallery import write_gallery
    from recsys_bench.analysis.report import write_report

    try:
        _reconcile_after(run_dir, quiet)
        write_gallery(run_dir)
        path = write_report(run_dir)
    except UserError:
        raise
    except Exception as exc:  # the results are safe; a report bug must not hide them
        print(f"warning: report failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return
    if not quiet:
        print(f"report: {path}", flush=True)


def _reconcile_after(run_dir, quiet: bool) -> None:
    """Reconcile a finished run under the presets its config names (``evaluation.protocol``)."""
    from pathlib import Path

    from recsys_bench.analysis.reconcile import write_reconciliation
    from recsys_bench.experiment.config import load_config
    from recsys_bench.store.run_folder import RunFolder

    evaluation = load_config(RunFolder(Path(run_dir)).config).evaluation
    if evaluation.protocols:
        if not quiet:
            print(f"reconciling under {', '.join(evaluation.protocols)}"
                  + (" (training each trial again for scores)" if evaluation.protocol_rescore
                     else ""), flush=True)
        write_reconciliation(run_dir, presets=evaluation.protocols,
                             rescore=evaluation.protocol_rescore, strict=False)


def _run_status(run_dir) -> int:
    """Exit status of a finished ``run``: 1 when not one trial succeeded, else 0."""
    from recsys_bench.experiment.guard import no_trial_succeeded

    if no_trial_succeeded(run_dir):
        print(f"{PROG}: error: no trial succeeded; see the error column of "
              f"{run_dir / 'results.csv'} and {run_dir / 'logs'}", file=sys.stderr)
        return 1
    return 0


def _query(args: argparse.Namespace) -> int:
    """``similar``, ``tag-items`` and ``suggest-tags``: one query on a saved model."""
    import numpy as np

    from recsys_bench import embeddings

    saved = embeddings.pick_model(args.run, args.model, trial=args.trial,
                                  needs_tags=args.command != "similar")
    n = embeddings.check_count(args.n)
    print(saved.label)
    if args.command == "tag-items":
        feature = saved.find_tag(args.tag)
        carriers = int(np.count_nonzero(saved.item_tags.indices == feature))
        print(f"items closest to {saved.feature_names[feature]} (carried by {carriers} items)")
        print(embeddings.format_hits(saved.items_for_tag(feature, n)))
        return 0
    index = saved.find_item(args.item)
    if args.command == "similar":
        print(f"items most similar to {embeddings.describe(saved, index)} (the first is the "
              "item itself)")
        print(embeddings.format_hits(saved.similar(index, n)))
    else:
        min_items = embeddings.check_count(args.min_items, "--min-items")
        among = "" if min_items == 1 else f" (among tags on at least {min_items} items)"
        print(f"tags suggested for {embeddings.describe(saved, index)}{among}")
        print(embeddings.format_tag_hits(saved.tags_for_item(index, n, min_items)))
    return 0


def _option(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` of ``--option`` (see :func:`recsys_bench.experiment.schema.option`)."""
    from recsys_bench.experiment.schema import option

    return option(text)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``recsys-bench`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "datasets":
            return _datasets(args)
        if args.command == "models":
            return _models(args)
        if args.command == "run":
            from recsys_bench.experiment import runner

            run_dir = runner.run(args.config, args.out, quiet=args.quiet, workers=args.workers,
                                 retry_failed=args.retry_failed, executor=args.executor,
                                 scheduler=args.scheduler, memory_budget=args.memory_budget)
            _report_after(run_dir, args.quiet)
            return _run_status(run_dir)
        if args.command == "search":
            from recsys_bench.analysis.gallery import write_gallery
            from recsys_bench.analysis.search_report import write_search_report
            from recsys_bench.experiment.search import run_search

            out = run_search(args.config, args.out, args.trials, quiet=args.quiet,
                             grid_run=args.grid_run, executor=args.executor,
                             scheduler=args.scheduler, parallel=args.parallel,
                             memory_budget=args.memory_budget)
            write_gallery(out)
            path = write_search_report(out, grid_run=args.grid_run)
            print(path if args.quiet else f"report: {path}", flush=True)
            return 0
        if args.command in ("similar", "tag-items", "suggest-tags"):
            return _query(args)
        if args.command == "report":
            from recsys_bench.analysis import report

            print(report.write_report(args.run_dir))
            return 0
        if args.command == "reconcile":
            from pathlib import Path

            from recsys_bench.analysis.reconcile import write_reconciliation

            print(write_reconciliation(Path(args.run_dir), presets=args.preset,
                                       rescore=args.rescore, out=args.out and Path(args.out)))
            return 0
        if args.command == "compare":
            from recsys_bench.analysis.compare import compare_runs

            result = compare_runs(args.run_a, args.run_b, threshold=args.threshold,
                                  min_seconds=args.min_seconds, max_spread=args.max_spread)
            print(result.to_json() if args.json else result.to_text())
            if args.board != "none":
                from recsys_bench.analysis.board import write_board

                out = args.board or f"{args.run_b}/compare-board"
                page = write_board([args.run_a, args.run_b], out, comparisons=[result])
                print(f"comparison chart: {page}", file=sys.stderr)
            return 1 if result.regressed else 0
        if args.command == "board":
            from recsys_bench.analysis.board import write_board

            print(write_board(args.run_dirs, args.out, asv_dir=args.asv, lib_dir=args.lib_dir))
            return 0
    except UserError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        sys.stderr.close()
        return 0
    except OSError as error:
        line = os_error_line(error)
        if line is None:
            raise
        print(f"{PROG}: error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    raise AssertionError(f"unhandled command {args.command!r}")


if __name__ == "__main__":
    sys.exit(main())
