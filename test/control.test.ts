// The session control interface (src/server/control.ts) with the server's own policy: a table of
// joins and leaves, the roles after each, and the changes reported to listeners.
import { describe, expect, test } from "bun:test";
import { PolicyControl } from "../src/server/control.ts";
import type { ControlPolicy } from "../src/server/options.ts";

type Step = ["join", string, boolean] | ["leave", string];

function run(policy: ControlPolicy, steps: Step[]) {
  const control = new PolicyControl(policy);
  const changes: string[] = [];
  control.onChange((key, role) => changes.push(`${key}=${role}`));
  for (const step of steps) {
    if (step[0] === "join") control.join(step[1], step[2]);
    else control.leave(step[1]);
  }
  return { control, changes };
}

describe("PolicyControl", () => {
  const cases: [string, ControlPolicy, Step[], Record<string, string>, string[]][] = [
    ["all: every viewer that may control drives", "all", [["join", "1", true], ["join", "e-a:1", true], ["join", "2", false]],
      { "1": "control", "e-a:1": "control", "2": "view" }, []],
    ["none: nobody drives", "none", [["join", "1", true], ["join", "e-a:1", true]], { "1": "view", "e-a:1": "view" }, []],
    ["first: the oldest drives, the next watches", "first", [["join", "e-a:1", true], ["join", "e-b:1", true]],
      { "e-a:1": "control", "e-b:1": "view" }, []],
    ["first: the controller leaves, the next oldest takes over (told)", "first",
      [["join", "e-a:1", true], ["join", "e-b:1", true], ["join", "3", true], ["leave", "e-a:1"]],
      { "e-a:1": "view", "e-b:1": "control", "3": "view" }, ["e-b:1=control"]],
    ["first: a watcher leaving changes nothing", "first", [["join", "1", true], ["join", "2", true], ["leave", "2"]],
      { "1": "control", "2": "view" }, []],
    ["first: a view-only viewer never drives nor blocks one who may", "first", [["join", "1", false], ["join", "2", true], ["leave", "1"]],
      { "1": "view", "2": "control" }, []],
    ["first: control passes over view-only viewers", "first",
      [["join", "1", true], ["join", "2", false], ["join", "3", true], ["leave", "1"]], { "2": "view", "3": "control" }, ["3=control"]],
    ["an unknown key watches", "all", [["leave", "nobody"]], { nobody: "view" }, []],
  ];
  for (const [name, policy, steps, roles, changes] of cases) {
    test(name, () => {
      const result = run(policy, steps);
      for (const [key, role] of Object.entries(roles)) expect(`${key}=${result.control.roleOf(key)}`).toBe(`${key}=${role}`);
      expect(result.changes).toEqual(changes);
    });
  }

  test("an unsubscribed listener hears nothing more", () => {
    const control = new PolicyControl("first");
    const heard: string[] = [];
    const stop = control.onChange((key) => heard.push(key));
    control.join("1", true);
    control.join("2", true);
    stop();
    control.leave("1");
    expect(heard).toEqual([]);
    expect(control.roleOf("2")).toBe("control");
  });
});
