// bun run bench [NAME...]: runs the named benchmarks (all when none is named) and prints their tables.
const BENCHMARKS = ["encode", "fanout", "render"] as const;
type Name = (typeof BENCHMARKS)[number];

const asked = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const extra = process.argv.slice(2).filter((a) => a.startsWith("--"));
for (const name of asked) {
  if (!BENCHMARKS.includes(name as Name)) {
    console.error(`bench: unknown benchmark '${name}' (one of ${BENCHMARKS.join(", ")})`);
    process.exit(2);
  }
}
const results: Record<string, unknown> = {};
for (const name of asked.length ? (asked as Name[]) : BENCHMARKS) {
  console.log(`\n== ${name}`);
  const mod = (await import(`./${name}.ts`)) as { default: (args: string[]) => Promise<unknown> };
  results[name] = await mod.default(extra);
}
await Bun.write(`${import.meta.dir}/results/latest.json`, JSON.stringify({ date: new Date().toISOString(), results }, null, 2));
