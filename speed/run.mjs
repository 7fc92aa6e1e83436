// Runs the speed harness (wasm32-wasip1) under node's WASI, i.e. in V8 as Envoy runs the filter.
// Usage: node speed/run.mjs path/to/dpop-gate-speed.wasm [ms-per-case] [name-filter]
import { readFile } from "node:fs/promises";
import { WASI } from "node:wasi";
import process, { argv } from "node:process";

const [wasmPath, ...args] = argv.slice(2);
const wasi = new WASI({ version: "preview1", args: ["speed", ...args], env: {} });
const module = await WebAssembly.compile(await readFile(wasmPath));
// The library links the proxy-wasm glue on wasm32; its host calls are never made here, so stub them.
const env = {};
for (const imp of WebAssembly.Module.imports(module)) {
  if (imp.module === "env") env[imp.name] = () => { throw new Error(`host call ${imp.name}`); };
}
// Every clock reads this process's CPU time (user + system), as `openssl speed` divides by CPU time
// too: figures stay comparable on a machine shared with other work. SPEED_WALL=1 uses wall time.
const wasiImports = wasi.getImportObject();
let memory;
if (!process.env.SPEED_WALL) {
  const preview1 = { ...wasiImports.wasi_snapshot_preview1 };
  preview1.clock_time_get = (_id, _precision, out) => {
    const { user, system } = process.cpuUsage();
    new DataView(memory.buffer).setBigUint64(out, BigInt(user + system) * 1000n, true);
    return 0;
  };
  wasiImports.wasi_snapshot_preview1 = preview1;
}
const instance = await WebAssembly.instantiate(module, { ...wasiImports, env });
memory = instance.exports.memory;
// The filter's glue also exports `_initialize`, which `wasi.start` refuses; hand it the command part.
wasi.start({ exports: { memory: instance.exports.memory, _start: instance.exports._start } });
