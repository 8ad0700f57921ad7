"""Finding and launching the vkcast server for a producer, so that it never outlives the producer."""
from __future__ import annotations

import collections
import ctypes
import logging
import os
import shlex
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

log = logging.getLogger("vkcast")

PR_SET_PDEATHSIG = 1
_LEVELS = {"debug": logging.DEBUG, "warn": logging.WARNING, "error": logging.ERROR}
# clients/python/vkcast/_launch.py -> the repository root, when the package is used from a checkout.
_REPOSITORY = Path(__file__).resolve().parents[3]


def vkcast_command() -> list[str]:
    """VKCAST_BIN, then `vkcast` on PATH, then `bun run index.ts` of the repository this package sits in."""
    configured = os.environ.get("VKCAST_BIN")
    if configured:
        return shlex.split(configured)
    on_path = shutil.which("vkcast")
    if on_path:
        return [on_path]
    index = _REPOSITORY / "index.ts"
    bun = shutil.which("bun") or shutil.which("bun", path=str(Path.home() / ".local" / "bin"))
    if index.is_file() and bun:
        return [bun, "run", str(index)]
    raise FileNotFoundError(
        "cannot find vkcast: set VKCAST_BIN to its path, put `vkcast` on PATH, "
        "or use this package from a vkcast checkout with bun installed"
    )


def _die_with_parent(parent: int):
    """Runs in the child before exec: the kernel sends SIGTERM to vkcast when the engine dies, even by SIGKILL."""

    def preexec() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the engine died before prctl took effect
            os._exit(1)

    return preexec


class Launched:
    """A vkcast process started for this producer. Its output goes to the `vkcast` logger."""

    def __init__(self, args: list[str]):
        command = vkcast_command() + args
        # PDEATHSIG fires when the thread that forked exits, so it is armed only from the main thread;
        # the end of the socket (--exit-with-producer) stops vkcast in every case.
        main = threading.current_thread() is threading.main_thread()
        self.tail: collections.deque[str] = collections.deque(maxlen=20)
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent(os.getpid()) if main else None,
        )
        self._reader = threading.Thread(target=self._forward_output, daemon=True, name="vkcast-output")
        self._reader.start()

    def _forward_output(self) -> None:
        """vkcast's log lines start with their level ("info  ...", "warn  ...", "error ...")."""
        for raw in self.process.stdout:
            line = raw.decode(errors="replace").rstrip()
            self.tail.append(line)
            level = _LEVELS.get(line.split(" ", 1)[0], logging.INFO)
            log.log(level, "%s", line)

    def failure(self) -> str:
        time.sleep(0.1)  # let the last lines arrive
        return f"vkcast exited with code {self.process.returncode}: " + " | ".join(self.tail)

    def wait_for_socket(self, path: str, timeout: float) -> None:
        """Returns once something listens on `path`; raises RuntimeError if vkcast exits first."""
        import socket

        end = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(self.failure())
            if os.path.exists(path):
                probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    probe.connect(path)
                    return
                except OSError:
                    pass
                finally:
                    probe.close()
            if time.monotonic() > end:
                self.stop()
                raise RuntimeError(f"vkcast did not listen on {path} within {timeout:.0f} s")
            time.sleep(0.02)

    def stop(self, grace: float = 5.0) -> None:
        """Waits for vkcast to exit (it does once its producer disconnects), then makes sure it did."""
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            try:
                self.process.wait(timeout=3.0)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=1.0)
