"""Starting the other workers of a run (``amalg run --workers W``).

The calling process resolves the run (tunes the teachers, claims the folder), then starts
W - 1 processes of ``python -m amalg.core.training.launch SPEC`` and joins them as rank 0.
SPEC holds the resolved run config, the folder and whether it resumes: the others build
the same run from it without tuning or claiming anything. The environment is torchrun's
(``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``), so ``torchrun -m amalg run``
reaches the same code. Each worker gets an equal share of the machine's cores
(``OMP_NUM_THREADS``) unless the caller set it: oversubscribed threads slow torch tenfold.

A watchdog follows the others: when one fails, its last words are printed, the rest are
stopped and the run exits with its status (the last finished period is saved).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from amalg.core.training.workers import Workers, WorkersError, join

__all__ = ["start_workers", "stop_workers", "worker_main"]

_children: list[tuple[int, subprocess.Popen[bytes], Path]] = []
_folders: list[Path] = []
_stopping = threading.Event()
Report = Callable[[str], None]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity where the platform has one (a
    container's or a job's share, which ``os.cpu_count`` does not see), else every core."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _threads(size: int) -> str:
    return str(max(1, usable_cores() // size))


def start_workers(
    size: int, spec: dict[str, Any], device: str = "cpu", on_failure: Report | None = None
) -> Workers:
    """Start workers 1..size-1 on ``spec`` and join them as worker 0 (``on_failure`` says
    that one failed; :func:`stop_workers` ends them and removes their spec and logs)."""
    port = _free_port()
    shared = {
        "WORLD_SIZE": str(size),
        "LOCAL_WORLD_SIZE": str(size),
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
    }
    folder = Path(tempfile.mkdtemp(prefix="amalg-workers-"))
    _folders.append(folder)
    spec_path = folder / "spec.json"
    spec_path.write_text(json.dumps(spec))
    threads = os.environ.get("OMP_NUM_THREADS") or _threads(size)
    children = []
    for rank in range(1, size):
        env = {**os.environ, **shared, "RANK": str(rank), "LOCAL_RANK": str(rank)}
        env["OMP_NUM_THREADS"] = threads
        log = folder / f"worker-{rank}.log"
        with log.open("w") as stderr:  # the child keeps its own handle
            process = subprocess.Popen(
                [sys.executable, "-m", "amalg.core.training.launch", str(spec_path)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                # Not in the terminal's process group: Ctrl-C is worker 0's to handle, and
                # stop_workers() ends the others.
                start_new_session=True,
            )
        children.append((rank, process, log))
    _children[:] = children
    _stopping.clear()
    os.environ.update({**shared, "RANK": "0", "LOCAL_RANK": "0"})
    if "OMP_NUM_THREADS" not in os.environ:
        import torch

        torch.set_num_threads(int(threads))
    threading.Thread(target=_watch, args=(children, on_failure), daemon=True).start()
    try:
        return join(device)
    except BaseException:
        stop_workers()
        raise


def stop_workers() -> None:
    """End the workers this process started (worker 0 stopping: done, failed or
    interrupted); those still running are terminated. Nothing to do without workers."""
    _stopping.set()
    for _, process, _ in _children:
        if process.poll() is None:
            process.terminate()
    for _, process, _ in _children:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
    _children.clear()
    for folder in _folders:
        shutil.rmtree(folder, ignore_errors=True)
    _folders.clear()


def _watch(
    children: list[tuple[int, subprocess.Popen[bytes], Path]], on_failure: Report | None
) -> None:
    """Follow the other workers; on a failure, stop them all and end this process (unless
    worker 0 is already stopping them)."""
    while not _stopping.is_set():
        for rank, process, log in children:
            code = process.poll()
            if code is None or code == 0 or _stopping.is_set():
                continue
            for _, other, _ in children:
                if other.poll() is None:
                    other.terminate()
            lines = [line for line in log.read_text().splitlines() if line.strip()]
            said = lines[-1] if lines else "no message"
            message = f"worker {rank} failed (exit {code}): {said}"
            for folder in _folders:
                shutil.rmtree(folder, ignore_errors=True)
            if on_failure is not None:
                on_failure(message)
            else:
                print(f"error: {message}", file=sys.stderr, flush=True)
            os._exit(code if 0 < code < 128 else 1)
        if all(process.poll() == 0 for _, process, _ in children):
            return
        time.sleep(0.2)


def worker_main(spec_path: str) -> int:
    """A worker other than 0: build the run of the spec and meta-train its share."""
    from amalg.core.device import worker_device
    from amalg.core.run_folder import RunFolder
    from amalg.core.training.build import build_run
    from amalg.core.training.run import execute

    spec = json.loads(Path(spec_path).read_text())
    size, rank = int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", "0"))
    device = worker_device(spec.get("device", "cpu"), size, rank)
    workers = join(device)
    if workers.main:
        raise WorkersError("worker 0 is the process that started the others")
    config, components = build_run(spec["values"], device=device)
    execute(config, components, RunFolder(spec["folder"]), resume=spec["resume"], workers=workers)
    return 0


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1]))
