"""Warm start: workflow jobs forked from a server that has imported torch, transformers and the rest once.

Each workflow job is a Snakemake ``script:``, a fresh interpreter that spends about 9 CPU seconds importing before
its first training step (BENCHMARKS.md). With warm start on, :func:`subnets.job.start` does not import any of that
in the script's process (the *client*): it hands the job to a per-user, per-environment fork server and waits.

- **Client** (:func:`run_job`): connects to the server's unix socket, starting the server first when there is
  none (under a lock file, so that concurrent jobs start one server and the others wait for it). It sends its
  stdin/stdout/stderr (``socket.send_fds``), the script to run (``__real_file__``, Snakemake's temporary copy
  with its preamble, or else ``__file__``), the pickled ``snakemake`` object, ``sys.argv``, ``sys.path``, the
  working directory, the environment (``CUDA_VISIBLE_DEVICES``, thread counts...) and the umask. It then waits
  for the child's exit status and exits with it (a child killed by a signal kills the client with the same
  signal). SIGTERM, SIGINT, SIGHUP, SIGUSR1 and SIGUSR2 sent to the client are passed to the child through the
  server, so a training job's SIGTERM handler (:mod:`subnets.signals`) still saves its resume state.
- **Server** (:func:`serve`): imports :data:`PRELOAD` (import only: no tensor op, so neither CUDA nor torch's
  thread pools start; ``torch.cuda.is_available`` is asked through NVML, and a test fork checks that children
  may still use CUDA), freezes the garbage collector, and forks one child per request. The child takes over the
  client's descriptors, directory, environment, umask, argv and path, reseeds numpy's global generator, and
  runs the script as ``__main__`` with ``snakemake`` in its globals; :data:`IN_CHILD` tells ``start()`` there
  to run the job in that process. The child's exit status goes back to the client. A client that disappears
  gets its child a SIGTERM (SIGKILL 30 s later). The server exits after :data:`IDLE_SECONDS` without a job
  (``SUBNETS_WARM_IDLE`` seconds), when its sources change, and on SIGTERM (after its running children).
- **Never stale**: the socket is named by a key over the interpreter (``sys.executable``, version, flags), the
  module search path, the environment variables read at import time (``PYTHON*``, ``*_NUM_THREADS``,
  ``HF_*``, ``TORCH*``, ``LANG``...: jobs with other thread counts get a server of their own, so that BLAS and
  OpenMP start as they would in a fresh process), the versions of torch and transformers, the location and
  size/mtime of every preloaded package, and the size/mtime of every file of ``subnets``. A server refuses a
  request with another key, and leaves (stops listening) when its own sources change.
- **Fallback**: whatever goes wrong before the child starts (no usable runtime directory, a server that does
  not come up within :data:`START_SECONDS`, an object that cannot be pickled, ``start()`` called elsewhere than
  at the top of a script) leaves the job to run cold in its own process, as without warm start, and its log
  says why in one line. Once the child runs, the client never runs the job itself.
- **Switch**: ``SUBNETS_WARM_START=0`` / ``=1`` (wins), else the config's ``resources.warm_start`` (``auto``,
  true, false); ``auto`` is on, except under SLURM (``SLURM_JOB_ID``: each job on its own node would start a
  server of its own for one job).
- **Files**: only in one directory, ``$SUBNETS_WARM_DIR``, else ``$XDG_RUNTIME_DIR/subnets-warm``, else
  ``/tmp/subnets-$UID`` (mode 0700, checked like the GPU lock directory): ``KEY.sock``, ``KEY.lock`` (left
  behind, empty) and ``KEY.log`` (the server's output, removed when it exits normally).

What a warm child shares with its siblings, unlike a fresh process: modules imported once (their import-time
warnings appear in the server's log, not the job's), the hash seed (``PYTHONHASHSEED`` is part of the key), and
the resource limits and nice value of the server. A Snakemake ``benchmark:`` file of a warm job measures the
client only.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import pickle
import re
import selectors
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

from subnets.devices import open_lock_file, prepare_lock_dir

SWITCH_ENV = "SUBNETS_WARM_START"
DIR_ENV = "SUBNETS_WARM_DIR"
IDLE_ENV = "SUBNETS_WARM_IDLE"
PRELOAD_ENV = "SUBNETS_WARM_PRELOAD"  # comma-separated modules instead of PRELOAD (tests: a light server)
IDLE_SECONDS = 120.0
START_SECONDS = 180.0  # a job waits this long for a server's imports before it runs cold
KILL_GRACE_SECONDS = 30.0
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)
PRELOAD = (
    "torch", "numpy", "pandas", "transformers", "transformers.modeling_utils",
    "transformers.models.bert.modeling_bert", "transformers.models.t5.modeling_t5", "tokenizers",
    "safetensors.torch", "datasets", "accelerate", "seqeval.metrics", "matplotlib.pyplot", "seaborn",
    "snakemake.io", "snakemake.script", "subnets.job", "subnets.training", "subnets.imp", "subnets.tasks",
    "subnets.data", "subnets.masks", "subnets.theta0", "subnets.analysis", "subnets.plots",
)  # fmt: skip
_KEY_PACKAGES = sorted({name.split(".")[0] for name in PRELOAD})
_VERSIONED = ("torch", "transformers")
# Environment variables that libraries read when they are imported (or the interpreter at start-up).
_KEYED_ENV = re.compile(
    r"PYTHON|(OMP|MKL|OPENBLAS|GOTO|NUMEXPR)_|VECLIB_|KMP_|HF_|HUGGINGFACE_|TRANSFORMERS_|DATASETS_|TORCH|PYTORCH_|"
    r"ARROW_|MPL|LANG$|LC_|HOME$|XDG_CACHE_HOME$|LD_PRELOAD$|LD_LIBRARY_PATH$"
)
_OFF, _ON = ("0", "false", "no", "off"), ("1", "true", "yes", "on")

IN_CHILD = False  # True in a job forked by the server: start() runs the job in this process


# ------------------------------------------------------------------------------------------------ switch


def wanted(config) -> tuple[bool, str]:
    """Whether a job tries warm start (``SUBNETS_WARM_START``, else ``resources.warm_start``), and if not, why."""
    switch = os.environ.get(SWITCH_ENV, "").strip().lower()
    if switch in _OFF:
        return False, f"{SWITCH_ENV}={os.environ[SWITCH_ENV]}"
    if switch in _ON:
        return True, ""
    setting = ((config or {}).get("resources") or {}).get("warm_start", "auto")
    if setting is False:
        return False, "resources.warm_start is false"
    if setting is not True and "SLURM_JOB_ID" in os.environ:
        return False, f"off under SLURM unless resources.warm_start is true or {SWITCH_ENV}=1"
    return True, ""


def runtime_dir() -> Path:
    """The one directory warm start writes to (created with mode 0700; UnsafeLockDir when others control it)."""
    chosen = os.environ.get(DIR_ENV)
    if not chosen:
        runtime = os.environ.get("XDG_RUNTIME_DIR")
        chosen = f"{runtime}/subnets-warm" if runtime else f"/tmp/subnets-{os.getuid()}"
    return prepare_lock_dir(chosen, what="warm-start directory", env=DIR_ENV)


# -------------------------------------------------------------------------------------------------- key


def source_fingerprint(package_dir: str | os.PathLike) -> str:
    """A hash of the relative path, size and mtime of every file below ``package_dir`` (bytecode caches aside)."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(package_dir):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            path = os.path.join(root, name)
            info = os.stat(path)
            digest.update(f"{os.path.relpath(path, package_dir)}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def environment_key(path: list[str], env: dict[str, str] | None = None) -> str:
    """The key a server must have to run a job of this interpreter, search ``path``, environment (``env``, default
    ``os.environ``) and sources."""
    return hashlib.sha256(json.dumps(key_parts(path, env), sort_keys=True).encode()).hexdigest()[:24]


def key_parts(path: list[str], env: dict[str, str] | None = None) -> dict:
    """What :func:`environment_key` hashes."""
    from importlib import metadata, util

    packages = {}
    for name in _KEY_PACKAGES:
        spec = util.find_spec(name)
        if spec is None or not spec.origin:
            packages[name] = None
        elif name == "subnets":
            packages[name] = [spec.origin, source_fingerprint(os.path.dirname(spec.origin))]
        else:
            info = os.stat(spec.origin)
            packages[name] = [spec.origin, info.st_size, info.st_mtime_ns]
    versions = {}
    for name in _VERSIONED:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return {
        "python": [os.path.realpath(sys.executable), sys.version, subprocess._args_from_interpreter_flags()],
        "path": list(path),
        "env": sorted([k, v] for k, v in (os.environ if env is None else env).items() if _KEYED_ENV.match(k)),
        "packages": packages,
        "versions": versions,
    }


# --------------------------------------------------------------------------------------------- messages


def _send(sock: socket.socket, message: dict) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(struct.pack("!I", len(data)) + data)


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError("connection closed")
        data += chunk
    return bytes(data)


def _recv(sock: socket.socket) -> dict:
    (size,) = struct.unpack("!I", _recv_exactly(sock, 4))
    return pickle.loads(_recv_exactly(sock, size))


# ----------------------------------------------------------------------------------------------- client


class Unavailable(Exception):
    """No server could take the job; the message says why."""


def run_job(smk, script_globals: dict) -> str:
    """Run this job in a child of the warm server and exit with its status (never returning); or return why not,
    and the caller runs the job cold. ``script_globals``: the globals of the code that called ``start()``."""
    on, why = wanted(getattr(smk, "config", None))
    if not on:
        return why
    main = sys.modules.get("__main__")
    if main is None or script_globals is not vars(main) or script_globals.get("snakemake") is not smk:
        return "start() was not called at the top of a workflow script"
    script = script_globals.get("__real_file__") or script_globals.get("__file__")
    if not script or not os.path.isfile(script):
        return "the script's file is unknown"
    try:
        directory = runtime_dir()
        key = environment_key(sys.path[1:])
        umask = os.umask(0o077)
        os.umask(umask)
        request = {
            "key": key, "script": os.path.abspath(script), "smk": pickle.dumps(smk, protocol=pickle.HIGHEST_PROTOCOL),
            "argv": list(sys.argv), "path": list(sys.path), "cwd": os.getcwd(), "env": dict(os.environ),
            "umask": umask,
        }  # fmt: skip
    except Exception as error:  # noqa: BLE001 (any failure means a cold start)
        return f"{type(error).__name__}: {error}"
    lost = ""
    for _attempt in range(2):  # a server that was closing as we connected: once more, with a new one
        try:
            conn = _connect_or_start(directory, key)
        except Exception as error:  # noqa: BLE001 (Unavailable, an unsafe lock file, an OS error)
            return str(error)
        with conn:
            try:
                socket.send_fds(conn, [b"F"], [0, 1, 2])
                _send(conn, request)
                reply = _recv(conn)
            except (OSError, EOFError) as error:
                lost = f"{type(error).__name__}: {error}"
                continue
            if "refused" in reply:
                return f"the server refused the job: {reply['refused']}"
            _wait(conn, reply["pid"])
    return f"lost the connection to the server twice ({lost})"


def _connect(path: Path) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
        return sock
    except (FileNotFoundError, ConnectionRefusedError, BlockingIOError):  # none, a dead one's file, or busy
        sock.close()
        return None


def _connect_or_start(directory: Path, key: str) -> socket.socket:
    path = directory / f"{key}.sock"
    if len(os.fsencode(path)) > 107:  # sockaddr_un's limit
        raise Unavailable(f"the socket path {path} is too long; set {DIR_ENV} to a shorter directory")
    if (sock := _connect(path)) is not None:
        return sock
    deadline = time.monotonic() + START_SECONDS
    lock = open_lock_file(directory / f"{key}.lock")
    try:
        while True:  # another job may hold the lock while it starts the server: use that one when it is up
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if (sock := _connect(path)) is not None:
                    return sock
                if time.monotonic() > deadline:
                    raise Unavailable(f"no server came up within {START_SECONDS:.0f} s (another job starts it)") from None
                time.sleep(0.05)
        if (sock := _connect(path)) is not None:
            return sock
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # a dead server's socket file: nobody listens there
        log = directory / f"{key}.log"
        server = _spawn(directory, key, log)
        while (sock := _connect(path)) is None:
            if server.poll() is not None:
                raise Unavailable(f"the server exited with status {server.returncode} while starting; see {log}")
            if time.monotonic() > deadline:
                server.terminate()
                raise Unavailable(f"the server did not come up within {START_SECONDS:.0f} s; see {log}")
            time.sleep(0.05)
        return sock
    finally:
        os.close(lock)


def _spawn(directory: Path, key: str, log: Path) -> subprocess.Popen:
    """The server, in a session of its own (Snakemake's signals to the job's group do not reach it)."""
    code = "import sys; sys.path[:] = sys.argv[3:]; from subnets.warm import serve; serve(sys.argv[1], sys.argv[2])"
    command = [sys.executable, *subprocess._args_from_interpreter_flags(), "-c", code, str(directory), key]
    output = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        return subprocess.Popen(
            [*command, *sys.path[1:]], stdin=subprocess.DEVNULL, stdout=output, stderr=output, cwd=directory,
            start_new_session=True,
        )  # fmt: skip
    finally:
        os.close(output)


def _wait(conn: socket.socket, pid: int) -> None:
    """Pass signals on to the child until its exit status arrives; exit with it."""

    def forward(signum, frame):
        with contextlib.suppress(OSError):
            _send(conn, {"signal": signum})

    for signum in FORWARDED:
        signal.signal(signum, forward)
    try:
        status = _recv(conn)["status"]
    except (OSError, EOFError):
        print(f"warm start: lost the server; waiting for the job's process {pid} to end", file=sys.stderr)
        while _alive(pid):
            time.sleep(0.5)
        raise SystemExit(1) from None
    code = os.waitstatus_to_exitcode(status)
    if code < 0:  # killed by a signal: end the same way
        with contextlib.suppress(OSError, ValueError):  # SIGKILL and SIGSTOP keep their default anyway
            signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        code = 128 - code
    raise SystemExit(code)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


# ----------------------------------------------------------------------------------------------- server


def serve(directory: str, key: str) -> None:
    """Run the server for ``key`` (the client's; ``sys.path`` is already the client's) in ``directory``."""
    directory_path = Path(directory)
    path = list(sys.path)  # imports may add to sys.path (snakemake does): the key has the client's
    parts = key_parts(path)
    if environment_key(path) != key:
        print(f"warm start: this process's key is not {key} but that of {parts}", flush=True)
        raise SystemExit(3)
    started, before = time.monotonic(), dict(os.environ)
    set_here = "PYTORCH_NVML_BASED_CUDA_CHECK" not in os.environ
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")  # torch.cuda.is_available() without cuInit
    names = [n for n in os.environ.get(PRELOAD_ENV, ",".join(PRELOAD)).split(",") if n.strip()]
    for name in names:
        try:
            __import__(name.strip())
        except Exception as error:  # noqa: BLE001 (a module this environment lacks is imported by jobs, or not)
            print(f"warm start: could not preload {name}: {type(error).__name__}: {error}", flush=True)
    if set_here:
        del os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"]
    # What the imports did to the environment (sklearn's KMP_* defaults...): a child does it to the client's.
    changes = {k: v for k, v in os.environ.items() if before.get(k) != v} | {k: None for k in before if k not in os.environ}
    if environment_key(path, before) != key:
        after = key_parts(path, before)
        changed = {part: after[part] for part in after if after[part] != parts[part]}
        print(f"warm start: changed while importing: {changed}; not serving", flush=True)
        raise SystemExit(3)
    if not _children_may_use_cuda():
        print("warm start: CUDA was initialised by an import; a forked child could not use it", flush=True)
        raise SystemExit(4)
    import gc

    gc.freeze()  # children then leave the imported objects' pages alone (copy on write)
    print(f"warm start: server {os.getpid()} for {key} ready after {time.monotonic() - started:.1f} s", flush=True)
    clean = _Server(directory_path, key, path, before, changes).loop()
    if clean:
        with contextlib.suppress(FileNotFoundError):
            (directory_path / f"{key}.log").unlink()


def _children_may_use_cuda() -> bool:
    if "torch" not in sys.modules:
        return True
    torch = sys.modules["torch"]
    if torch.cuda.is_initialized():
        return False
    pid = os.fork()
    if pid == 0:
        os._exit(1 if torch.cuda._is_in_bad_fork() else 0)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


class _Server:
    def __init__(self, directory: Path, key: str, path: list[str], env: dict[str, str],
                 env_changes: dict[str, str | None]):  # fmt: skip
        self.search_path, self.env, self.env_changes = path, env, env_changes
        self.directory, self.key, self.path = directory, key, directory / f"{key}.sock"
        self.idle = float(os.environ.get(IDLE_ENV) or IDLE_SECONDS)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(self.path))
        os.chmod(self.path, 0o600)
        self.inode = os.stat(self.path).st_ino
        self.listener.listen(64)
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        self.selector.register(self.wake_r, selectors.EVENT_READ, "wake")
        self.children: dict[int, socket.socket | None] = {}  # pid -> its client's connection (None: gone)
        self.doomed: dict[int, float] = {}  # pid -> when to SIGKILL it (its client is gone)
        self.listening, self.last_active, self.checked = True, time.monotonic(), time.monotonic()
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        signal.signal(signal.SIGTERM, lambda signum, frame: self.stop_listening())

    def loop(self) -> bool:
        """Serve until idle (True), or until no longer listening and no child is left."""
        while True:
            for event, _mask in self.selector.select(timeout=1.0):
                if event.data == "accept":
                    self.accept()
                elif event.data == "wake":
                    with contextlib.suppress(BlockingIOError):
                        os.read(self.wake_r, 512)
                else:
                    self.from_client(event.fileobj, event.data)
            self.reap()
            now = time.monotonic()
            for pid, when in list(self.doomed.items()):
                if now >= when:
                    self.signal_child(pid, signal.SIGKILL)
            if self.children:
                self.last_active = now
            elif now - self.last_active > self.idle or not self.listening:
                self.stop_listening()
                return True
            if self.listening and now - self.checked > 10:
                self.checked = now
                if environment_key(self.search_path, self.env) != self.key:
                    print("warm start: sources changed; no new jobs", flush=True)
                    self.stop_listening()

    def stop_listening(self) -> None:
        if not self.listening:
            return
        self.listening = False
        with contextlib.suppress(OSError):
            if os.stat(self.path).st_ino == self.inode:
                self.path.unlink()  # first: a client then finds no socket rather than a refusing one
        self.selector.unregister(self.listener)
        self.listener.close()

    def accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        self.last_active = time.monotonic()
        fds: list[int] = []
        try:
            conn.settimeout(10)
            uid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[1]
            if uid != os.getuid():
                raise PermissionError(f"a client of user id {uid}")
            _, fds, _, _ = socket.recv_fds(conn, 1, 3)
            request = _recv(conn)
            if len(fds) != 3:
                raise ValueError(f"{len(fds)} descriptors instead of 3")
            if request["key"] != self.key or not self.listening:
                _send(conn, {"refused": "stale server (its environment or sources differ)"})
                raise ValueError("stale")
            try:
                smk = pickle.loads(request["smk"])
            except Exception as error:  # noqa: BLE001
                _send(conn, {"refused": f"the snakemake object cannot be unpickled here: {error}"})
                raise
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _become_job(self, conn, fds, request, smk)  # never returns
        except Exception:  # noqa: BLE001 (a broken request costs its client a cold start, not the server)
            conn.close()
            return
        finally:
            for fd in fds:
                os.close(fd)
        conn.settimeout(None)
        self.children[pid] = conn
        self.selector.register(conn, selectors.EVENT_READ, pid)
        try:
            _send(conn, {"pid": pid})
        except OSError:
            self.client_gone(pid)

    def from_client(self, conn: socket.socket, pid: int) -> None:
        try:
            message = _recv(conn)
        except (OSError, EOFError, pickle.UnpicklingError):
            message = None
        if message is not None:
            self.signal_child(pid, int(message["signal"]))
        else:
            self.client_gone(pid)

    def client_gone(self, pid: int) -> None:
        """Its job should end too: SIGTERM (a training job saves its resume state), SIGKILL after a grace."""
        self.drop(pid)
        self.signal_child(pid, signal.SIGTERM)
        self.doomed[pid] = time.monotonic() + KILL_GRACE_SECONDS

    def drop(self, pid: int) -> None:
        conn = self.children.get(pid)
        if conn is not None:
            self.selector.unregister(conn)
            conn.close()
            self.children[pid] = None

    def signal_child(self, pid: int, signum: int) -> None:
        if pid in self.children:  # not reaped yet: the pid is still the child's
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.children.get(pid)
            if conn is not None:
                with contextlib.suppress(OSError):
                    _send(conn, {"status": status})
                self.drop(pid)
            self.children.pop(pid, None)
            self.doomed.pop(pid, None)

    def close_in_child(self) -> None:
        signal.set_wakeup_fd(-1)
        for conn in self.children.values():
            if conn is not None:
                conn.close()
        self.selector.close()
        self.listener.close()
        os.close(self.wake_r)
        os.close(self.wake_w)


# ------------------------------------------------------------------------------------------------ child


def _become_job(server: _Server, conn: socket.socket, fds: list[int], request: dict, smk) -> None:
    """In the forked child: take over the client's process state, run the script, exit with its status."""
    global IN_CHILD
    code = 1
    try:
        server.close_in_child()
        conn.close()
        for signum in (signal.SIGTERM, signal.SIGCHLD, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        fds.clear()
        os.umask(request["umask"])
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        for name, value in server.env_changes.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        sys.argv[:], sys.path[:] = request["argv"], request["path"]
        _fresh_process_state()
        IN_CHILD = True
        code = _run_script(request["script"], smk)
    except BaseException:  # noqa: BLE001
        import traceback

        traceback.print_exc()
    finally:
        os._exit(code)


def _fresh_process_state() -> None:
    """What a fresh interpreter would have differently: standard streams on the client's descriptors, the
    temporary directory and import caches read anew, numpy's global generator seeded from the OS."""
    import importlib
    import io

    importlib.invalidate_caches()
    if "tempfile" in sys.modules:
        sys.modules["tempfile"].tempdir = None
    if "numpy.random" in sys.modules:
        sys.modules["numpy.random"].seed()
    streams = []
    for fd, old in enumerate((sys.stdin, sys.stdout, sys.stderr)):
        raw = io.FileIO(fd, "rb" if fd == 0 else "wb", closefd=False)
        buffered = io.BufferedReader(raw) if fd == 0 else io.BufferedWriter(raw)
        line = fd == 2 or os.isatty(fd)
        streams.append(io.TextIOWrapper(buffered, encoding=old.encoding, errors=old.errors, line_buffering=line,
                                        write_through=getattr(old, "write_through", False)))  # fmt: skip
    sys.stdin, sys.stdout, sys.stderr = streams
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = streams


def _run_script(script: str, smk) -> int:
    """Run ``script`` as ``__main__`` and end as the interpreter would: the exit code, or a signal."""
    import atexit
    import runpy
    import threading

    died_of = 0
    try:
        runpy.run_path(script, init_globals={"snakemake": smk}, run_name="__main__")
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 0 if stop.code is None else 1
        if not isinstance(stop.code, (int, type(None))):
            print(stop.code, file=sys.stderr)
    except BaseException as error:  # noqa: BLE001
        sys.excepthook(type(error), error, error.__traceback__)
        code, died_of = 1, signal.SIGINT if isinstance(error, KeyboardInterrupt) else 0
    with contextlib.suppress(Exception):
        threading._shutdown()  # wait for the job's non-daemon threads, as interpreter exit does
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    if died_of:
        signal.signal(died_of, signal.SIG_DFL)
        os.kill(os.getpid(), died_of)
    return code
