// The bun:ffi binding (src/vulkan/binding.ts) against the library's public header (vkcast_vk.h):
// every constant and every function signature, parsed from the header, so neither can drift.
import { expect, test } from "bun:test";
import { FFIType } from "bun:ffi";
import { SYMBOLS, VKC_DRAW, VKC_ERR, VKC_MAX_SLOTS, VKC_OUTPUT, VKC_SCENE } from "../src/vulkan/binding.ts";

const header = await Bun.file(`${import.meta.dir}/../src/vulkan/vkcast_vk.h`).text();
const code = header.replace(/\/\/.*$/gm, ""); // comments may mention API names

/** `#define VKC_<GROUP>_<NAME> (value)` lines of the header, by full name. */
function headerConstants(group: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of code.matchAll(new RegExp(`^#define (VKC_${group}_\\w+)\\s+\\(?(-?\\d+)\\)?\\s*$`, "gm"))) out[m[1]!] = Number(m[2]);
  return out;
}

function prefixed(group: string, values: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [`VKC_${group}_${k}`, v]));
}

test("every VKC_ERR_* code of the header is in the binding with the same value, and no other", () => {
  const fromHeader = headerConstants("ERR");
  expect(Object.keys(fromHeader).length).toBeGreaterThanOrEqual(7);
  expect(prefixed("ERR", VKC_ERR)).toEqual(fromHeader);
});

test("the scene, draw-kind and output constants and the ring limit match the header", () => {
  expect(prefixed("SCENE", VKC_SCENE)).toEqual(headerConstants("SCENE"));
  expect(prefixed("DRAW", VKC_DRAW)).toEqual(headerConstants("DRAW"));
  expect(prefixed("OUTPUT", VKC_OUTPUT)).toEqual(headerConstants("OUTPUT"));
  expect(headerConstants("MAX")).toEqual({ VKC_MAX_SLOTS });
});

/** The FFI type a C parameter or return type is passed as. */
function ffiType(cType: string, isReturn: boolean): FFIType {
  const t = cType.replace(/\bconst\b/g, "").replace(/\s+/g, " ").trim();
  if (t === "char *" && isReturn) return FFIType.cstring;
  if (t.endsWith("*")) return FFIType.ptr;
  const scalars: Record<string, FFIType> = { void: FFIType.void, int: FFIType.i32, uint32_t: FFIType.u32, uint64_t: FFIType.u64, double: FFIType.f64 };
  const scalar = scalars[t];
  if (scalar === undefined) throw new Error(`no FFI type for C type '${cType}'`);
  return scalar;
}

/** Splits "const char *name" into its type ("const char *") and name. */
function splitDeclaration(decl: string): { type: string; name: string } {
  const m = /^(.*?[\s*])(\w+)$/.exec(decl.trim());
  if (!m) throw new Error(`cannot parse declaration '${decl}'`);
  return { type: m[1]!.trim().replace(/\s*\*$/, " *"), name: m[2]! };
}

test("every function of the header is bound with the same parameter and return types, and no other", () => {
  const declared: Record<string, { args: FFIType[]; returns: FFIType }> = {};
  for (const m of code.matchAll(/VKC_API\s+([^;(]+?)\s*\(([^)]*)\)\s*;/g)) {
    const { type, name } = splitDeclaration(m[1]!);
    const params = m[2]!.trim() === "void" ? [] : m[2]!.split(",").map((p) => splitDeclaration(p).type);
    declared[name] = { args: params.map((p) => ffiType(p, false)), returns: ffiType(type, true) };
  }
  expect(Object.keys(declared).length).toBeGreaterThanOrEqual(18);
  const bound: Record<string, { args: FFIType[]; returns: FFIType }> = Object.fromEntries(
    Object.entries(SYMBOLS).map(([name, s]) => [name, { args: [...s.args], returns: s.returns }]),
  );
  expect(bound).toEqual(declared);
});
