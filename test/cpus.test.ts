// The CPUs this process may use: the parsers on table cases, the whole reading on made-up /proc and
// /sys trees, and the real machine under taskset.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import {
  cgroupQuota,
  parseCfsQuota,
  parseCpuList,
  parseCpuMax,
  parseCpusAllowed,
  parseProcCgroup,
  usableCpus,
  workersFor,
} from "../src/encode/cpus.ts";

describe("parsers", () => {
  test.each([
    ["0", 1],
    ["0-3", 4],
    ["0-3,8,10-11", 7],
    [" 2-2 \n", 1],
    ["0-127", 128],
    ["", null],
    ["3-1", null],
    ["a-b", null],
    ["0,,2", null],
  ])("cpu list %p has %p CPUs", (text, want) => {
    expect(parseCpuList(text)).toBe(want);
  });

  test("Cpus_allowed_list in /proc/self/status", () => {
    const status = "Name:\tbun\nCpus_allowed:\tff\nCpus_allowed_list:\t0-5,7\nMems_allowed:\t1\n";
    expect(parseCpusAllowed(status)).toBe(7);
    expect(parseCpusAllowed("Name:\tbun\n")).toBeNull();
  });

  test.each([
    ["max 100000", null],
    ["150000 100000\n", 1.5],
    ["400000 100000", 4],
    ["50000 50000", 1],
    ["0 100000", null],
    ["junk", null],
  ])("cgroup v2 cpu.max %p is %p CPUs", (text, want) => {
    expect(parseCpuMax(text)).toBe(want);
  });

  test.each([
    ["-1", "100000", null],
    ["200000", "100000", 2],
    ["50000\n", "100000\n", 0.5],
    ["x", "100000", null],
  ])("cgroup v1 quota %p / period %p is %p CPUs", (quota, period, want) => {
    expect(parseCfsQuota(quota, period)).toBe(want);
  });

  test("/proc/self/cgroup: the v2 path and the v1 cpu controller's", () => {
    expect(parseProcCgroup("0::/user.slice/app.scope\n")).toEqual({ v2: "/user.slice/app.scope", v1cpu: null });
    expect(parseProcCgroup("4:cpu,cpuacct:/docker/abc\n3:memory:/docker/abc\n0::/\n")).toEqual({ v2: "/", v1cpu: "/docker/abc" });
    expect(parseProcCgroup("")).toEqual({ v2: null, v1cpu: null });
  });
});

/** A reader over a made-up file tree. */
const tree = (files: Record<string, string | undefined>) => (path: string) => files[path] ?? null;

describe("usableCpus", () => {
  const cases: { what: string; files: Record<string, string>; want: ReturnType<typeof usableCpus> }[] = [
    {
      what: "affinity only",
      files: { "/proc/self/status": "Cpus_allowed_list:\t0-15\n", "/proc/self/cgroup": "0::/\n", "/sys/fs/cgroup/cpu.max": "max 100000" },
      want: { cpus: 16, affinity: 16, quota: null },
    },
    {
      what: "a v2 quota on the process's own cgroup (docker --cpus=2.5)",
      files: {
        "/proc/self/status": "Cpus_allowed_list:\t0-15\n",
        "/proc/self/cgroup": "0::/system.slice/vk.service\n",
        "/sys/fs/cgroup/system.slice/vk.service/cpu.max": "250000 100000",
      },
      want: { cpus: 2, affinity: 16, quota: 2.5 },
    },
    {
      what: "a tighter v2 quota on an ancestor",
      files: {
        "/proc/self/status": "Cpus_allowed_list:\t0-15\n",
        "/proc/self/cgroup": "0::/kubepods/pod1/c1\n",
        "/sys/fs/cgroup/kubepods/pod1/c1/cpu.max": "max 100000",
        "/sys/fs/cgroup/kubepods/pod1/cpu.max": "300000 100000",
        "/sys/fs/cgroup/kubepods/cpu.max": "800000 100000",
      },
      want: { cpus: 3, affinity: 16, quota: 3 },
    },
    {
      what: "a v1 quota",
      files: {
        "/proc/self/status": "Cpus_allowed_list:\t0-7\n",
        "/proc/self/cgroup": "5:cpu,cpuacct:/docker/abc\n",
        "/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "400000",
        "/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000",
      },
      want: { cpus: 4, affinity: 8, quota: 4 },
    },
    {
      what: "an affinity mask smaller than the quota",
      files: {
        "/proc/self/status": "Cpus_allowed_list:\t2,5\n",
        "/proc/self/cgroup": "0::/\n",
        "/sys/fs/cgroup/cpu.max": "800000 100000",
      },
      want: { cpus: 2, affinity: 2, quota: 8 },
    },
    {
      what: "a quota under one CPU still leaves one",
      files: { "/proc/self/status": "Cpus_allowed_list:\t0-3\n", "/proc/self/cgroup": "0::/\n", "/sys/fs/cgroup/cpu.max": "20000 100000" },
      want: { cpus: 1, affinity: 4, quota: 0.2 },
    },
  ];
  test.each(cases)("$what", ({ files, want }) => {
    expect(usableCpus(tree(files))).toEqual(want);
  });

  test("this machine: the affinity mask of /proc/self/status, and the quota if any", () => {
    const budget = usableCpus();
    const status = readFileSync("/proc/self/status", "utf8");
    expect(budget.affinity).toBe(parseCpusAllowed(status));
    expect(budget.quota).toBe(cgroupQuota());
    expect(budget.cpus).toBe(Math.max(1, Math.min(budget.affinity!, budget.quota === null ? Infinity : Math.floor(budget.quota))));
  });

  test("this machine under taskset -c 0: one CPU, whatever the host has", () => {
    const module = JSON.stringify(`${import.meta.dir}/../src/encode/cpus.ts`);
    const script = `import { usableCpus } from ${module}; console.log(usableCpus().cpus)`;
    const run = Bun.spawnSync(["taskset", "-c", "0", process.execPath, "-e", script]);
    expect(run.stderr.toString()).toBe("");
    expect(run.stdout.toString().trim()).toBe("1");
  });
});

describe("workersFor", () => {
  test.each([
    // fps, encode ms, CPUs -> Workers
    [30, 3.4, 16, 1],
    [60, 8, 16, 1],
    [60, 30, 16, 3],
    [60, 30, 2, 1],
    [120, 8, 16, 2],
    [240, 60, 16, 15],
    [60, 0, 16, 1],
  ])("%p fps at %p ms on %p CPUs: %p", (fps, ms, cpus, want) => {
    expect(workersFor(fps, ms, cpus)).toBe(want);
  });
});
