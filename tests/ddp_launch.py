"""Running a test module's ``worker`` under torchrun: one launcher for the DDP suites."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_two_processes(script: str, *args: str, timeout_s: float) -> str:
    """Run ``script`` (a test module whose ``__main__`` calls its worker) on two local
    processes with torchrun on loopback; fail the test on a non-zero exit or a hang.
    Returns the combined output."""
    cmd = [
        sys.executable, "-m", "torch.distributed.run",
        "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
        "--master_port", str(_free_port()), script, *args,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    if sys.platform.startswith("linux"):
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")  # loopback: no network needed
    repo = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [repo, env.get("PYTHONPATH")]))
    # own session: on a timeout the whole tree (agent and workers) is killed
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        pytest.fail(f"torchrun did not finish in {timeout_s} s (a hang?):\n{output[-4000:]}")
    assert proc.returncode == 0, output[-6000:]
    return output


def leave_process_group() -> None:
    """End a worker: leave together and tear the group down before the interpreter does.

    Rank 0 hosts the store, and a group destroyed at interpreter exit while the other
    process still uses it can abort ("terminate called without an active exception",
    seen under load).
    """
    if torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
