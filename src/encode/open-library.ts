// Opens the first of a library's names that loads (its versioned soname first, then the development
// link), with an error that names the Debian package to install when none does.
import { dlopen, type Library, type Symbols } from "bun:ffi";

export function openLibrary<S extends Symbols>(names: readonly string[], symbols: S, missing: string): Library<S> {
  const errors: string[] = [];
  for (const name of names) {
    try {
      return dlopen(name, symbols);
    } catch (err) {
      errors.push(String(err));
    }
  }
  throw new Error(`${missing}: ${errors[0]}`);
}
