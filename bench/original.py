"""The original StreamingServer (unchanged, from the folder in $VKCAST_ORIGINAL) driven like its run_seed.py,
with bench-only options. The original is not part of this repository: bench/servers.ts finds it and sets the variable.

usage: VKCAST_ORIGINAL=DIR /usr/bin/python3 bench/original.py PORT WIDTH HEIGHT PUSH_FPS QUALITY SERVER_FPS
           [--frame-file PATH | --ring-file PATH] [--stamp] [--when-watched] [--count-file PATH]
       VKCAST_ORIGINAL=DIR /usr/bin/python3 bench/original.py --encode FILE WIDTH HEIGHT COUNT QUALITY ITERATIONS

Without options this is run_seed.py's loop: the same ring of 30 precomputed frames pushed at PUSH_FPS.
  --frame-file PATH  push this one RGBA frame (WIDTH*HEIGHT*4 raw bytes) over and over: a static scene,
                     the same picture the vkcast side is fed.
  --ring-file PATH   push the frames of this file (N RGBA frames one after the other) with the scene on the
                     wall clock, as bench/library-server.ts --ring-file does: each push, in the middle of a
                     frame slot, is frame floor(t_ms * PUSH_FPS / 1000) % N of its push time t_ms, so a viewer
                     knows from a frame's capture time (--stamp) which frame it was.
  --stamp            write the push time of each frame into a JPEG COM segment right after SOI, in the
                     JSON form vkcast uses ({"t": ms since the epoch}), so the viewer process measures
                     capture->receive latency the same way for both servers. The server's code is not
                     changed: its _encode_jpeg is wrapped on this instance, and each pushed frame is a
                     zero-copy numpy view that carries its push time. Cost: one ~200 KB bytes join per frame.
  --when-watched     push only while has_clients() is true, as vkcast's engine loop does (run_seed.py pushes
                     regardless, and the server encodes what it is given whether or not anyone watches).
  --count-file PATH  keep the number of frames the server encoded in PATH (rewritten after each encode).
--encode times the original's JPEG encode (_encode_jpeg: Pillow, drop alpha, quality Q) on COUNT raw RGBA
frames read from FILE and prints JSON {"ms": [...], "bytes": N}.
"""
import json
import os
import sys
import time
import logging

import numpy as np

if not os.environ.get("VKCAST_ORIGINAL"):
    sys.exit("bench/original.py: set VKCAST_ORIGINAL to the original's folder (simvx_streaming_server.py)")
sys.path.insert(0, os.environ["VKCAST_ORIGINAL"])
from simvx_streaming_server import StreamingServer  # noqa: E402


class Stamped(np.ndarray):
    """A view of a ring frame that remembers when it was pushed."""
    t = None


def with_com(jpeg: bytes, meta: dict) -> bytes:
    payload = json.dumps(meta, separators=(",", ":")).encode()
    n = len(payload) + 2
    return b"".join((jpeg[:2], b"\xff\xfe", bytes((n >> 8, n & 255)), payload, jpeg[2:]))


def encode_bench(argv):
    path, w, h, count, quality, iterations = argv[0], int(argv[1]), int(argv[2]), int(argv[3]), int(argv[4]), int(argv[5])
    raw = np.fromfile(path, dtype=np.uint8)
    frames = raw.reshape(count, h, w, 4)
    srv = StreamingServer(quality=quality)
    srv._encode_jpeg(frames[0])  # warm-up, as the TS side does
    ms = []
    size = 0
    for i in range(iterations):
        t0 = time.perf_counter()
        jpeg = srv._encode_jpeg(frames[i % count])
        ms.append((time.perf_counter() - t0) * 1000)
        size = len(jpeg)
    print(json.dumps({"ms": ms, "bytes": size}))


def serve(argv):
    args = [a for a in argv if not a.startswith("--")]
    port, w, h, push_fps = int(args[0]), int(args[1]), int(args[2]), float(args[3])
    quality = int(args[4]) if len(args) > 4 else 85
    server_fps = int(args[5]) if len(args) > 5 else 30
    stamp = "--stamp" in argv
    when_watched = "--when-watched" in argv
    frame_file = argv[argv.index("--frame-file") + 1] if "--frame-file" in argv else None
    ring_file = argv[argv.index("--ring-file") + 1] if "--ring-file" in argv else None
    count_file = argv[argv.index("--count-file") + 1] if "--count-file" in argv else None
    logging.basicConfig(level=logging.WARNING)
    srv = StreamingServer(host="127.0.0.1", port=port, quality=quality, fps=server_fps)
    if stamp:
        encode = srv._encode_jpeg

        def stamped_encode(pixels):
            jpeg = encode(pixels)
            t = getattr(pixels, "t", None)
            return with_com(jpeg, {"t": t}) if t is not None else jpeg

        srv._encode_jpeg = stamped_encode
    if count_file:
        counted_encode = srv._encode_jpeg
        fd = os.open(count_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        encodes = [0]

        def counting_encode(pixels):
            jpeg = counted_encode(pixels)
            encodes[0] += 1
            os.pwrite(fd, str(encodes[0]).encode().ljust(20), 0)
            return jpeg

        srv._encode_jpeg = counting_encode
    srv.start(w, h)
    if frame_file:
        ring = [np.fromfile(frame_file, dtype=np.uint8).reshape(h, w, 4)]
    elif ring_file:
        ring = list(np.fromfile(ring_file, dtype=np.uint8).reshape(-1, h, w, 4))
    else:
        # run_seed.py's ring, unchanged.
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        rng = np.random.default_rng(1)
        noise = rng.integers(0, 24, size=(h, w), dtype=np.uint8)
        frame = np.empty((h, w, 4), dtype=np.uint8)
        frame[..., 3] = 255
        ring = []
        for k in range(30):
            t = k / 30.0
            frame[..., 0] = ((np.sin(xx / 40 + t) * 0.5 + 0.5) * 200).astype(np.uint8) + noise
            frame[..., 1] = ((np.cos(yy / 30 - t) * 0.5 + 0.5) * 200).astype(np.uint8)
            frame[..., 2] = (((xx + yy + k * 4) % 256)).astype(np.uint8)
            ring.append(frame.copy())
    n = 0
    t0 = time.perf_counter()
    slot = 1000 / push_fps
    while True:
        now_ms = time.time() * 1000
        pixels = ring[int(now_ms // slot) % len(ring) if ring_file else n % len(ring)]
        if stamp:
            pixels = pixels.view(Stamped)
            pixels.t = now_ms
        if not when_watched or srv.has_clients():
            srv.push_frame(pixels)
        while srv._input_queue.qsize():
            srv._input_queue.get_nowait()
        n += 1
        if ring_file:
            # The middle of the next frame slot of the wall clock.
            now_ms = time.time() * 1000
            time.sleep(((now_ms // slot + 1.5) * slot - now_ms) / 1000)
            continue
        nxt = t0 + n / push_fps
        d = nxt - time.perf_counter()
        if d > 0:
            time.sleep(d)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--encode":
        encode_bench(sys.argv[2:])
    else:
        serve(sys.argv[1:])
