"""`python -m engine recipe-search ...`: try transformer recipes, scored while they train (engine.bench.recipe_search;
its own options follow the command: data, train, probe)."""
from __future__ import annotations

import argparse


def register(sub):
    p = sub.add_parser("recipe-search", help="try a transformer recipe on a GPU or CPU, scored while it trains",
                       add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=run)


def run(args) -> int:
    from engine.bench.recipe_search import main  # deferred: loads torch; kept off the CLI's top (--help)

    return main(args.rest)
