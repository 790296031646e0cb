"""Where the wall time of a workflow run goes: per rule, the jobs' wall time, and for the training jobs the share
spent before training starts (process start-up, imports, loading) against the work itself.

    snakemake --cores 2 --configfile config/demo.yaml    # the run to analyse
    python benchmarks/demo_run.py                        # in the run's directory: the latest .snakemake/log/

Job wall times come from the timestamps Snakemake logs when a job starts and finishes (1 s resolution). The
training scripts record in metrics.json the seconds from the job's start in its own process to the end
(`seconds`: after the imports when cold, after the fork from the warm-start server when warm); the rest of a
job's wall time is start-up: Python, Snakemake's script wrapper, the hand-over to the warm-start server or the
imports.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from datetime import datetime
from pathlib import Path

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")


def job_times(log: Path) -> dict[int, tuple[str, float, float, list[str]]]:
    """jobid -> (rule, start, end, outputs), times in seconds since the epoch. The IMP rounds' per-level rules
    (imp_round_00, imp_round_25, ...) count as one rule, imp_round."""
    jobs, starts, stamp = {}, {}, None
    lines = log.read_text().splitlines()
    for i, line in enumerate(lines):
        match = STAMP.match(line.strip())
        if match:
            stamp = datetime.strptime(match.group(1), "%a %b %d %H:%M:%S %Y").timestamp()
            continue
        rule = re.match(r"^(?:local)?rule (\w+):", line)
        if rule and stamp is not None:
            outputs = []
            for follow in lines[i + 1 : i + 12]:
                listed = re.match(r"^\s+output: (.*)$", follow)
                if listed:
                    outputs = listed.group(1).split(", ")
                jobid = re.match(r"^\s+jobid: (\d+)", follow)
                if jobid:
                    starts[int(jobid.group(1))] = (re.sub(r"_\d+$", "", rule.group(1)), stamp, outputs)
                    break
        done = re.match(r"^Finished jobid: (\d+)", line)
        if done and stamp is not None and int(done.group(1)) in starts:
            name, start, outputs = starts[int(done.group(1))]
            jobs[int(done.group(1))] = (name, start, stamp, outputs)
    return jobs


def work_seconds(outputs: list[str]) -> float | None:
    """The seconds a training job's metrics.json records from its start in the job's own process (after the
    imports, or after the fork from the warm-start server) to the end; None for jobs without one."""
    for output in outputs:
        if output.endswith("metrics.json") and Path(output).is_file():
            seconds = json.loads(Path(output).read_text()).get("seconds")
            return None if seconds is None else float(seconds)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--log", help="a Snakemake log (default: the latest in .snakemake/log/)")
    args = parser.parse_args()
    log = Path(args.log) if args.log else sorted(Path(".snakemake/log").glob("*.snakemake.log"))[-1]
    jobs = job_times(log)
    if not jobs:
        raise SystemExit(f"{log}: no finished jobs found")
    first = min(start for _, start, _, _ in jobs.values())
    last = max(end for _, _, end, _ in jobs.values())
    per_rule = defaultdict(lambda: {"jobs": 0, "job_seconds": 0.0})
    training = defaultdict(lambda: {"jobs": 0, "job_seconds": 0.0, "work_seconds": 0.0})
    for name, start, end, outputs in jobs.values():
        per_rule[name]["jobs"] += 1
        per_rule[name]["job_seconds"] += end - start
        work = work_seconds(outputs)
        if work is not None:
            training[name]["jobs"] += 1
            training[name]["job_seconds"] += end - start
            training[name]["work_seconds"] += work
    for figures in training.values():
        # Log stamps have 1 s resolution: a job's start-up is its wall time less its work, summed over the rule.
        figures["startup_seconds_per_job"] = (figures["job_seconds"] - figures["work_seconds"]) / figures["jobs"]
    report = {
        "log": str(log),
        "wall_seconds": round(last - first),
        "jobs": len(jobs),
        "per_rule": {name: {k: round(v, 1) for k, v in figures.items()} for name, figures in sorted(per_rule.items())},
        "training_jobs": {name: {k: round(v, 2) for k, v in f.items()} for name, f in sorted(training.items())},
        "all_job_seconds": round(sum(f["job_seconds"] for f in per_rule.values())),
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
