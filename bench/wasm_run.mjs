// Runs the wasm bench (a WASI command, bench/wasm_bench.rs) in Node.js, i.e. in V8, the engine
// Envoy embeds. Usage: node --no-liftoff --no-warnings bench/wasm_run.mjs WASM [SECONDS_PER_OP [NAME_FILTER]]
//
// `--no-liftoff` as Envoy runs V8 (proxy-wasm-cpp-host turns Liftoff off): every function compiled
// by TurboFan up front, so the bench's first step, P-256's calibration (`p256::calibrate`), times
// optimised code as it does in Envoy, not the baseline tier.
//
// Every WASI clock reads this process's CPU time (user + system, `process.cpuUsage()`), as
// bench/wasm_run.py does for Wasmtime and `openssl speed` does natively: the machine is shared, and
// time other jobs take from it is not counted. It counts every thread of this process, V8's
// background compilers too: the warm-up is there for them to finish.
//
// The bench links the crate's rlib, whose proxy-wasm glue keeps its exports and `env` imports;
// nothing the bench runs calls them, so the imports are stubs that throw, and `_initialize` (the
// reactor entry point the glue exports, which `wasi.start` refuses) is left out of the view of the
// instance handed to WASI.
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';
import process, { argv } from 'node:process';

const [path, ...args] = argv.slice(2);
const wasi = new WASI({ version: 'preview1', args: ['wasm_bench', ...args], env: {}, returnOnExit: true });
const module = await WebAssembly.compile(await readFile(path));
const imports = wasi.getImportObject();
let memory;
imports.wasi_snapshot_preview1 = {
  ...imports.wasi_snapshot_preview1,
  clock_time_get: (_id, _precision, out) => {
    const { user, system } = process.cpuUsage();
    new DataView(memory.buffer).setBigUint64(out, BigInt(user + system) * 1000n, true);
    return 0;
  },
};
imports.env = {};
for (const imp of WebAssembly.Module.imports(module)) {
  if (imp.module === 'env') imports.env[imp.name] = () => { throw new Error(`host call ${imp.name}`); };
}
const instance = await WebAssembly.instantiate(module, imports);
memory = instance.exports.memory;
const code = wasi.start({ exports: { memory, _start: instance.exports._start } });
process.exitCode = code ?? 0;
