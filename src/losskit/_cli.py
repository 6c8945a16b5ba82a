"""The ``losskit`` command: ``losskit demo``."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="losskit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="train one model on 1 process and on 4 torch.distributed ranks (or 8 JAX "
        "devices) and compare losskit's normalization with the naive ones",
    )
    demo.add_argument("--engine", choices=("torch", "jax"), default="torch")
    demo.add_argument(
        "--scenario",
        choices=("tagger", "rl"),
        default="tagger",
        help="tagger: the regularized token tagger; rl: a tiny policy trained with per-token "
        "losses in every aggregation mode, against the published frameworks' formulas",
    )
    demo.add_argument(
        "--png",
        default=None,
        help="where to write the plot (default: losskit-demo.png; losskit-demo-rl.png for rl)",
    )
    args = parser.parse_args(argv)
    if args.command == "demo":
        if args.scenario == "rl" and args.engine != "torch":
            demo.error("--scenario rl runs on --engine torch only")
        from losskit._demo import run
        from losskit.testing import ProcessFailure

        try:
            return run(engine=args.engine, png=args.png, scenario=args.scenario)
        except (ProcessFailure, RuntimeError, subprocess.TimeoutExpired) as failure:
            print(f"losskit demo failed: {failure}", file=sys.stderr)
            return 1
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
