"""StreamingServer: the surface of SimVX's original StreamingServer, with vkcast doing the serving."""
from __future__ import annotations

import logging
import os
import queue
import shutil
import tempfile
import threading
import time

import numpy as np

from ._launch import Launched
from ._protocol import VERSION, Connection, IngestError, Ring, row_stride

log = logging.getLogger("vkcast")

__all__ = ["StreamingServer", "IngestError"]

_FORMATS = {4: "rgba", 3: "rgb"}
MAX_WIDTH, MAX_HEIGHT = 3840, 2160  # the largest frame vkcast streams
MAX_CLIPBOARD_CHARS = 65536  # as a viewer's paste
SLOTS = 4


class StreamingServer:
    """Launches vkcast (or attaches to a running one) and feeds it frames through shared memory.

    As the original: ``start(width, height)``, ``push_frame(pixels)``, ``has_clients()``, ``stop()``
    and ``_input_queue`` (a ``queue.Queue`` of viewer input event dicts).
    """

    def __init__(self, host: str = "0.0.0.0", port: int = 8080, quality: int = 85, fps: int = 30) -> None:
        self.host = host
        self.port = port
        self.quality = quality
        self.fps = fps
        self._input_queue: queue.Queue[dict] = queue.Queue(maxsize=256)
        self.url: str | None = None
        self.stream = "main"
        self.frames_dropped = 0
        self._size = (0, 0)
        self._socket_path: str | None = None
        self._launched: Launched | None = None
        self._private_dir: str | None = None
        self._conn: Connection | None = None
        self._ring: Ring | None = None
        self._rings: dict[int, Ring] = {}
        self._ring_asked = False
        self._lock = threading.Lock()
        self._acquired: dict[int, tuple[Ring, int, str]] = {}
        self._watching = False
        self._reader: threading.Thread | None = None
        self._error: str | None = None

    @classmethod
    def attach(cls, socket_path: str, width: int, height: int, stream: str = "main") -> "StreamingServer":
        """Feeds the stream `stream` of a vkcast already running with ``--source ipc:SOCKET_PATH``."""
        server = cls()
        server._socket_path = socket_path
        server.stream = stream
        server._connect(width, height)
        return server

    def start(self, width: int, height: int, timeout: float = 60.0) -> None:
        """Launches vkcast and returns once it listens; it exits when this process ends, even by SIGKILL."""
        if self._conn is not None:
            raise RuntimeError("StreamingServer is already started")
        self._private_dir = tempfile.mkdtemp(prefix="vkcast-")  # mode 0700
        self._socket_path = os.path.join(self._private_dir, "ingest.sock")
        args = ["--source", f"ipc:{self._socket_path}", "--exit-with-producer", "--width", str(width), "--height", str(height)]
        args += ["--host", self.host, "--port", str(self.port), "--quality", str(self.quality), "--fps", str(self.fps)]
        self._launched = Launched(args)
        try:
            self._launched.wait_for_socket(self._socket_path, timeout)
            self._connect(width, height)
        except BaseException:
            self.stop()
            raise
        log.info("Streaming server ready at %s", self.url)

    def _connect(self, width: int, height: int) -> None:
        conn = Connection(self._socket_path)
        # Four slots: two encoding, one waiting for an encoder, one for the engine to write the next frame into.
        hello = {"type": "hello", "version": VERSION, "stream": self.stream, "width": width, "height": height}
        hello.update(format="rgba", slots=SLOTS)
        try:
            conn.send(hello)
            welcome = conn.receive()
        except OSError as err:
            conn.close()
            raise IngestError(f"no answer from vkcast at {self._socket_path}: {err}") from err
        if welcome is None or welcome.get("type") != "welcome":
            conn.close()
            reason = welcome.get("reason") if welcome else "it closed the connection"
            raise IngestError(f"vkcast refused the producer: {reason}")
        conn.sock.settimeout(None)
        self._conn = conn
        self._size = (width, height)
        self.url = welcome["url"]
        self._watching = bool(welcome["watching"])
        self._map_ring(welcome["ring"])
        self._reader = threading.Thread(target=self._read, daemon=True, name="vkcast-reader")
        self._reader.start()

    def _map_ring(self, info: dict) -> None:
        ring = Ring(info)
        # Under the lock that frames are sent under: every frame after `mapped` names this ring.
        with self._lock:
            self._rings[ring.id] = ring
            self._conn.send({"type": "mapped", "ring": ring.id})
            self._ring = ring
            self._ring_asked = False
            self._retire_free_rings()

    def _retire_free_rings(self) -> None:
        for ring in [r for r in self._rings.values() if r is not self._ring and len(r.free) == r.slots]:
            del self._rings[ring.id]
            ring.close()

    def _read(self) -> None:
        """The reader thread: slot releases, new rings, watching changes and viewers' input."""
        conn = self._conn
        try:
            while True:
                msg = conn.receive()
                if msg is None:
                    break
                kind = msg.get("type")
                if kind == "release":
                    with self._lock:
                        ring = self._rings.get(msg["ring"])
                        if ring is not None:
                            ring.free.add(msg["slot"])
                            self._retire_free_rings()
                elif kind == "watching":
                    self._watching = bool(msg["value"])
                elif kind == "input":
                    try:
                        self._input_queue.put_nowait(msg["event"])
                    except queue.Full:
                        pass  # dropped, as the original drops input when its queue is full
                elif kind == "ring":
                    self._map_ring(msg["ring"])
                elif kind == "error":
                    self._error = msg.get("reason")
                    log.error("vkcast closed the connection: %s", self._error)
        except (OSError, ValueError, KeyError, IngestError) as err:
            log.error("connection to vkcast failed: %s", err)
            conn.close()  # nobody reads it any more: vkcast must not wait on it
        self._watching = False
        if self._conn is conn and self._error is None:
            log.warning("vkcast closed the connection")

    def has_clients(self) -> bool:
        """Whether anyone watches: skip rendering while this is False."""
        return self._watching

    def set_clipboard(self, text: str) -> None:
        """Puts text on the clipboard of the viewers that control the stream (their page copies it)."""
        if not isinstance(text, str) or len(text) > MAX_CLIPBOARD_CHARS:
            raise ValueError(f"clipboard text must be a str of at most {MAX_CLIPBOARD_CHARS} characters")
        conn = self._conn
        if conn is not None:
            conn.send({"type": "clipboard", "text": text})

    def push_frame(self, pixels: np.ndarray) -> None:
        """Offers one frame (HxWx4 RGBA or HxWx3 RGB, uint8, any strides); never blocks, drops when behind."""
        if pixels.ndim != 3 or pixels.shape[2] not in _FORMATS or pixels.dtype != np.uint8:
            raise ValueError(f"pixels must be an HxWx4 or HxWx3 uint8 array (got {pixels.dtype} {pixels.shape})")
        height, width, channels = pixels.shape
        taken = self._take_slot(width, height, channels)
        if taken is None:
            return
        ring, slot = taken
        np.copyto(ring.view(slot, width, height, channels), pixels)
        self._submit(ring, slot, width, height, channels)

    def acquire(self, width: int | None = None, height: int | None = None, channels: int = 4) -> np.ndarray | None:
        """Zero copy: a free slot as an HxWxC array to render into, then ``submit`` it; None when none is free."""
        if channels not in _FORMATS:
            raise ValueError("channels must be 4 (RGBA) or 3 (RGB)")
        width, height = width or self._size[0], height or self._size[1]
        taken = self._take_slot(width, height, channels)
        if taken is None:
            return None
        ring, slot = taken
        view = ring.view(slot, width, height, channels)
        with self._lock:
            self._acquired[view.__array_interface__["data"][0]] = (ring, slot)
        return view

    def submit(self, view: np.ndarray) -> None:
        """Hands a slot from ``acquire`` to vkcast."""
        with self._lock:
            taken = self._acquired.pop(view.__array_interface__["data"][0], None)
        if taken is None:
            raise ValueError("submit takes an array returned by acquire(), once")
        height, width, channels = view.shape
        self._submit(taken[0], taken[1], width, height, channels)

    def _take_slot(self, width: int, height: int, channels: int) -> tuple[Ring, int] | None:
        if not (0 < width <= MAX_WIDTH and 0 < height <= MAX_HEIGHT):
            raise ValueError(f"vkcast streams frames from 1x1 to {MAX_WIDTH}x{MAX_HEIGHT} (got {width}x{height})")
        conn = self._conn
        if conn is None or not conn.flush():
            self.frames_dropped += 1
            return None
        with self._lock:
            ring = self._ring
            if ring is None:
                return None
            if not ring.fits(width, height, channels):
                # A larger frame: ask for a larger ring and drop frames until it is mapped.
                if not self._ring_asked:
                    self._ring_asked = True
                    conn.send({"type": "ring", "width": width, "height": height, "format": "rgba", "slots": ring.slots})
                self.frames_dropped += 1
                return None
            if not ring.free:
                self.frames_dropped += 1  # the encoder is behind: drop, as the original does
                return None
            return ring, ring.free.pop()

    def _submit(self, ring: Ring, slot: int, width: int, height: int, channels: int) -> None:
        frame = {
            "type": "frame",
            "ring": ring.id,
            "slot": slot,
            "width": width,
            "height": height,
            "stride": row_stride(width, channels),
            "format": _FORMATS[channels],
            "t": time.time() * 1000.0,
            "dropped": self.frames_dropped,  # vkcast counts what its producers dropped
        }
        with self._lock:
            conn = self._conn
            if ring is not self._ring or conn is None:
                ring.free.add(slot)  # a new ring was mapped meanwhile: this frame names the old one
                self._retire_free_rings()
                self.frames_dropped += 1
            elif not conn.send(frame):
                self.frames_dropped += 1

    def stop(self) -> None:
        """Disconnects; a vkcast this started exits and frees its port before this returns."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
        if self._reader is not None:
            self._reader.join(timeout=5.0)
        if self._launched is not None:
            self._launched.stop()
            self._launched = None
        if self._private_dir is not None:
            shutil.rmtree(self._private_dir, ignore_errors=True)
            self._private_dir = None
        with self._lock:
            for ring in self._rings.values():
                ring.close()
            self._rings.clear()
            self._ring = None
        self._watching = False
        log.info("Streaming server stopped")
