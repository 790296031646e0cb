"""The ``subnets`` command: ``subnets plan --configfile config/config.yaml [--gpu h100 --share 0.4]`` lists every
job a study's config implies with its FLOPs and GPU-hours, without running anything (:mod:`subnets.plan`)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="subnets", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    plan = commands.add_parser("plan", help="estimate a study's jobs, FLOPs and GPU-hours from its config")
    from subnets import plan as planner

    planner.add_arguments(plan)
    args = parser.parse_args(argv)
    if args.command == "plan":
        return planner.run(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
