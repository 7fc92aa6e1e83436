// Runs the wasm bench (a WASI command) in Node.js, i.e. in V8, the engine Envoy embeds.
// Usage: node --no-warnings bench/wasm_run.mjs WASM [args...]
//
// The bench links the crate's rlib, whose proxy-wasm glue keeps its exports and `env` imports;
// nothing the bench runs calls them, so the imports are stubs that throw, and `_initialize` (the
// reactor entry point the glue exports, which `wasi.start` refuses) is left out of the view of the
// instance handed to WASI.
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';
import { argv } from 'node:process';

const [path, ...args] = argv.slice(2);
const wasi = new WASI({ version: 'preview1', args: ['wasm_bench', ...args], env: {}, returnOnExit: true });
const module = await WebAssembly.compile(await readFile(path));
const imports = wasi.getImportObject();
imports.env = {};
for (const imp of WebAssembly.Module.imports(module)) {
  if (imp.module === 'env') imports.env[imp.name] = () => { throw new Error(`host call ${imp.name}`); };
}
const instance = await WebAssembly.instantiate(module, imports);
const code = wasi.start({ exports: { memory: instance.exports.memory, _start: instance.exports._start } });
process.exitCode = code ?? 0;
