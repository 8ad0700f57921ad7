"""The producer side of vkcast's ingest protocol (docs/ingest-protocol.md): the Unix socket with its
newline-delimited JSON, and the rings of frame slots in shared memory."""
from __future__ import annotations

import errno
import json
import mmap
import os
import socket
import threading

import numpy as np

VERSION = 1
MAX_LINE_BYTES = 1024 * 1024
BYTES_PER_PIXEL = {"rgba": 4, "bgra": 4, "rgb": 3}


class IngestError(RuntimeError):
    """vkcast refused the producer, or the connection broke."""


def row_stride(width: int, channels: int) -> int:
    """Bytes per row, rounded up to 64 so rows stay aligned for SIMD (as vkcast suggests)."""
    return (width * channels + 63) // 64 * 64


class Ring:
    """One ring of frame slots, mapped from the shared memory vkcast made (its path is /proc/<vkcast>/fd/N, a link
    to follow). The producer owns the free slots."""

    def __init__(self, info: dict):
        self.id = info["id"]
        self.slots = info["slots"]
        self.slot_bytes = info["slotBytes"]
        fd = os.open(info["path"], os.O_RDWR)
        try:
            self._map = mmap.mmap(fd, self.slots * self.slot_bytes, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)
        self.memory = np.frombuffer(self._map, dtype=np.uint8)
        self.free = set(range(self.slots))

    def fits(self, width: int, height: int, channels: int) -> bool:
        return row_stride(width, channels) * height <= self.slot_bytes

    def view(self, slot: int, width: int, height: int, channels: int) -> np.ndarray:
        """The slot as an (height, width, channels) array whose rows are `row_stride` bytes apart."""
        stride = row_stride(width, channels)
        start = slot * self.slot_bytes
        rows = self.memory[start : start + stride * height].reshape(height, stride)
        return rows[:, : width * channels].reshape(height, width, channels)

    def close(self) -> None:
        self.memory = None
        try:
            self._map.close()
        except BufferError:
            pass  # a view handed out is still alive: the mapping goes when it does


class Connection:
    """The socket to vkcast. Writes never block: what the socket cannot take now waits for the next send."""

    def __init__(self, path: str, timeout: float = 10.0):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(path)
        except PermissionError as err:
            self.sock.close()
            raise IngestError(
                f"permission denied connecting to {path}: the socket or its directory belongs to another user"
            ) from err
        except OSError as err:
            self.sock.close()
            raise IngestError(f"cannot connect to vkcast at {path}: {err.strerror or err}") from err
        self._pending = b""
        self._received = b""
        self._send_lock = threading.Lock()

    def send(self, message: dict) -> bool:
        """Queues one message and sends what the socket takes now; False once the connection is gone."""
        line = (json.dumps(message, separators=(",", ":")) + "\n").encode()
        with self._send_lock:
            self._pending += line
            return self._flush_locked()

    def flush(self) -> bool:
        with self._send_lock:
            return self._flush_locked()

    def _flush_locked(self) -> bool:
        while self._pending:
            try:
                sent = self.sock.send(self._pending, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return True
            except OSError:
                return False
            self._pending = self._pending[sent:]
        return True

    def receive(self) -> dict | None:
        """The next message (blocking), or None at the end of the connection."""
        while b"\n" not in self._received:
            if len(self._received) > MAX_LINE_BYTES:
                raise IngestError("vkcast sent a line longer than 1 MiB")
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise
            except OSError as err:
                if err.errno in (errno.ECONNRESET, errno.EBADF, errno.ENOTCONN):
                    return None
                raise
            if not chunk:
                return None
            self._received += chunk
        line, _, self._received = self._received.partition(b"\n")
        return json.loads(line)

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
