// What travels between origin and edges: frames in one message or in chunks (checked against a real
// broker with a small max_payload: the edge's frames are byte for byte the origin's), the JSON messages
// and their checks, the edge's side of the session control, the connection's credentials and TLS, and
// the cluster flags.
import { describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectionOptions } from "../src/cluster/connect.ts";
import { FrameAssembler, frameMessages, readFrameMessage, readJpegMeta, withH264Meta, withMeta } from "../src/cluster/frame-wire.ts";
import { parseAnnouncement, parseRoles, parseUp } from "../src/cluster/messages.ts";
import { RemoteControl } from "../src/cluster/remote-control.ts";
import { sessionAccess, tokenDigest } from "../src/cluster/session-tokens.ts";
import { NAL_IDR, NAL_SEI, NAL_SPS, nalUnits } from "../src/encode/h264-annexb.ts";
import { buildSeiNal, insertSei, readSeiPayload } from "../src/encode/h264-sei.ts";
import { copyWithComment } from "../src/encode/jpeg-comment.ts";
import { NatsBroker, VkcastProcess } from "./helpers/cluster.ts";
import { Viewer, wsUrl } from "./helpers/viewer.ts";
import { waitForAsync } from "./helpers/wait.ts";

const ROOT = join(import.meta.dir, "..");
const meta = { seq: 7, t: 1_700_000_000_123, w: 64, h: 32, q: 85 };
/** A frame message with this header and no bytes. */
const header = (h: object) => {
  const head = text(h);
  return Uint8Array.from([0x76, 1, head.length >> 8, head.length & 0xff, ...head]);
};
const text = (value: unknown) => new TextEncoder().encode(typeof value === "string" ? value : JSON.stringify(value));

describe("frames on the wire", () => {
  const frame = crypto.getRandomValues(new Uint8Array(300_000));

  test("a frame over max_payload goes in chunks and comes back whole", () => {
    const messages = frameMessages(meta, { codec: "jpeg" }, "abc123", frame, 64 * 1024);
    expect(messages.length).toBe(5);
    expect(messages.every((m) => m.byteLength <= 64 * 1024)).toBe(true);
    const assembler = new FrameAssembler();
    const results = messages.map((m) => {
      const read = readFrameMessage(m);
      if (typeof read === "string") throw new Error(read);
      return assembler.add(read.header, read.body);
    });
    expect(results.slice(0, -1)).toEqual([null, null, null, null]);
    expect(results.at(-1)!.frame).toEqual(frame);
    expect(results.at(-1)!.header).toMatchObject({ ...meta, instance: "abc123", codec: "jpeg", bytes: 300_000 });
  });

  test("a lost chunk drops that frame only; a small frame is one message", () => {
    const assembler = new FrameAssembler();
    const add = (m: Uint8Array) => {
      const read = readFrameMessage(m);
      if (typeof read === "string") throw new Error(read);
      return assembler.add(read.header, read.body);
    };
    const first = frameMessages(meta, { codec: "jpeg" }, "abc123", frame, 64 * 1024);
    for (const m of [first[0]!, first[1]!, first[3]!, first[4]!]) expect(add(m)).toBeNull();
    expect(assembler.dropped).toBe(1);
    const small = frameMessages({ ...meta, seq: 8 }, { codec: "jpeg" }, "abc123", frame.subarray(0, 1000), 64 * 1024);
    expect(small.length).toBe(1);
    expect(add(small[0]!)!.frame).toEqual(frame.subarray(0, 1000));
  });

  test("malformed frame messages are refused with the reason", () => {
    const good = frameMessages(meta, { codec: "jpeg" }, "abc123", frame.subarray(0, 100), 1 << 20)[0]!;
    const cases: [Uint8Array, RegExp][] = [
      [new Uint8Array([1, 2]), /not a frame message/],
      [Uint8Array.from([0x76, 9, 0, 0]), /version 9/],
      [Uint8Array.from([0x76, 1, 0xff, 0xff]), /header length/],
      [Uint8Array.from([0x76, 1, 0, 2, 0x7b, 0x7b]), /not JSON/],
      [Uint8Array.from([0x76, 1, 0, 2, ...text("{}")]), /fields/],
      [header({ ...meta, codec: "h264", idr: true, temporalId: 0, instance: "a", bytes: 1, part: 0, parts: 1 }), /codec must be/],
      [header({ ...meta, codec: "vp8", instance: "a", bytes: 1, part: 0, parts: 1 }), /codec must be/],
    ];
    for (const [message, error] of cases) expect(String(readFrameMessage(message))).toMatch(error);
    expect(typeof readFrameMessage(good)).toBe("object");
  });

  test("an H.264 access unit's metadata SEI is rewritten with the rest intact", () => {
    const sps = [0, 0, 0, 1, 0x67, 1, 2, 3];
    const slice = [0, 0, 0, 1, 0x65, 9, 9, 9, 9];
    const unit = insertSei(Uint8Array.from([...sps, ...slice]), buildSeiNal(text(meta)));
    const renumbered = withH264Meta(unit, { ...meta, seq: 1234 });
    expect(JSON.parse(new TextDecoder().decode(readSeiPayload(renumbered)!))).toEqual({ ...meta, seq: 1234 });
    expect([...nalUnits(renumbered)].map((n) => n.type)).toEqual([NAL_SPS, NAL_SEI, NAL_IDR]);
    expect(renumbered.subarray(-slice.length)).toEqual(Uint8Array.from(slice));
    const [h264] = frameMessages(meta, { codec: "h264", idr: true, temporalId: 0, n: 5 }, "abc123", unit, 1 << 20);
    expect(readFrameMessage(h264!)).toMatchObject({ header: { codec: "h264", idr: true, temporalId: 0, n: 5 }, body: unit });
  });

  test("the metadata in a JPEG's COM segment is read, and rewritten with the rest intact", () => {
    const body = Uint8Array.from([0xff, 0xd8, 0xff, 0xdb, 0, 4, 1, 2, 0xff, 0xd9]);
    const jpeg = copyWithComment(body, text(meta));
    expect(readJpegMeta(jpeg)).toEqual(meta);
    const renumbered = withMeta(jpeg, { ...meta, seq: 99 });
    expect(readJpegMeta(renumbered)).toEqual({ ...meta, seq: 99 });
    expect(renumbered.subarray(-8)).toEqual(body.subarray(2));
    expect(readJpegMeta(body)).toBeNull();
  });
});

describe("messages between origin and edges", () => {
  test("an edge's messages: accepted when well-formed, refused naming the field", () => {
    expect(parseUp(text({ type: "join", edge: "eab1", id: 3, mayControl: true }))).toEqual({ type: "join", edge: "eab1", id: 3, mayControl: true });
    const state = { type: "state", edge: "eab1", viewers: 2, h264: 1, members: [[1, 1], [2, 0]] };
    expect(parseUp(text(state))).toEqual(state as never);
    expect(parseUp(text({ type: "keyframe", edge: "eab1" }))).toEqual({ type: "keyframe", edge: "eab1" });
    const bad: [unknown, RegExp][] = [
      ["{", /not JSON/],
      [[1], /not a JSON object/],
      [{ type: "join", edge: "E.1", id: 1, mayControl: true }, /edge must be/],
      [{ type: "join", edge: "eab1", id: 0, mayControl: true }, /join.id/],
      [{ type: "join", edge: "eab1", id: 1, mayControl: "yes" }, /join.mayControl/],
      [{ type: "leave", edge: "eab1", id: 1.5 }, /leave.id/],
      [{ type: "input", edge: "eab1", id: 1, event: [] }, /input.event/],
      [{ type: "demand", edge: "eab1", viewers: -1, h264: 0 }, /demand.viewers/],
      [{ type: "demand", edge: "eab1", viewers: 1 }, /demand.h264/],
      [{ type: "state", edge: "eab1", viewers: 1, h264: 0, members: [[1, 3]] }, /state.members/],
      [{ type: "nope", edge: "eab1" }, /unknown or missing 'type'/],
    ];
    for (const [message, error] of bad) expect(String(parseUp(text(message)))).toMatch(error);
  });

  test("an origin's heartbeat and roles: accepted when well-formed, refused naming the field", () => {
    const config = {
      width: 320, height: 180, fps: 30, quality: 85, interactiveQuality: 60, stillQuality: 90,
      encoder: "turbo", device: "gpu", viewers: 3, control: "all", protocol: 2, sourceError: null, codecs: ["jpeg", "h264"],
    };
    const heartbeat = { type: "session", session: "demo", instance: "ab12", config, tokens: { control: null, view: null } };
    expect(parseAnnouncement(text(heartbeat))).toMatchObject({ session: "demo", config: { viewers: 3 } });
    expect(parseAnnouncement(text({ type: "gone", session: "demo", instance: "ab12" }))).toEqual({ type: "gone", session: "demo", instance: "ab12" });
    const bad: [unknown, RegExp][] = [
      [{ ...heartbeat, session: "Demo!" }, /session must match/],
      [{ ...heartbeat, instance: "xyz" }, /instance/],
      [{ ...heartbeat, config: { ...config, fps: 0 } }, /config.fps/],
      [{ ...heartbeat, config: { ...config, control: "mine" } }, /config.control/],
      [{ ...heartbeat, config: { ...config, codecs: ["h264"] } }, /config.codecs/],
      [{ ...heartbeat, tokens: { control: "abc", view: null } }, /tokens/],
    ];
    for (const [message, error] of bad) expect(String(parseAnnouncement(text(message)))).toMatch(error);
    const roles = {
      type: "roles", instance: "ab12", controllers: [1, 2], upTo: 4, ids: [[1, 5]],
      presence: { controller: 5, viewers: [{ id: 5, role: "control" }], total: 1 }, requests: [{ to: 1, from: 6 }], refused: [],
    };
    expect(parseRoles(text(roles))).toEqual(roles as never);
    const badRoles: [unknown, RegExp][] = [
      [{ ...roles, controllers: ["1"] }, /controllers/],
      [{ ...roles, ids: [[1]] }, /ids/],
      [{ ...roles, requests: [{ to: 1 }] }, /requests/],
      [{ ...roles, refused: [{ id: 1, error: 3 }] }, /refused/],
      [{ ...roles, presence: { controller: 5, viewers: [{ id: 5, role: "boss" }], total: 1 } }, /presence/],
    ];
    for (const [message, error] of badRoles) expect(String(parseRoles(text(message)))).toMatch(error);
  });

  test("session tokens: a digest opens its own session's role only", () => {
    const digests = { control: tokenDigest("drive-token-1"), view: tokenDigest("watch-token-1") };
    expect(sessionAccess("drive-token-1", digests)).toBe("control");
    expect(sessionAccess("watch-token-1", digests)).toBe("view");
    expect(sessionAccess("drive-token-2", digests)).toBeNull();
    expect(sessionAccess(null, digests)).toBeNull();
  });
});

describe("an edge's side of the session control", () => {
  test("joins and leaves go to the origin in order; its answer sets roles; undecided viewers' input goes on", () => {
    const sent: unknown[] = [];
    const control = new RemoteControl("eab1", (m) => sent.push(m));
    const changes: string[] = [];
    control.onChange((c) => c.type === "role" && changes.push(`${c.key}=${c.role}`));
    control.join("1", true);
    control.join("2", true);
    control.join("3", false);
    expect(sent).toEqual([
      { type: "join", edge: "eab1", id: 1, mayControl: true },
      { type: "join", edge: "eab1", id: 2, mayControl: true },
      { type: "join", edge: "eab1", id: 3, mayControl: false },
    ]);
    expect(["1", "2", "3"].map((k) => control.mayInput(k))).toEqual([true, true, false]);
    const answer = (controllers: number[], upTo: number) => ({ controllers, upTo, ids: [], presence: null, requests: [], refused: [] });
    // The origin answered for viewers up to 1 only: 2 is still undecided.
    control.apply(answer([1], 1));
    expect(["1", "2"].map((k) => [control.roleOf(k), control.mayInput(k)])).toEqual([["control", true], ["view", true]]);
    control.apply(answer([2], 3));
    expect(["1", "2", "3"].map((k) => [control.roleOf(k), control.mayInput(k)])).toEqual([["view", false], ["control", true], ["view", false]]);
    expect(changes).toEqual(["1=control", "1=view", "2=control"]);
    expect(control.roster()).toEqual([[1, 1], [2, 1], [3, 0]]);
    control.leave("1");
    expect(sent.at(-1)).toEqual({ type: "leave", edge: "eab1", id: 1 });
    control.undecide();
    expect(control.mayInput("2")).toBe(true);
  });

  test("control messages go to the origin; its presence, requests and refusals reach this edge's viewers", () => {
    const sent: unknown[] = [];
    const control = new RemoteControl("eab1", (m) => sent.push(m));
    const changes: unknown[] = [];
    control.onChange((change) => changes.push(change));
    control.join("4", true);
    expect(control.presence("4")).toBeNull(); // no number in the session yet
    expect(control.command("4", { type: "control", action: "request" })).toBeNull();
    expect(sent.at(-1)).toEqual({ type: "control", edge: "eab1", id: 4, command: { type: "control", action: "request" } });
    const body = { controller: 1, viewers: [{ id: 1, role: "control" as const }, { id: 7, role: "view" as const, asking: true as const }], total: 2 };
    control.apply({ controllers: [], upTo: 4, ids: [[4, 7]], presence: body, requests: [], refused: [{ id: 4, error: "control.to: no viewer 9" }] });
    expect(control.presence("4")).toEqual({ type: "presence", you: 7, ...body });
    expect(changes).toEqual([{ type: "refused", key: "4", error: "control.to: no viewer 9" }, { type: "presence" }]);
    // The same presence again tells nobody; a request to this edge's controller does.
    changes.length = 0;
    control.apply({ controllers: [4], upTo: 4, ids: [[4, 7]], presence: body, requests: [{ to: 4, from: 2 }], refused: [] });
    expect(changes).toEqual([{ type: "role", key: "4", role: "control" }, { type: "request", to: "4", from: 2 }]);
  });
});

describe("the connection to the broker", () => {
  test("credentials from the URL, else the environment; TLS for tls:// or a CA file", () => {
    const url = (u: string, env = {}, caFile?: string) => connectionOptions({ url: u, name: "t", caFile }, env);
    expect(url("nats://vk:s3cret@h:4222")).toMatchObject({ servers: "nats://h:4222", user: "vk", pass: "s3cret" });
    expect(url("nats://tok3n@h:4222")).toMatchObject({ servers: "nats://h:4222", token: "tok3n" });
    expect(url("nats://h:4222", { VKCAST_NATS_TOKEN: "envtoken" })).toMatchObject({ token: "envtoken" });
    expect(url("nats://h:4222", { VKCAST_NATS_USER: "u", VKCAST_NATS_PASSWORD: "p" })).toMatchObject({ user: "u", pass: "p" });
    expect(url("nats://h:4222").tls).toBeUndefined();
    expect(url("tls://h:4222").tls).toEqual({});
    expect(url("nats://h:4222", {}, "/ca.pem").tls).toEqual({ caFile: "/ca.pem" });
    expect(() => url("http://h:4222")).toThrow(/nats:\/\/ or tls:\/\//);
  });

  test("cluster flags: a bad one exits 2 naming it", () => {
    const cases: [string[], RegExp][] = [
      [["--edge"], /--edge, --session and --nats-ca need --nats URL/],
      [["--session", "demo"], /need --nats URL/],
      [["--nats", "nats://127.0.0.1:4222"], /--nats needs --session NAME \(an origin\) or --edge/],
      [["--nats", "http://x", "--edge"], /--nats must be a URL like nats:/],
      [["--nats", "nats://127.0.0.1:4222", "--session", "Bad Name"], /--session must match/],
    ];
    for (const [args, message] of cases) {
      const run = Bun.spawnSync(["bun", "run", "index.ts", ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
      expect(run.exitCode).toBe(2);
      expect(run.stderr.toString()).toMatch(message);
    }
  });
});

/** An origin (720p) and an edge of session "wire" on `broker`, each with its own broker URL and extra flags. */
async function relayed(broker: NatsBroker, urls: { origin: string; edge: string }, extra: { args?: string[]; edgeEnv?: Record<string, string> } = {}) {
  const args = extra.args ?? [];
  const origin = await VkcastProcess.start(["--source", "synthetic", "--width", "1280", "--height", "720", "--nats", urls.origin, "--session", "wire", ...args]);
  const edge = await VkcastProcess.start(["--edge", "--nats", urls.edge, "--session", "wire", ...args], extra.edgeEnv);
  await waitForAsync(async () => (await fetch(edge.at("s/wire/healthz"))).status === 200, 10000, "the session up at the edge");
  return { origin, edge, stop: () => Promise.all([origin.stop("SIGKILL"), edge.stop("SIGKILL"), broker.stop()]) };
}

describe("over a real broker", () => {
  test("frames larger than max_payload reach the edge's viewers byte for byte", async () => {
    const broker = await NatsBroker.start("max_payload: 32KB");
    const { origin, edge, stop } = await relayed(broker, { origin: broker.url(), edge: broker.url() });
    try {
      const atOrigin = await Viewer.connect(wsUrl(origin.url, "ws?v=2"));
      const atEdge = await Viewer.connect(wsUrl(edge.url, "s/wire/ws?v=2"));
      await atEdge.until(() => atEdge.frames.length >= 10, 15000, "10 frames at the edge");
      const bySeq = new Map(atOrigin.frames.map((f) => [f.meta!.seq, f.jpeg]));
      const same = atEdge.frames.filter((f) => bySeq.has(f.meta!.seq));
      expect(same.length).toBeGreaterThan(5);
      for (const f of same) {
        expect(f.jpeg.byteLength).toBeGreaterThan(32 * 1024);
        expect(f.jpeg).toEqual(bySeq.get(f.meta!.seq)!);
      }
      atOrigin.close();
      atEdge.close();
    } finally {
      await stop();
    }
  }, 60000);

  test("NATS credentials (URL and environment) and TLS to the broker", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vkcast-tls-"));
    const ssl = (...args: string[]) => {
      const run = Bun.spawnSync(["openssl", ...args], { cwd: dir, stdout: "pipe", stderr: "pipe" });
      if (run.exitCode !== 0) throw new Error(run.stderr.toString());
    };
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    ssl("req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=vkcast test CA");
    ssl("req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1");
    await Bun.write(join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1\n");
    ssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "1", "-extfile", "san.ext");
    const broker = await NatsBroker.start(
      `max_payload: 8MB\ntls { cert_file: "${dir}/server.pem", key_file: "${dir}/server.key" }\n` +
        `authorization { users = [ { user: vk, password: "s3cret-pw" } ] }`,
    );
    const ca = join(dir, "ca.pem");
    // A wrong password is refused at once: the edge says so and exits 1.
    const refused = Bun.spawnSync(["bun", "run", "index.ts", "--edge", "--port", "0", "--nats", broker.url("vk:wrong", "tls"), "--nats-ca", ca], {
      cwd: ROOT,
      stderr: "pipe",
      timeout: 30000,
    });
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr.toString()).toMatch(/Authorization Violation/i);
    const url = broker.url("vk:s3cret-pw", "tls");
    const { edge, stop } = await relayed(broker, { origin: url, edge: url }, { args: ["--nats-ca", ca] });
    try {
      const viewer = await Viewer.connect(wsUrl(edge.url, "s/wire/ws?v=2"));
      await viewer.until(() => viewer.frames.length >= 3, 15000, "frames over TLS");
      viewer.close();
    } finally {
      await stop();
    }
    // A token broker: the origin's token in its URL, the edge's from the environment.
    const tokenBroker = await NatsBroker.start(`authorization { token: "nats-token-77" }`);
    const urls = { origin: tokenBroker.url("nats-token-77"), edge: tokenBroker.url() };
    const byEnv = await relayed(tokenBroker, urls, { edgeEnv: { VKCAST_NATS_TOKEN: "nats-token-77" } });
    await byEnv.stop(); // relayed() saw the session at the edge: both got in
  }, 90000);
});
