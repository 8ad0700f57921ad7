"""The Python producer of bench/ingest.ts, through the Python client (clients/python, module vkcast).

usage: python3 bench/ingest_producer.py loop PORT WIDTH HEIGHT PUSH_FPS QUALITY SERVER_FPS
       python3 bench/ingest_producer.py time SOCKET WIDTH HEIGHT N

loop: the original's own producer loop (../shared/baseline/run_seed.py) with its import changed
      (StreamingServer comes from vkcast, whose start() launches vkcast --source ipc on PORT) and its
      ring of frames computed before start(), so that frames flow as soon as the port answers.
time: attaches to a vkcast running with --source ipc:SOCKET, pushes N frames at 30 fps and prints
      {"us": [...], "dropped": D}: the time of each push_frame call that submitted its frame, in microseconds.
"""
import json
import logging
import sys
import time

import numpy as np
from vkcast import StreamingServer


def seed_ring(w, h, count):
    """run_seed.py's precomputed frames (the first `count` of its 30)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 24, size=(h, w), dtype=np.uint8)
    frame = np.empty((h, w, 4), dtype=np.uint8)
    frame[..., 3] = 255
    ring = []
    for k in range(count):
        t = k / 30.0
        frame[..., 0] = ((np.sin(xx / 40 + t) * 0.5 + 0.5) * 200).astype(np.uint8) + noise
        frame[..., 1] = ((np.cos(yy / 30 - t) * 0.5 + 0.5) * 200).astype(np.uint8)
        frame[..., 2] = (((xx + yy + k * 4) % 256)).astype(np.uint8)
        ring.append(frame.copy())
    return ring


def loop(argv):
    # run_seed.py's loop, unchanged but for the import above and the ring made before start().
    port, w, h, push_fps = int(argv[0]), int(argv[1]), int(argv[2]), float(argv[3])
    quality = int(argv[4]) if len(argv) > 4 else 85
    server_fps = int(argv[5]) if len(argv) > 5 else 30
    logging.basicConfig(level=logging.WARNING)
    ring = seed_ring(w, h, 30)
    srv = StreamingServer(host="127.0.0.1", port=port, quality=quality, fps=server_fps)
    srv.start(w, h)
    n = 0
    t0 = time.perf_counter()
    while True:
        srv.push_frame(ring[n % len(ring)])
        while srv._input_queue.qsize():
            srv._input_queue.get_nowait()
        n += 1
        nxt = t0 + n / push_fps
        d = nxt - time.perf_counter()
        if d > 0:
            time.sleep(d)


def time_pushes(argv):
    socket_path, w, h, count = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
    srv = StreamingServer.attach(socket_path, w, h)
    ring = seed_ring(w, h, 4)
    us, dropped, n = [], 0, 0
    t0 = time.perf_counter()
    while len(us) < count:
        before = srv.frames_dropped
        start = time.perf_counter()
        srv.push_frame(ring[n % len(ring)])
        took = time.perf_counter() - start
        if srv.frames_dropped == before:
            us.append(round(took * 1e6, 1))
        else:
            dropped += 1
        n += 1
        d = t0 + n / 30 - time.perf_counter()
        if d > 0:
            time.sleep(d)
    srv.stop()
    print(json.dumps({"us": us, "dropped": dropped}))


if __name__ == "__main__":
    {"loop": loop, "time": time_pushes}[sys.argv[1]](sys.argv[2:])
