"""Warm start (subnets.warm): the protocol between a job's process and the fork server, its fallbacks, and a real
workflow script giving the same outputs warm and cold.

The protocol tests run small scripts shaped like Snakemake's (a preamble that unpickles ``snakemake``, then
``start(snakemake)``) against a light server (``SUBNETS_WARM_PRELOAD``: nothing heavy), each test with a
warm-start directory of its own; the servers are stopped at the end of each test.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from subnets import warm

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def warm_dir(monkeypatch):
    """A fresh warm-start directory (short: a socket path has at most 107 bytes) and a light, quick server;
    every server started there is stopped afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="sw", dir="/tmp"))
    monkeypatch.setenv(warm.DIR_ENV, str(directory))
    monkeypatch.setenv(warm.SWITCH_ENV, "1")
    monkeypatch.setenv(warm.PRELOAD_ENV, "subnets.job,subnets.signals")
    monkeypatch.setenv(warm.IDLE_ENV, "20")
    yield directory
    for pid in _servers(directory):
        os.kill(pid, signal.SIGTERM)
    subprocess.run(["rm", "-rf", str(directory)], check=False)


def _servers(directory: Path) -> list[int]:
    """Pids of the servers of ``directory`` (their command line names it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(b"from subnets.warm import serve" in arg for arg in argv) and os.fsencode(directory) in argv:
                found.append(int(entry.name))
    return found


def write_script(path: Path, body: str, config: dict | None = None) -> tuple[Path, Path]:
    """A script as Snakemake writes it: the preamble unpickles ``snakemake``; then ``start()`` and ``body``, which
    may use ``report(**values)`` to write what it saw to ``path``.json. Returns (script, log)."""
    log = path.with_suffix(".log")
    smk = SimpleNamespace(log=[str(log)], output=[str(path.with_suffix(".out"))], config=config or {},
                          wildcards={}, resources={}, threads=1)  # fmt: skip
    report = path.with_suffix(".json")
    source = f"""\
import pickle; snakemake = pickle.loads({pickle.dumps(smk)!r})
import json, os, sys, time
from subnets.job import start
job = start(snakemake)
from subnets import warm
def report(**values):
    values.update(pid=os.getpid(), ppid=os.getppid(), in_child=warm.IN_CHILD)
    with open({str(report)!r}, "w") as handle:
        json.dump(values, handle)
"""
    path.write_text(source + textwrap.dedent(body))
    return path, log


def run(script: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args, str(script)], capture_output=True, text=True, timeout=120, **kwargs)


def reported(script: Path) -> dict:
    return json.loads(script.with_suffix(".json").read_text())


# ------------------------------------------------------------------------------------------- the happy path


def test_job_runs_in_a_child_of_the_server_with_the_clients_state(warm_dir, tmp_path):
    body = """\
    report(cwd=os.getcwd(), mark=os.environ.get("WARM_TEST_MARK"), umask=os.umask(0), argv=sys.argv,
           stdout_is_client=os.path.samestat(os.fstat(1), os.stat({out!r})))
    print("to stdout")
    job.log("to the log")
    """.format(out=str(tmp_path / "stdout.txt"))
    script, log = write_script(tmp_path / "job.py", body)
    workdir = tmp_path / "work"
    workdir.mkdir()
    for round_ in range(2):  # the first starts the server, the second finds it
        with open(tmp_path / "stdout.txt", "w") as stdout:
            done = subprocess.run([sys.executable, "-X", "importtime", str(script)], stdout=stdout,
                                  stderr=subprocess.PIPE, text=True, cwd=workdir, timeout=120,
                                  env={**os.environ, "WARM_TEST_MARK": f"m{round_}"}, preexec_fn=lambda: os.umask(0o027))  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        seen = reported(script)
        assert seen["in_child"] and seen["cwd"] == str(workdir) and seen["mark"] == f"m{round_}"
        assert seen["umask"] == 0o027 and seen["argv"] == [str(script)] and seen["stdout_is_client"]
        assert (tmp_path / "stdout.txt").read_text() == "to stdout\n"
        lines = log.read_text().splitlines()
        assert lines[0] == f"warm start: process {seen['pid']}, forked from the warm-start server {seen['ppid']}"
        assert lines[1:] == ["to the log"]
        if round_ == 0:
            first_server = seen["ppid"]
        # the client imported nothing heavy (-X importtime lists the client's imports only)
        imported = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
        assert imported and not imported & {"torch", "transformers", "datasets", "numpy"}
    assert seen["ppid"] == first_server and _servers(warm_dir) == [first_server]
    assert sorted(p.suffix for p in warm_dir.iterdir()) == [".lock", ".log", ".sock"]
    assert all(p.stat().st_mode & 0o077 == 0 for p in [warm_dir, *warm_dir.iterdir()])


def test_concurrent_jobs_start_one_server(warm_dir, tmp_path):
    scripts = [write_script(tmp_path / f"job{i}.py", "report()\n")[0] for i in range(3)]
    clients = [subprocess.Popen([sys.executable, str(s)], stderr=subprocess.PIPE, text=True) for s in scripts]
    assert [c.wait(timeout=120) for c in clients] == [0, 0, 0], [c.stderr.read() for c in clients]
    seen = [reported(s) for s in scripts]
    assert all(s["in_child"] for s in seen) and len({s["ppid"] for s in seen}) == 1


# ----------------------------------------------------------------------------------- exit status and signals


@pytest.mark.parametrize(
    "body, expected, in_log",
    [
        ("sys.exit(7)\n", 7, None),
        ("raise ValueError('boom')\n", 1, "ValueError: boom"),
        ("os.kill(os.getpid(), 9)\n", -9, None),
        ("sys.exit('a message')\n", 1, "a message"),  # printed to sys.stderr: the log
    ],
)
def test_exit_status_is_the_childs(warm_dir, tmp_path, body, expected, in_log):
    script, log = write_script(tmp_path / "job.py", "report()\n" + body)
    done = run(script)
    assert reported(script)["in_child"]
    assert done.returncode == expected, done.stderr
    if in_log:
        assert in_log in log.read_text().splitlines()[-1]


SIGNAL_BODY = """\
from subnets.signals import sigterms_caught
with sigterms_caught() as received:
    report()
    while not received:
        time.sleep(0.02)
open(snakemake.output[0], "w").write(str(received))
sys.exit(128 + received[0])
"""


def _wait_for(path: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_sigterm_to_the_client_reaches_the_jobs_handler(warm_dir, tmp_path):
    script, _ = write_script(tmp_path / "job.py", SIGNAL_BODY)
    client = subprocess.Popen([sys.executable, str(script)], stderr=subprocess.PIPE, text=True)
    _wait_for(script.with_suffix(".json"))
    assert reported(script)["in_child"]
    client.send_signal(signal.SIGTERM)
    assert client.wait(timeout=60) == 128 + signal.SIGTERM, client.stderr.read()
    assert script.with_suffix(".out").read_text() == f"[{int(signal.SIGTERM)}]"


def test_a_killed_client_gets_its_job_a_sigterm(warm_dir, tmp_path):
    script, _ = write_script(tmp_path / "job.py", SIGNAL_BODY)
    client = subprocess.Popen([sys.executable, str(script)])
    _wait_for(script.with_suffix(".json"))
    client.kill()
    client.wait(timeout=60)
    _wait_for(script.with_suffix(".out"))
    assert script.with_suffix(".out").read_text() == f"[{int(signal.SIGTERM)}]"


# --------------------------------------------------------------------------------------- key and staleness


def test_key_follows_sources_and_import_time_environment(tmp_path, monkeypatch):
    package = tmp_path / "pkg"
    (package / "__pycache__").mkdir(parents=True)
    (package / "a.py").write_text("x = 1\n")
    before = warm.source_fingerprint(package)
    (package / "__pycache__" / "a.pyc").write_bytes(b"cache")
    assert warm.source_fingerprint(package) == before
    (package / "a.py").write_text("x = 22\n")
    assert warm.source_fingerprint(package) != before

    key = warm.environment_key(sys.path[1:])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")  # read when CUDA starts, in the child: not part of the key
    monkeypatch.setenv("WARM_TEST_UNRELATED", "1")
    assert warm.environment_key(sys.path[1:]) == key
    monkeypatch.setenv("OMP_NUM_THREADS", "17")  # read when OpenMP loads, in the server: part of it
    assert warm.environment_key(sys.path[1:]) != key
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert warm.environment_key([*sys.path[1:], "/elsewhere"]) != key


def test_a_server_refuses_a_request_with_another_key(warm_dir, tmp_path):
    script, _ = write_script(tmp_path / "job.py", "report()\n")
    assert run(script).returncode == 0 and reported(script)["in_child"]
    (sock,) = warm_dir.glob("*.sock")
    with socket.socket(socket.AF_UNIX) as conn:
        conn.connect(str(sock))
        socket.send_fds(conn, [b"F"], [0, 1, 2])
        warm._send(conn, {"key": "0" * 24, "script": str(script), "smk": b""})
        assert "stale" in warm._recv(conn)["refused"]


def test_a_server_stops_listening_when_idle(warm_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(warm.IDLE_ENV, "0.5")
    script, _ = write_script(tmp_path / "job.py", "report()\n")
    assert run(script).returncode == 0
    server = reported(script)["ppid"]
    deadline = time.monotonic() + 30
    while _servers(warm_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server not in _servers(warm_dir)
    assert [p.suffix for p in warm_dir.iterdir()] == [".lock"]  # socket and log removed


# ------------------------------------------------------------------------------------- cold, and saying why


def _cold(script: Path, log: Path, reason: str, **kwargs) -> None:
    done = run(script, **kwargs)
    assert done.returncode == 0, done.stderr
    assert not reported(script)["in_child"]
    lines = log.read_text().splitlines()
    assert lines[0].startswith("warm start not used (") and lines[0].endswith("): the job runs cold")
    assert reason in lines[0] and sum("warm start" in line for line in lines) == 1


def test_switched_off_the_job_runs_cold(tmp_path, monkeypatch):
    script, log = write_script(tmp_path / "job.py", "report()\n")
    monkeypatch.setenv(warm.SWITCH_ENV, "0")
    _cold(script, log, "SUBNETS_WARM_START=0")


def test_switch_config_and_slurm(monkeypatch):
    monkeypatch.delenv(warm.SWITCH_ENV, raising=False)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    assert warm.wanted({"resources": {}})[0] and warm.wanted(None)[0]
    assert not warm.wanted({"resources": {"warm_start": False}})[0]
    monkeypatch.setenv("SLURM_JOB_ID", "12")
    assert "SLURM" in warm.wanted({"resources": {"warm_start": "auto"}})[1]
    assert warm.wanted({"resources": {"warm_start": True}})[0]
    monkeypatch.setenv(warm.SWITCH_ENV, "1")
    assert warm.wanted({"resources": {"warm_start": False}})[0]  # the variable wins
    monkeypatch.setenv(warm.SWITCH_ENV, "off")
    assert not warm.wanted({"resources": {"warm_start": True}})[0]


def test_an_unsafe_directory_means_cold(warm_dir, tmp_path):
    warm_dir.chmod(0o777)
    script, log = write_script(tmp_path / "job.py", "report()\n")
    _cold(script, log, "writable by group or others")


def test_a_server_that_dies_at_start_means_cold(warm_dir, tmp_path, monkeypatch):
    (tmp_path / "warm_test_crash.py").write_text("import os\nos._exit(5)\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setenv(warm.PRELOAD_ENV, "warm_test_crash")
    script, log = write_script(tmp_path / "job.py", "report()\n")
    _cold(script, log, "the server exited with status 5 while starting")


def test_start_from_another_module_than_the_script_means_cold(warm_dir, tmp_path):
    """Warm start runs the ``__main__`` script again in the child: only when that script called start()."""
    (tmp_path / "warm_test_helper.py").write_text("from subnets.job import start\ndef begin(smk):\n    return start(smk)\n")
    script, log = write_script(tmp_path / "job.py", "report()\n")
    text = script.read_text().replace("job = start(snakemake)", "import warm_test_helper\njob = warm_test_helper.begin(snakemake)")
    script.write_text(text)
    _cold(script, log, "not called at the top of a workflow script")


# ------------------------------------------------------------------------------- a real script, both ways


def test_imp_round_gives_the_same_outputs_warm_and_cold(monkeypatch):
    """workflow/scripts/imp_round.py on a tiny BERT and NER set (benchmarks/startup.py's setup): the ticket is
    byte-identical and metrics.json equal but for the timing and where it ran."""
    spec = importlib.util.spec_from_file_location("startup_benchmark", REPO / "benchmarks" / "startup.py")
    startup = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(startup)
    work = Path(tempfile.mkdtemp(prefix="sw", dir="/tmp"))
    training = {**startup.TRAINING, "max_steps": 4, "eval_every": 2}
    try:
        model, data = startup._setup(work)
        cold = startup.run_job("imp_round", work, model, data, 0, warm=False, training=training)
        hot = startup.run_job("imp_round", work, model, data, 1, warm=True, training=training)
        assert hot["server"] and "forked from the warm-start server" in hot["log"]
        assert Path(cold["outputs"]["ticket"]).read_bytes() == Path(hot["outputs"]["ticket"]).read_bytes()
        metrics = [json.loads(Path(r["outputs"]["metrics"]).read_text()) for r in (cold, hot)]
        for m in metrics:
            del m["seconds"], m["runtime"]
        assert metrics[0] == metrics[1] and len(metrics[0]["eval_curve"]) == 2
    finally:
        for pid in _servers(work / "warm"):
            os.kill(pid, signal.SIGTERM)
        subprocess.run(["rm", "-rf", str(work)], check=False)
