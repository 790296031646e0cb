"""Where the wall time of a workflow run goes: per rule, the jobs' wall time, and for the training jobs the share
spent before training starts (process start-up, imports, loading) against the work itself.

    snakemake --cores 2 --configfile config/demo.yaml                # the run to analyse
    python benchmarks/demo_run.py --study demo                       # reads .snakemake/log/ (latest) and results/

Job wall times come from the timestamps Snakemake logs when a job starts and finishes (1 s resolution). The
training scripts record in metrics.json the seconds from after their imports to the end (`seconds`); the rest of
a job's wall time is start-up: Python, Snakemake's script wrapper, torch / transformers / datasets imports.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from datetime import datetime
from pathlib import Path

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")


def job_times(log: Path) -> dict[int, tuple[str, float, float]]:
    """jobid -> (rule, start, end) in seconds since the epoch."""
    jobs, starts, stamp = {}, {}, None
    lines = log.read_text().splitlines()
    for i, line in enumerate(lines):
        match = STAMP.match(line.strip())
        if match:
            stamp = datetime.strptime(match.group(1), "%a %b %d %H:%M:%S %Y").timestamp()
            continue
        rule = re.match(r"^(?:local)?rule (\w+):", line)
        if rule and stamp is not None:
            for follow in lines[i + 1 : i + 12]:
                jobid = re.match(r"^\s+jobid: (\d+)", follow)
                if jobid:
                    starts[int(jobid.group(1))] = (rule.group(1), stamp)
                    break
        done = re.match(r"^Finished jobid: (\d+)", line)
        if done and stamp is not None and int(done.group(1)) in starts:
            name, start = starts[int(done.group(1))]
            jobs[int(done.group(1))] = (name, start, stamp)
    return jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--study", default="demo")
    parser.add_argument("--log", help="a Snakemake log (default: the latest in .snakemake/log/)")
    args = parser.parse_args()
    log = Path(args.log) if args.log else sorted(Path(".snakemake/log").glob("*.snakemake.log"))[-1]
    jobs = job_times(log)
    if not jobs:
        raise SystemExit(f"{log}: no finished jobs found")
    first = min(start for _, start, _ in jobs.values())
    last = max(end for _, _, end in jobs.values())
    per_rule = defaultdict(lambda: [0, 0.0])
    for name, start, end in jobs.values():
        per_rule[name][0] += 1
        per_rule[name][1] += end - start

    work = defaultdict(float)
    results = Path("results") / args.study
    for pattern, rule in (("imp/**/metrics.json", "imp_round"), ("train/**/metrics.json", "train_subnetwork")):
        for path in results.glob(pattern):
            work[rule] += float(json.loads(path.read_text()).get("seconds", 0.0))
    training_wall = sum(per_rule[r][1] for r in work)
    report = {
        "log": str(log),
        "wall_seconds": round(last - first),
        "jobs": len(jobs),
        "per_rule": {name: {"jobs": n, "job_seconds": round(s)} for name, (n, s) in sorted(per_rule.items())},
        "training_jobs": {
            "job_seconds": round(training_wall),
            "work_seconds": round(sum(work.values())),
            "startup_share": round(1 - sum(work.values()) / training_wall, 3) if training_wall else None,
        },
        "all_job_seconds": round(sum(s for _, s in per_rule.values())),
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
