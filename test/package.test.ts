// vkcast as a dependency of another project: `import { StreamingServer } from "vkcast"` resolves through the
// package's `exports`, runs, and type-checks (a wrong type is an error, so the types are real, not `any`).
import { expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { ROOT } from "./helpers/ingest.ts";

const rootPackage = (await Bun.file(`${ROOT}/package.json`).json()) as { devDependencies: Record<string, string> };

/** What `bun init` writes into a new project's tsconfig.json (Bun 1.4), with the type package pinned. */
const BUN_INIT_COMPILER_OPTIONS = {
  lib: ["ESNext"],
  target: "ESNext",
  module: "Preserve",
  moduleDetection: "force",
  jsx: "react-jsx",
  allowJs: true,
  types: ["bun-types"],
  moduleResolution: "bundler",
  allowImportingTsExtensions: true,
  verbatimModuleSyntax: true,
  noEmit: true,
  strict: true,
  skipLibCheck: true,
  noFallthroughCasesInSwitch: true,
  noUncheckedIndexedAccess: true,
  noImplicitOverride: true,
};

const MAIN = `import { StreamingServer, type Frame } from "vkcast";
const server = new StreamingServer({ port: 0 });
await server.start(64, 48);
const frame: Frame = { pixels: new Uint8Array(64 * 48 * 4).fill(200), width: 64, height: 48 };
server.pushFrame(frame);
const res = await fetch(\`\${server.origin}frame.jpg\`);
console.log(\`frame.jpg \${res.status} \${res.headers.get("content-type")}\`);
await server.stop();
`;

test("another project depends on the repository by path, imports StreamingServer from 'vkcast', runs it and type-checks", async () => {
  const dir = mkdtempSync(`${tmpdir()}/vkcast-embed-`);
  const dev = rootPackage.devDependencies;
  writeFileSync(
    `${dir}/package.json`,
    JSON.stringify({
      name: "embedder",
      type: "module",
      dependencies: { vkcast: `file:${ROOT}` },
      devDependencies: { "bun-types": dev["bun-types"], typescript: dev.typescript },
    }),
  );
  writeFileSync(`${dir}/tsconfig.json`, JSON.stringify({ compilerOptions: BUN_INIT_COMPILER_OPTIONS, include: ["main.ts"] }));
  writeFileSync(`${dir}/main.ts`, MAIN);
  const install = Bun.spawnSync(["bun", "install"], { cwd: dir });
  expect(install.exitCode).toBe(0);

  const run = Bun.spawnSync(["bun", "run", "main.ts"], { cwd: dir });
  expect(run.stderr.toString()).toBe("");
  expect(run.stdout.toString()).toContain("frame.jpg 200 image/jpeg");

  const tsc = `${dir}/node_modules/.bin/tsc`;
  const typed = Bun.spawnSync([tsc, "--noEmit", "-p", dir], { cwd: dir });
  expect(typed.stdout.toString()).toBe("");
  expect(typed.exitCode).toBe(0);
  writeFileSync(`${dir}/main.ts`, `${MAIN}const port: string = server.port;\n`);
  const mistyped = Bun.spawnSync([tsc, "--noEmit", "-p", dir], { cwd: dir });
  expect(mistyped.stdout.toString()).toContain("Type 'number' is not assignable to type 'string'");
});
