// Origin and edges over a real nats-server (Debian's), as real processes: two edges serve viewers of one
// origin (frames, v2 protocol, snapshot, MJPEG, metrics), the origin renders only while the session has
// viewers, one controller for the whole session across edges, and many sessions listed and routed.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { NatsBroker, VkcastProcess } from "./helpers/cluster.ts";
import { parsePrometheus } from "./helpers/prometheus.ts";
import { Viewer, wsUrl } from "./helpers/viewer.ts";
import { waitForAsync } from "./helpers/wait.ts";

let broker: NatsBroker;
beforeAll(async () => {
  broker = await NatsBroker.start();
});
afterAll(async () => {
  await broker.stop();
});

const SMALL = ["--source", "synthetic", "--width", "320", "--height", "180"];
type Sessions = { edge: string; sessions: { name: string; width: number; height: number; device: string; viewers: number; here: number }[] };
type Stats = Record<string, number>;
const pointer = (x: number) => ({ type: "pointer_move", x, y: 10, button: 0, buttons: [], modifiers: [] });

async function stopAll(...processes: VkcastProcess[]): Promise<void> {
  await Promise.all(processes.map((p) => p.stop("SIGKILL")));
}

describe("origin and two edges", () => {
  test("two edges serve viewers of one origin, which renders only while the session has viewers", async () => {
    const origin = await VkcastProcess.start([...SMALL, "--nats", broker.url(), "--session", "demo"]);
    const edges = await Promise.all([0, 1].map(() => VkcastProcess.start(["--edge", "--nats", broker.url()])));
    try {
      for (const edge of edges) {
        await waitForAsync(async () => (await edge.json<Sessions>("api/sessions")).sessions.some((s) => s.name === "demo"), 5000, "the session listed");
      }
      const listed = (await edges[0]!.json<Sessions>("api/sessions")).sessions[0]!;
      expect(listed).toMatchObject({ name: "demo", width: 320, height: 180, device: "synthetic (CPU)", viewers: 0, here: 0 });
      // Both edges know the session, nobody watches: the origin has rendered nothing.
      expect((await origin.json<Stats>("api/stats")).framesPushed).toBe(0);

      const viewers = edges.flatMap((edge) => [0, 1, 2].map(() => new Viewer(wsUrl(edge.url, "s/demo/ws?v=2"))));
      await Promise.all(viewers.map((v) => v.opened));
      for (const v of viewers) {
        await v.until(() => v.frames.length >= 10, 15000, "10 frames at each viewer of each edge");
        const seqs = v.frames.map((f) => f.meta!.seq!);
        expect(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!)).toBe(true);
        expect(v.frames.at(-1)!.meta).toMatchObject({ w: 320, h: 180 });
        expect(v.texts[0]).toMatchObject({ type: "hello", protocol: 2, width: 320, height: 180, fps: 30 });
      }
      // The origin counts the whole session's viewers; each edge its own.
      await waitForAsync(async () => (await origin.json<Stats>("api/config")).viewers === 6, 5000, "6 viewers at the origin");
      const edgeStats = await edges[0]!.json<Stats>("s/demo/api/stats");
      expect(edgeStats.viewers).toBe(3);
      expect(edgeStats.framesEncoded).toBe(0); // an edge encodes nothing
      expect(edgeStats.framesPublished).toBeGreaterThan(0);
      // Snapshot, MJPEG and metrics at an edge.
      const snapshot = await fetch(edges[1]!.at("s/demo/frame.jpg"));
      expect(snapshot.status).toBe(200);
      expect(snapshot.headers.get("content-type")).toBe("image/jpeg");
      const jpeg = new Uint8Array(await snapshot.arrayBuffer());
      expect([jpeg[0], jpeg[1], jpeg.at(-2), jpeg.at(-1)]).toEqual([0xff, 0xd8, 0xff, 0xd9]);
      const mjpeg = await fetch(edges[1]!.at("s/demo/stream.mjpeg"));
      const reader = mjpeg.body!.getReader();
      let got = 0;
      while (got < 40_000) got += (await reader.read()).value?.byteLength ?? 0;
      await reader.cancel();
      const metrics = parsePrometheus(await (await fetch(edges[0]!.at("metrics"))).text());
      expect(metrics.get('vkcast_viewers{stream="demo"}')).toBe(3);

      for (const v of viewers) v.close();
      await waitForAsync(async () => (await origin.json<Stats>("api/config")).viewers === 0, 5000, "the viewers gone at the origin");
      // Nobody left anywhere: rendering stops (the count stays put across a few frame intervals).
      await waitForAsync(
        async () => {
          const before = (await origin.json<Stats>("api/stats")).framesPushed;
          await Bun.sleep(300);
          return (await origin.json<Stats>("api/stats")).framesPushed === before;
        },
        5000,
        "the origin to stop rendering",
      );
    } finally {
      await stopAll(origin, ...edges);
    }
  }, 60000);

  test("one controller for the whole session across edges: presence, request, grant and hand-over through edges", async () => {
    const token = "control-token-123";
    const viewToken = "view-token-4567";
    const session = ["--session", "ctl", "--control", "one", "--token", token, "--view-token", viewToken];
    const origin = await VkcastProcess.start([...SMALL, "--nats", broker.url(), ...session]);
    const [e1, e2] = await Promise.all([0, 1].map(() => VkcastProcess.start(["--edge", "--nats", broker.url(), "--session", "ctl"])));
    const auth = { Authorization: `Bearer ${token}` };
    try {
      for (const edge of [e1!, e2!]) {
        await waitForAsync(async () => (await fetch(edge.at("s/ctl/api/config"), { headers: auth })).status === 200, 5000, "the session's token known");
      }
      const originStats = () => origin.json<Stats>("api/stats", auth);
      const edgeStats = (edge: VkcastProcess) => edge.json<Stats>("s/ctl/api/stats", auth);
      const last = (v: Viewer, type: string) => [...v.texts].reverse().find((t) => t.type === type);
      const role = (v: Viewer) => [...v.texts].reverse().find((t) => t.type === "config" || t.type === "hello")?.role;
      const you = (v: Viewer) => last(v, "presence")?.you as number | undefined;

      // A view-link holder first: it never controls, and does not block the next one.
      const watcher = await Viewer.connect(wsUrl(e1!.url, `s/ctl/ws?v=2&token=${viewToken}`));
      const a = await Viewer.connect(wsUrl(e2!.url, `s/ctl/ws?v=2&token=${token}`));
      await a.until(() => role(a) === "control", 5000, "A (edge 2) given control by the origin");
      const b = await Viewer.connect(wsUrl(e1!.url, `s/ctl/ws?v=2&token=${token}`));
      // Presence is the session's, whatever the edge: all three, A driving.
      await b.until(() => (last(b, "presence")?.total as number) === 3 && you(b) !== undefined, 5000, "B's presence of the whole session");
      await a.until(() => (last(a, "presence")?.total as number) === 3, 5000, "A's presence of the whole session");
      expect(last(b, "presence")).toMatchObject({ controller: you(a), total: 3 });
      expect((last(b, "presence")!.viewers as { id: number; viewOnly?: true }[]).find((v) => v.id === you(watcher))?.viewOnly).toBe(true);
      expect(role(b)).toBe("view");

      // B's input stops at its edge or at the origin; A's reaches the engine.
      const denied = async () => (await originStats()).inputDenied + (await edgeStats(e1!)).inputDenied;
      const deniedBefore = await denied();
      const acceptedBefore = (await originStats()).inputAccepted;
      for (let x = 0; x < 5; x++) b.send(pointer(x));
      await waitForAsync(async () => (await denied()) - deniedBefore >= 5, 5000, "B's 5 events denied");
      for (let x = 0; x < 7; x++) a.send(pointer(x));
      await waitForAsync(async () => (await originStats()).inputAccepted - acceptedBefore >= 7, 5000, "A's 7 events accepted at the origin");
      expect((await originStats()).inputAccepted - acceptedBefore).toBe(7);

      // A grant from one who does not drive is refused, and B is told why.
      b.send({ type: "control", action: "grant", to: you(b) });
      await b.until(() => last(b, "error") !== undefined, 5000, "the refusal of B's grant");
      // B asks (edge 1); A, the controller (edge 2), is asked and grants: B drives, A watches.
      b.send({ type: "control", action: "request" });
      await a.until(() => last(a, "control")?.from === you(b), 5000, "A asked by B");
      a.send({ type: "control", action: "grant", to: you(b) });
      await b.until(() => role(b) === "control", 5000, "B given control");
      await a.until(() => role(a) === "view", 5000, "A back to watching");
      for (let x = 0; x < 3; x++) b.send(pointer(x));
      await waitForAsync(async () => (await originStats()).inputAccepted - acceptedBefore >= 10, 5000, "B's events accepted");
      // B leaves: control passes to the longest connected viewer that may drive (A), never to the watcher.
      b.close();
      await a.until(() => role(a) === "control", 5000, "A given control when B left");
      expect(role(watcher)).toBe("view");
      watcher.close();
      a.close();
    } finally {
      await stopAll(origin, e1!, e2!);
    }
  }, 60000);
});

describe("many sessions behind one address", () => {
  test("an edge without --session lists every live session at / and routes /s/NAME/; tokens are per session", async () => {
    const tokens = { alpha: "alpha-token-0001", beta: "beta-token-00002" };
    const alpha = await VkcastProcess.start([...SMALL, "--nats", broker.url(), "--session", "alpha", "--token", tokens.alpha]);
    const beta = await VkcastProcess.start(["--source", "synthetic", "--width", "160", "--height", "90", "--nats", broker.url(), "--session", "beta", "--token", tokens.beta]);
    const edge = await VkcastProcess.start(["--edge", "--nats", broker.url()]);
    try {
      const names = async () => (await edge.json<Sessions>("api/sessions")).sessions.map((s) => s.name);
      await waitForAsync(async () => (await names()).join() === "alpha,beta", 5000, "both sessions listed");
      const sessions = (await edge.json<Sessions>("api/sessions")).sessions;
      expect(sessions.map((s) => [s.name, s.width, s.height, s.device])).toEqual([
        ["alpha", 320, 180, "synthetic (CPU)"],
        ["beta", 160, 90, "synthetic (CPU)"],
      ]);
      const page = await (await fetch(edge.url)).text();
      expect(page).toContain('<a href="/s/alpha/">alpha</a>');
      expect(page).toContain('<a href="/s/beta/">beta</a>');

      const get = (path: string, token: string) => fetch(edge.at(path), { headers: { Authorization: `Bearer ${token}` } });
      expect((await get("s/alpha/api/config", tokens.alpha)).status).toBe(200);
      expect((await get("s/beta/api/config", tokens.beta)).status).toBe(200);
      expect((await get("s/alpha/api/config", tokens.beta)).status).toBe(401);
      expect((await get("s/beta/frame.jpg", tokens.alpha)).status).toBe(401);
      expect((await fetch(edge.at("s/beta/ws"), { headers: { Upgrade: "websocket" } })).status).toBe(401);
      expect((await get("s/gamma/api/config", tokens.alpha)).status).toBe(404);
      const betaFrame = await get("s/beta/frame.jpg", tokens.beta);
      expect(betaFrame.status).toBe(200);
      // The page's ?token= becomes a cookie for that session's paths only.
      const visit = await fetch(edge.at(`s/alpha/?token=${tokens.alpha}`), { redirect: "manual" });
      expect(visit.status).toBe(302);
      expect(visit.headers.get("set-cookie")).toContain("Path=/s/alpha/");
      const viewer = await Viewer.connect(wsUrl(edge.url, `s/beta/ws?v=2&token=${tokens.beta}`));
      await viewer.until(() => viewer.frames.length > 2, 10000, "beta's frames");
      expect(viewer.frames.at(-1)!.meta).toMatchObject({ w: 160, h: 90 });
      viewer.close();

      // An origin that stops leaves the list within 5 s.
      const stoppedAt = Date.now();
      expect(await beta.stop("SIGTERM")).toBe(0);
      await waitForAsync(async () => (await names()).join() === "alpha", 5000, "beta to leave the list");
      expect(Date.now() - stoppedAt).toBeLessThan(5000);
    } finally {
      await stopAll(alpha, beta, edge);
    }
  }, 60000);
});
