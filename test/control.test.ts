// Who drives a session: the pure control state machine (src/server/control-state.ts) as a table of
// events and the state after them, then PolicyControl's changes told to listeners, presence and its pacing.
import { describe, expect, test } from "bun:test";
import { type ControlChange, PolicyControl } from "../src/server/control.ts";
import {
  type ControlEvent,
  type ControlMode,
  type ControlState,
  initialControl,
  nextControl,
  PRESENCE_LIST_LIMIT,
  presenceOf,
  roleIn,
} from "../src/server/control-state.ts";
import { controlPolicy } from "../src/server/options.ts";
import { PRESENCE_INTERVAL_MS, presenceWait } from "../src/server/presence-pacer.ts";

const join = (key: string, mayControl = true): ControlEvent => ({ type: "join", key, mayControl });
const leave = (key: string): ControlEvent => ({ type: "leave", key });
const request = (key: string): ControlEvent => ({ type: "request", key });
const release = (key: string): ControlEvent => ({ type: "release", key });
const grant = (key: string, to: number): ControlEvent => ({ type: "grant", key, to });

/** The state after the events, as one line: each viewer as key#id=role (+asking, -viewOnly), then the controller. */
function describeState(s: ControlState): string {
  const asking = (key: string) => (s.asking.includes(key) ? "+asking" : "");
  const viewers = s.members.map((m) => `${m.key}#${m.id}=${roleIn(s, m.key)}${asking(m.key)}${m.mayControl ? "" : "-viewOnly"}`);
  return `${viewers.join(" ")} | controller ${s.controller ?? "none"}`;
}

/** Runs the events; a refused one ends the run with its error in the result. */
function run(mode: ControlMode, events: ControlEvent[]): string {
  let state = initialControl(mode);
  for (const event of events) {
    const next = nextControl(state, event);
    if (!next.ok) return `${describeState(state)} | refused: ${next.error}`;
    state = next.state;
  }
  return describeState(state);
}

describe("the control state machine: events -> state", () => {
  const table: [string, ControlMode, ControlEvent[], string][] = [
    ["one: the first viewer controls, the next watches", "one", [join("1"), join("2")], "1#1=control 2#2=view | controller 1"],
    ["one: a view-only viewer never controls, nor blocks one who may", "one", [join("1", false), join("2")],
      "1#1=view-viewOnly 2#2=control | controller 2"],
    ["one: a request while someone drives marks the viewer as asking", "one", [join("1"), join("2"), request("2")],
      "1#1=control 2#2=view+asking | controller 1"],
    ["one: asking twice is asking once", "one", [join("1"), join("2"), request("2"), request("2")],
      "1#1=control 2#2=view+asking | controller 1"],
    ["one: the controller grants: the other drives, the old one watches", "one", [join("1"), join("2"), request("2"), grant("1", 2)],
      "1#1=view 2#2=control | controller 2"],
    ["one: a grant needs no request", "one", [join("1"), join("2"), join("3"), grant("1", 3)],
      "1#1=view 2#2=view 3#3=control | controller 3"],
    ["one: the controller leaves: the longest connected who may control takes over", "one",
      [join("1"), join("2", false), join("3"), join("4"), request("4"), leave("1")],
      "2#2=view-viewOnly 3#3=control 4#4=view+asking | controller 3"],
    ["one: a watcher leaving changes nobody's role", "one", [join("1"), join("2"), leave("2")], "1#1=control | controller 1"],
    ["one: the last viewer leaves: nobody drives; the next to join does", "one", [join("1"), leave("1"), join("2")],
      "2#2=control | controller 2"],
    ["one: release hands over to the viewer asking longest", "one",
      [join("1"), join("2"), join("3"), request("3"), request("2"), release("1")], "1#1=view 2#2=view+asking 3#3=control | controller 3"],
    ["one: a viewer that leaves no longer asks", "one", [join("1"), join("2"), join("3"), request("2"), request("3"), leave("2"), release("1")],
      "1#1=view 3#3=control | controller 3"],
    ["one: release with nobody asking: nobody drives", "one", [join("1"), join("2"), release("1")], "1#1=view 2#2=view | controller none"],
    ["one: nobody drives: a request is granted at once", "one", [join("1"), join("2"), release("1"), request("2")],
      "1#1=view 2#2=control | controller 2"],
    ["one: nobody drives: a new viewer takes control", "one", [join("1"), release("1"), join("2")], "1#1=view 2#2=control | controller 2"],
    ["one: release by a viewer asking withdraws its request", "one", [join("1"), join("2"), request("2"), release("2")],
      "1#1=control 2#2=view | controller 1"],
    ["one: a rejoining key is a new viewer at the end", "one", [join("1"), join("2"), join("1")], "2#2=control 1#3=view | controller 2"],
    ["one: keys of edges are keys like any other", "one", [join("e-a:1"), join("e-b:1"), request("e-b:1"), grant("e-a:1", 2)],
      "e-a:1#1=view e-b:1#2=control | controller e-b:1"],
    ["one: a watcher may not grant", "one", [join("1"), join("2"), grant("2", 2)],
      "1#1=control 2#2=view | controller 1 | refused: control.action: only the controller may grant control"],
    ["one: a grant to nobody", "one", [join("1"), grant("1", 9)], "1#1=control | controller 1 | refused: control.to: no viewer 9 in this session"],
    ["one: a grant to a view-only viewer", "one", [join("1"), join("2", false), grant("1", 2)],
      "1#1=control 2#2=view-viewOnly | controller 1 | refused: control.to: viewer 2 may only watch (a view-only link)"],
    ["one: a view-only viewer may not ask", "one", [join("1"), join("2", false), request("2")],
      "1#1=control 2#2=view-viewOnly | controller 1 | refused: control.action: this viewer may only watch (a view-only link)"],
    ["one: a watcher may not release", "one", [join("1"), join("2"), release("2")],
      "1#1=control 2#2=view | controller 1 | refused: control.action: this viewer does not control"],
    ["one: an unknown viewer is refused", "one", [request("7")], " | controller none | refused: viewer 7 is not in this session"],
    ["all: every viewer that may control drives", "all", [join("1"), join("2"), join("3", false)],
      "1#1=control 2#2=control 3#3=view-viewOnly | controller none"],
    ["all: requests mean nothing", "all", [join("1"), request("1")], "1#1=control | controller none | refused: control.action: every viewer drives here"],
    ["none: nobody drives", "none", [join("1"), join("2")], "1#1=view 2#2=view | controller none"],
    ["none: nobody may ask", "none", [join("1"), request("1")], "1#1=view | controller none | refused: control.action: nobody drives here"],
  ];
  for (const [name, mode, events, want] of table) test(name, () => expect(run(mode, events)).toBe(want));

  test("a refused event leaves the state as it was (the same object)", () => {
    const state = nextControl(initialControl("one"), join("1"));
    if (!state.ok) throw new Error("join refused");
    expect(nextControl(state.state, grant("1", 5))).toEqual({ ok: false, error: "control.to: no viewer 5 in this session" });
  });

  test("'first' is the older name of 'one'", () => {
    expect(controlPolicy("first")).toBe("one");
    expect(() => controlPolicy("some")).toThrow("control must be one, all or none");
  });
});

describe("presence", () => {
  test("lists every viewer, the controller and who asks", () => {
    let s = initialControl("one");
    for (const e of [join("a"), join("b"), join("c", false), request("b")]) s = (nextControl(s, e) as { state: ControlState }).state;
    expect(presenceOf(s)).toEqual({
      controller: 1,
      viewers: [{ id: 1, role: "control" }, { id: 2, role: "view", asking: true }, { id: 3, role: "view", viewOnly: true }],
      total: 3,
    });
  });

  test(`past ${PRESENCE_LIST_LIMIT} viewers: the controller, those asking, the first ${PRESENCE_LIST_LIMIT} and a count`, () => {
    let s = initialControl("one");
    const events = [join("first"), ...Array.from({ length: 120 }, (_, i) => join(`v${i}`)), request("v100"), release("first"), request("v110")];
    for (const e of events) s = (nextControl(s, e) as { state: ControlState }).state;
    const p = presenceOf(s);
    expect(p.total).toBe(121);
    expect(p.controller).toBe(102); // v100 got control when "first" released it
    const ids = p.viewers.map((v) => v.id);
    expect(ids.slice(0, PRESENCE_LIST_LIMIT)).toEqual(Array.from({ length: PRESENCE_LIST_LIMIT }, (_, i) => i + 1));
    expect(ids.slice(PRESENCE_LIST_LIMIT)).toEqual([102, 112]);
    expect(p.viewers.find((v) => v.id === 112)).toEqual({ id: 112, role: "view", asking: true });
  });

  test("is sent at once up to the limit, at most once a second past it", () => {
    const rows: [number, number, number, number][] = [
      // viewers, last sent at, now, wait
      [2, 0, 10, 0],
      [PRESENCE_LIST_LIMIT, 0, 10, 0],
      [PRESENCE_LIST_LIMIT + 1, 0, 10, PRESENCE_INTERVAL_MS - 10],
      [500, 0, PRESENCE_INTERVAL_MS, 0],
      [500, Number.NEGATIVE_INFINITY, 5, 0],
    ];
    for (const [viewers, last, now, wait] of rows) expect([viewers, last, now, presenceWait(viewers, last, now)]).toEqual([viewers, last, now, wait]);
  });
});

describe("PolicyControl tells what changed", () => {
  function session(mode: ControlMode) {
    const control = new PolicyControl(mode);
    const told: string[] = [];
    const describe = (c: ControlChange) =>
      c.type === "role" ? `${c.key}=${c.role}` : c.type === "left" ? `${c.key} left` : c.type === "request" ? `${c.to}<-#${c.from}` : "presence";
    control.onChange((c) => told.push(describe(c)));
    return { control, told };
  }

  test("joins: only presence (a joining viewer reads its role); a leaving controller hands over", () => {
    const { control, told } = session("one");
    control.join("1", true);
    control.join("2", true);
    control.leave("1");
    expect(told).toEqual(["presence", "presence", "2=control", "presence", "1 left"]);
    expect(control.presence("2")).toEqual({ type: "presence", you: 2, controller: 2, viewers: [{ id: 2, role: "control" }], total: 1 });
    expect(control.presence("1")).toBeNull();
  });

  test("a request is told to the controller once; a grant changes both roles", () => {
    const { control, told } = session("one");
    control.join("1", true);
    control.join("e-x:4", true);
    told.length = 0;
    expect(control.command("e-x:4", { type: "control", action: "request" })).toBeNull();
    expect(control.command("e-x:4", { type: "control", action: "request" })).toBeNull();
    expect(control.command("1", { type: "control", action: "grant", to: 2 })).toBeNull();
    expect(told).toEqual(["1<-#2", "presence", "1=view", "e-x:4=control", "presence"]);
  });

  test("a refused command changes nothing and tells nothing", () => {
    const { control, told } = session("one");
    control.join("1", true);
    control.join("2", true);
    told.length = 0;
    expect(control.command("2", { type: "control", action: "grant", to: 1 })).toBe("control.action: only the controller may grant control");
    expect(told).toEqual([]);
    expect([control.roleOf("1"), control.roleOf("2"), control.roleOf("nobody")]).toEqual(["control", "view", "view"]);
  });

  test("an unsubscribed listener hears nothing more", () => {
    const control = new PolicyControl("one");
    const heard: string[] = [];
    const stop = control.onChange((c) => heard.push(c.type));
    control.join("1", true);
    stop();
    control.join("2", true);
    control.leave("1");
    expect(heard).toEqual(["presence"]);
    expect(control.roleOf("2")).toBe("control");
  });
});
