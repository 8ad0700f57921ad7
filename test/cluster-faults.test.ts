// Faults of a cluster over a real nats-server, with real processes: the broker restarted, an edge
// killed, the origin killed and started again, an edge frozen (SIGSTOP) and thawed. Viewers keep their
// sockets throughout and frames resume by themselves.
import { afterEach, describe, expect, test } from "bun:test";
import { NatsBroker, VkcastProcess } from "./helpers/cluster.ts";
import { Viewer, wsUrl } from "./helpers/viewer.ts";
import { waitForAsync } from "./helpers/wait.ts";

const SMALL = ["--source", "synthetic", "--width", "320", "--height", "180"];
type Stats = Record<string, number>;
type Relay = { sessions: { name: string; relay: Record<string, number> }[] };

const running: (VkcastProcess | NatsBroker)[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => (p instanceof NatsBroker ? p.stop() : p.stop("SIGKILL"))));
});

/** A broker, an origin of session "demo" and `edges` edges serving it, one v2 viewer on each. */
async function cluster(edges: number) {
  const broker = await NatsBroker.start();
  running.push(broker);
  const origin = await VkcastProcess.start([...SMALL, "--nats", broker.url(), "--session", "demo", "--control", "all"]);
  running.push(origin);
  const edgeProcesses = await Promise.all(Array.from({ length: edges }, () => VkcastProcess.start(["--edge", "--nats", broker.url(), "--session", "demo"])));
  running.push(...edgeProcesses);
  // An edge lets viewers in once the origin has announced the session (and its tokens, if any).
  for (const e of edgeProcesses) await waitForAsync(async () => (await fetch(e.at("s/demo/healthz"))).status === 200, 5000, "the session up at the edge");
  const viewers = await Promise.all(edgeProcesses.map((e) => Viewer.connect(wsUrl(e.url, "s/demo/ws?v=2"))));
  for (const v of viewers) await v.until(() => v.frames.length >= 5, 15000, "frames before the fault");
  return { broker, origin, edges: edgeProcesses, viewers };
}

const lastConfig = (v: Viewer) => [...v.texts].reverse().find((t) => t.type === "config");
const growth = (v: Viewer, by: number, ms: number, what: string) => {
  const from = v.frames.length;
  return v.until(() => v.frames.length >= from + by, ms, what);
};

describe("faults", () => {
  test("a broker restart: origin and edges reconnect by themselves and frames resume within 5 s", async () => {
    const { broker, origin, edges, viewers } = await cluster(2);
    await broker.restart();
    const backAt = Date.now();
    for (const v of viewers) await growth(v, 5, 5000, "frames after the broker came back");
    expect(Date.now() - backAt).toBeLessThan(5000);
    for (const v of viewers) expect(v.open).toBe(true);
    // The control path works again too: a viewer's input through an edge is counted at the origin.
    const accepted = (await origin.json<Stats>("api/stats")).inputAccepted;
    await waitForAsync(
      async () => {
        viewers[1]!.send({ type: "pointer_move", x: 1, y: 1, button: 0, buttons: [], modifiers: [] });
        return (await origin.json<Stats>("api/stats")).inputAccepted > accepted;
      },
      5000,
      "input through an edge counted at the origin after the restart",
    );
    expect(edges.every((e) => e.proc.exitCode === null)).toBe(true);
  }, 60000);

  test("an edge killed: the other edge's viewers and the origin go on; its viewers leave the session", async () => {
    const { origin, edges, viewers } = await cluster(2);
    await waitForAsync(async () => (await origin.json<Stats>("api/config")).viewers === 2, 5000, "2 viewers in the session");
    await edges[0]!.stop("SIGKILL");
    await growth(viewers[1]!, 30, 5000, "30 more frames at the other edge");
    await waitForAsync(async () => (await origin.json<Stats>("api/config")).viewers === 1, 6000, "the killed edge's viewer gone from the session");
    expect((await fetch(origin.at("healthz"))).status).toBe(200);
  }, 60000);

  test("the origin killed: edge viewers see 'source offline' and keep their socket; it comes back and frames resume", async () => {
    const { broker, origin, edges, viewers } = await cluster(1);
    const viewer = viewers[0]!;
    const lastSeq = () => viewer.frames.at(-1)!.meta!.seq!;
    await origin.stop("SIGKILL");
    await viewer.until(() => /source offline/.test(String(lastConfig(viewer)?.sourceError)), 6000, "a 'source offline' config");
    expect((await fetch(edges[0]!.at("s/demo/healthz"))).status).toBe(503);
    expect(viewer.open).toBe(true);
    const seqBefore = lastSeq();
    const textsBefore = viewer.texts.length;

    const again = await VkcastProcess.start([...SMALL, "--nats", broker.url(), "--session", "demo"]);
    running.push(again);
    await viewer.until(() => lastConfig(viewer)?.sourceError === null, 10000, "the source back in a config");
    await growth(viewer, 5, 10000, "frames from the new origin");
    // The new origin numbers from 1 again; the edge keeps its viewers' numbers growing.
    expect(lastSeq()).toBeGreaterThan(seqBefore);
    expect((await fetch(edges[0]!.at("s/demo/healthz"))).status).toBe(200);
    await waitForAsync(async () => (await again.json<Stats>("api/config")).viewers === 1, 5000, "the new origin to know the edge's viewer");
    // Renumbered frames still say the input they follow (by the session id the new origin gave the viewer).
    await viewer.until(() => viewer.texts.slice(textsBefore).some((t) => t.type === "presence"), 5000, "presence from the new origin");
    const you = String([...viewer.texts].reverse().find((t) => t.type === "presence")!.you);
    viewer.send({ type: "key_down", key: "a", modifiers: [], seq: 3 });
    await viewer.until(() => viewer.frames.some((f) => f.meta?.in?.[you] === 3), 10000, "a renumbered frame after the key");
  }, 60000);

  test("a frozen edge never slows the origin, and serves no stale frame when it thaws", async () => {
    const { edges, viewers } = await cluster(2);
    const [frozen, other] = edges;
    frozen!.proc.kill("SIGSTOP");
    const frozenAt = Date.now();
    await growth(viewers[1]!, 30, 5000, "30 frames at the other edge while one is frozen");
    await Bun.sleep(Math.max(0, 1500 - (Date.now() - frozenAt))); // frozen at least 1.5 s: a backlog of ~45 frames
    const seen = viewers[0]!.frames.length;
    frozen!.proc.kill("SIGCONT");
    await growth(viewers[0]!, 10, 5000, "frames from the thawed edge");
    // What it sent after thawing was fresh: no frame older than a second when it arrived.
    const after = viewers[0]!.frames.slice(seen);
    const ages = after.map((f) => f.at - f.meta!.t!);
    expect(Math.max(...ages)).toBeLessThan(1000);
    // It skipped the backlog rather than sending it.
    const relay = (await frozen!.json<Relay>("api/sessions")).sessions[0]!.relay;
    expect(relay.framesCoalesced + relay.framesStale).toBeGreaterThan(10);
    expect(other!.proc.exitCode).toBe(null);
  }, 60000);
});
