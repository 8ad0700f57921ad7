// The CPUs this process may really use: its affinity mask (taskset, cpusets) and its cgroup CPU quota
// (docker --cpus, Kubernetes limits), not the host's core count. Encoder Workers are sized by it.
// The parsers are pure; `usableCpus` reads /proc and /sys through a reader that tests replace.
import { readFileSync } from "node:fs";
import os from "node:os";

/** How many CPUs, and what limited them. */
export interface CpuBudget {
  /** Whole CPUs this process may keep busy (at least 1). */
  cpus: number;
  /** CPUs in the affinity mask (null when it could not be read). */
  affinity: number | null;
  /** The cgroup quota in CPUs, e.g. 1.5 (null when there is none). */
  quota: number | null;
}

/** Counts the CPUs of a kernel CPU list such as "0-3,8,10-11"; null when it is not one. */
export function parseCpuList(text: string): number | null {
  const list = text.trim();
  if (list === "") return null;
  let count = 0;
  for (const part of list.split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) return null;
    const first = Number(m[1]);
    const last = m[2] === undefined ? first : Number(m[2]);
    if (last < first) return null;
    count += last - first + 1;
  }
  return count;
}

/** The affinity mask's size from /proc/self/status (its Cpus_allowed_list line). */
export function parseCpusAllowed(status: string): number | null {
  const m = /^Cpus_allowed_list:\s*(.*)$/m.exec(status);
  return m ? parseCpuList(m[1]!) : null;
}

/** cgroup v2 cpu.max ("QUOTA PERIOD" in µs, or "max PERIOD"): the quota in CPUs, null for none. */
export function parseCpuMax(text: string): number | null {
  const [quota, period] = text.trim().split(/\s+/);
  if (quota === undefined || quota === "max") return null;
  const q = Number(quota);
  const p = Number(period ?? 100_000);
  return Number.isFinite(q) && q > 0 && Number.isFinite(p) && p > 0 ? q / p : null;
}

/** cgroup v1 cpu.cfs_quota_us and cpu.cfs_period_us: the quota in CPUs, null for none (-1). */
export function parseCfsQuota(quotaText: string, periodText: string): number | null {
  const q = Number(quotaText.trim());
  const p = Number(periodText.trim());
  return Number.isInteger(q) && q > 0 && Number.isFinite(p) && p > 0 ? q / p : null;
}

/** This process's cgroup paths from /proc/self/cgroup: the v2 one ("0::/path") and the v1 cpu controller's. */
export function parseProcCgroup(text: string): { v2: string | null; v1cpu: string | null } {
  let v2: string | null = null;
  let v1cpu: string | null = null;
  for (const line of text.split("\n")) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    if (m[1] === "0" && m[2] === "") v2 = m[3]!;
    else if (m[2]!.split(",").includes("cpu")) v1cpu = m[3]!;
  }
  return { v2, v1cpu };
}

/** The path and each of its ancestors up to "/": a quota anywhere above the process limits it too. */
function selfAndAncestors(path: string): string[] {
  const parts = path.split("/").filter(Boolean);
  return Array.from({ length: parts.length + 1 }, (_, i) => `/${parts.slice(0, parts.length - i).join("/")}`);
}

/** Reads a text file; null when it does not exist or cannot be read. */
export type FileReader = (path: string) => string | null;

const readText: FileReader = (path) => {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
};

/** The smallest quota (in CPUs) set on this process's cgroup or any ancestor; null when none. */
export function cgroupQuota(read: FileReader = readText): number | null {
  const cgroups = parseProcCgroup(read("/proc/self/cgroup") ?? "");
  const quotas: number[] = [];
  if (cgroups.v2 !== null) {
    for (const dir of selfAndAncestors(cgroups.v2)) {
      const text = read(`/sys/fs/cgroup${dir === "/" ? "" : dir}/cpu.max`);
      const q = text === null ? null : parseCpuMax(text);
      if (q !== null) quotas.push(q);
    }
  }
  if (cgroups.v1cpu !== null) {
    for (const mount of ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"]) {
      for (const dir of selfAndAncestors(cgroups.v1cpu)) {
        const base = `${mount}${dir === "/" ? "" : dir}`;
        const quota = read(`${base}/cpu.cfs_quota_us`);
        const period = read(`${base}/cpu.cfs_period_us`);
        const q = quota === null || period === null ? null : parseCfsQuota(quota, period);
        if (q !== null) quotas.push(q);
      }
    }
  }
  return quotas.length ? Math.min(...quotas) : null;
}

/** The CPUs this process may use: the affinity mask, cut down by a cgroup quota (rounded down, at least 1). */
export function usableCpus(read: FileReader = readText): CpuBudget {
  const status = read("/proc/self/status");
  const affinity = status === null ? null : parseCpusAllowed(status);
  const quota = cgroupQuota(read);
  // Without /proc (not Linux), Node's count of the CPUs this process may run on.
  let cpus = affinity ?? os.availableParallelism();
  if (quota !== null) cpus = Math.min(cpus, Math.floor(quota));
  return { cpus: Math.max(1, cpus), affinity, quota };
}

/**
 * Encoder Workers for `fps` frames a second when one encode takes `encodeMs`: enough to keep up with a
 * quarter to spare, at least 1, and at most the usable CPUs less one (the thread that serves sockets).
 */
export function workersFor(fps: number, encodeMs: number, cpus: number): number {
  const need = Math.ceil((fps * encodeMs * 1.25) / 1000);
  return Math.max(1, Math.min(need, cpus - 1));
}
