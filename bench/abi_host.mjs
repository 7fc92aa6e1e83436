// A counting proxy-wasm host in Node.js (V8): runs the filter's cached-Bearer request path without
// a proxy, counting every host call the filter makes and every call the host makes into it, and
// timing the wasm side. Usage:
//   node --no-warnings bench/abi_host.mjs FILTER.wasm [REQUESTS [FIXTURES.json]]
// Prints one JSON line: host calls and VM entries per request (by name; a tick every 10,000
// requests included, as a worker at 10k req/s has them), CPU µs per request (this shim's own
// JavaScript included: run it on the no-op filter, bench/noop_filter.rs, for that floor, and on
// bench/floor_filter.rs for the floor of the Bearer request's host calls), the
// filter's counters as the host holds them, the VM's linear memory and the shared data it made.
//
// It behaves like Envoy (or, with ABI_HOST=ngx, like ngx_wasm_module) where the filter asks (`plugin_vm_id` answers, so the filter takes Envoy's
// host facts); one root context; request contexts created and deleted as Envoy does (create,
// request headers, response headers, log, done, delete). The configuration is the bench's:
// static `jwks`, the fixture's RS256 token, which must be allowed (each request's verdict is
// checked: a refusal ends the run with an error).
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';
import process, { argv } from 'node:process';

const [wasmPath, requestsArg, fixturesArg] = argv.slice(2);
const REQUESTS = Number(requestsArg ?? 200000);
// ABI_HOST=ngx: answer as ngx_wasm_module does (no `plugin_vm_id`), so the filter takes Kong's
// engine's host facts (it then reads the whole header map: repeated headers stay apart there).
const NGX = process.env.ABI_HOST === 'ngx';
const fixtures = JSON.parse(await readFile(fixturesArg ?? new URL('./fixtures.json', import.meta.url), 'utf8'));
const config = JSON.stringify({ issuer: fixtures.issuer, audiences: [fixtures.audience], jwks: fixtures.jwks });

const module = await WebAssembly.compile(await readFile(wasmPath));
const wasi = new WASI({ version: 'preview1', args: [], env: {}, returnOnExit: true });
const imports = wasi.getImportObject();
let memory, exports;
const enc = new TextEncoder();
const dec = new TextDecoder();

const counts = new Map();
let counting = true;
const count = (name) => { if (counting) counts.set(name, (counts.get(name) ?? 0) + 1); };
const u8 = () => new Uint8Array(memory.buffer);
const dv = () => new DataView(memory.buffer);
const str = (ptr, len) => dec.decode(u8().subarray(ptr, ptr + len));
// The current time, read from the OS once per 1024 reads (the shim's own cost stays small).
let clockReads = 0, clockNs = 0n;
// Hands `bytes` to the guest as the SDK expects: memory from `proxy_on_memory_allocate` (a VM
// entry, counted), its address and size written at `retPtr` / `retSize`.
function give(bytes, retPtr, retSize) {
  count('(vm entry) proxy_on_memory_allocate');
  const p = exports.proxy_on_memory_allocate(bytes.length);
  u8().set(bytes, p);
  dv().setUint32(retPtr, p, true);
  dv().setUint32(retSize, bytes.length, true);
  return 0;
}

let requestHeaders = new Map();
let requestEdited = false;
let encodedRequest = new Map();
const responseHeaders = new Map();
const shared = new Map(); // key -> {value, cas}
let sent = null; // a local response
const metrics = new Map(); // id -> {name, value}
const metricIds = new Map();
let tickPeriod = 0;

// The proxy-wasm serialization of a header map: the count, (name size, value size) of each, then
// each name and value NUL-terminated.
function serialize(headerMap) {
  const headers = [...headerMap].map(([k, v]) => [enc.encode(k), enc.encode(v)]);
  const size = 4 + headers.length * 8 + headers.reduce((n, [k, v]) => n + k.length + v.length + 2, 0);
  const buf = new Uint8Array(size);
  const d = new DataView(buf.buffer);
  d.setUint32(0, headers.length, true);
  let off = 4;
  for (const [k, v] of headers) { d.setUint32(off, k.length, true); d.setUint32(off + 4, v.length, true); off += 8; }
  for (const [k, v] of headers) { buf.set(k, off); off += k.length + 1; buf.set(v, off); off += v.length + 1; }
  return buf;
}

const host = {
  proxy_log: (_level, ptr, len) => { count('proxy_log'); if (process.env.ABI_LOG) console.error(str(ptr, len)); return 0; },
  proxy_get_current_time_nanoseconds: (ret) => {
    count('proxy_get_current_time_nanoseconds');
    if ((clockReads++ & 1023) === 0) clockNs = BigInt(Date.now()) * 1000000n;
    dv().setBigUint64(ret, clockNs, true);
    return 0;
  },
  proxy_get_property: (ptr, len, retPtr, retSize) => {
    count('proxy_get_property');
    const path = str(ptr, len).split('\0').filter(Boolean).join('.');
    if (path === 'plugin_vm_id' && !NGX) return give(enc.encode('bench'), retPtr, retSize);
    return 1;
  },
  proxy_get_buffer_bytes: (type, start, max, retPtr, retSize) => {
    count('proxy_get_buffer_bytes');
    if (type === 7) return give(enc.encode(config).subarray(start >>> 0, (start >>> 0) + (max >>> 0)), retPtr, retSize);
    return 1;
  },
  proxy_get_header_map_value: (map, kp, kl, retPtr, retSize) => {
    count('proxy_get_header_map_value');
    const name = str(kp, kl);
    if (map === 0 && !requestEdited) {
      const v = encodedRequest.get(name); // the request as sent: its values encoded once
      return v === undefined ? 1 : give(v, retPtr, retSize);
    }
    const v = (map === 0 ? requestHeaders : responseHeaders).get(name);
    return v === undefined ? 1 : give(enc.encode(v), retPtr, retSize);
  },
  proxy_get_header_map_pairs: (map, retPtr, retSize) => {
    count('proxy_get_header_map_pairs');
    if (map === 0 && !requestEdited) return give(serializedRequest, retPtr, retSize);
    return give(serialize(map === 0 ? requestHeaders : responseHeaders), retPtr, retSize);
  },
  proxy_replace_header_map_value: (map, kp, kl, vp, vl) => {
    count('proxy_replace_header_map_value');
    if (map === 0) requestEdited = true;
    (map === 0 ? requestHeaders : responseHeaders).set(str(kp, kl), str(vp, vl));
    return 0;
  },
  proxy_add_header_map_value: (map, kp, kl, vp, vl) => {
    count('proxy_add_header_map_value');
    if (map === 0) requestEdited = true;
    (map === 0 ? requestHeaders : responseHeaders).set(str(kp, kl), str(vp, vl));
    return 0;
  },
  proxy_remove_header_map_value: (map, kp, kl) => {
    count('proxy_remove_header_map_value');
    if (map === 0) requestEdited = true;
    (map === 0 ? requestHeaders : responseHeaders).delete(str(kp, kl));
    return 0;
  },
  proxy_get_shared_data: (kp, kl, retPtr, retSize, retCas) => {
    count('proxy_get_shared_data');
    const e = shared.get(str(kp, kl));
    if (!e) return 1;
    dv().setUint32(retCas, e.cas, true);
    return give(e.value, retPtr, retSize);
  },
  proxy_set_shared_data: (kp, kl, vp, vl, cas) => {
    count('proxy_set_shared_data');
    const key = str(kp, kl);
    const e = shared.get(key);
    if (cas !== 0 && e && e.cas !== cas) return 8;
    shared.set(key, { value: u8().slice(vp, vp + vl), cas: (e?.cas ?? 0) + 1 });
    return 0;
  },
  proxy_define_metric: (_type, np, nl, ret) => {
    count('proxy_define_metric');
    const name = str(np, nl);
    let id = metricIds.get(name);
    if (id === undefined) { id = metricIds.size + 1; metricIds.set(name, id); metrics.set(id, { name, value: 0n }); }
    dv().setUint32(ret, id, true);
    return 0;
  },
  proxy_increment_metric: (id, offset) => {
    count('proxy_increment_metric');
    const m = metrics.get(id);
    if (!m) return 1;
    m.value += BigInt(offset);
    return 0;
  },
  proxy_set_tick_period_milliseconds: (ms) => { count('proxy_set_tick_period_milliseconds'); tickPeriod = ms; return 0; },
  proxy_send_local_response: (status, _dp, _dl, bp, bl) => {
    count('proxy_send_local_response');
    sent = { status, body: str(bp, bl) };
    return 0;
  },
  proxy_set_effective_context: () => { count('proxy_set_effective_context'); return 0; },
  proxy_continue_stream: () => { count('proxy_continue_stream'); return 0; },
};
imports.env = {};
for (const imp of WebAssembly.Module.imports(module)) {
  if (imp.module !== 'env') continue;
  imports.env[imp.name] = host[imp.name] ?? (() => { throw new Error(`host call ${imp.name} not in this shim`); });
}
for (const name of ['random_get', 'clock_time_get', 'fd_write', 'environ_get', 'environ_sizes_get']) {
  const f = imports.wasi_snapshot_preview1[name];
  if (f) imports.wasi_snapshot_preview1[name] = (...a) => { count(`wasi ${name}`); return f(...a); };
}
const instance = await WebAssembly.instantiate(module, imports);
exports = instance.exports;
memory = exports.memory;
wasi.initialize({ exports: { memory, _initialize: exports._initialize } });

const ROOT = 1;
exports.proxy_on_context_create(ROOT, 0);
exports.proxy_on_vm_start(ROOT, 0);
if (!exports.proxy_on_configure(ROOT, config.length)) throw new Error('configuration refused');

const token = fixtures.token;
const baseHeaders = [[':method', 'GET'], [':path', '/bench'], [':authority', 'api.bench.example'], [':scheme', 'http'],
  ['user-agent', 'wrk'], ['authorization', `Bearer ${token}`]];
// Envoy's request stream as the filter sees it: every VM entry Envoy makes for one request.
encodedRequest = new Map(baseHeaders.map(([k, v]) => [k, enc.encode(v)]));
const serializedRequest = serialize(new Map(baseHeaders));
function request(ctx) {
  requestHeaders = new Map(baseHeaders);
  requestEdited = false;
  sent = null;
  count('(vm entry) proxy_on_context_create');
  exports.proxy_on_context_create(ctx, ROOT);
  count('(vm entry) proxy_on_request_headers');
  const action = exports.proxy_on_request_headers(ctx, requestHeaders.size, 1);
  if (action !== 0 || sent) throw new Error(`request ${ctx} not allowed: action ${action}, ${JSON.stringify(sent)}`);
  count('(vm entry) proxy_on_response_headers');
  exports.proxy_on_response_headers(ctx, 2, 1);
  count('(vm entry) proxy_on_log');
  exports.proxy_on_log(ctx);
  count('(vm entry) proxy_on_done');
  exports.proxy_on_done(ctx);
  count('(vm entry) proxy_on_delete');
  exports.proxy_on_delete(ctx);
}

// Warm-up (V8 tiers up; the first request verifies the token, later ones hit the cache).
let ctx = 2;
counting = false;
for (let i = 0; i < Math.min(20000, REQUESTS); i++) request(ctx++);
exports.proxy_on_tick(ROOT);
counts.clear();
counting = true;
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
const TICK_EVERY = 10000; // ticks in the timed loop, as a worker at 10k req/s has them
let ticks = 0;
for (let i = 0; i < REQUESTS; i++) {
  request(ctx++);
  if ((i + 1) % TICK_EVERY === 0) { count('(vm entry) proxy_on_tick'); exports.proxy_on_tick(ROOT); ticks++; }
}
const cpu = process.cpuUsage(cpu0);
const wall = Number(process.hrtime.bigint() - t0);
const perRequest = Object.fromEntries([...counts].sort().map(([k, v]) => [k, +(v / REQUESTS).toFixed(4)]));
const hostCalls = [...counts].filter(([k]) => !k.startsWith('(vm entry)')).reduce((n, [, v]) => n + v, 0) / REQUESTS;
const vmEntries = [...counts].filter(([k]) => k.startsWith('(vm entry)')).reduce((n, [, v]) => n + v, 0) / REQUESTS;
const counters = Object.fromEntries([...metrics.values()].map((m) => [m.name, Number(m.value)]));
console.log(JSON.stringify({
  wasm: wasmPath.split('/').pop(),
  requests: REQUESTS,
  ticks,
  host_calls_per_request: +hostCalls.toFixed(3),
  vm_entries_per_request: +vmEntries.toFixed(3),
  cpu_us_per_request: +((cpu.user + cpu.system) / REQUESTS).toFixed(3),
  wall_us_per_request: +(wall / 1000 / REQUESTS).toFixed(3),
  per_request: perRequest,
  counters,
  tick_period_ms: tickPeriod,
  wasm_memory_bytes: memory.buffer.byteLength,
  shared_data: { entries: shared.size, bytes: [...shared].reduce((n, [k, v]) => n + k.length + v.value.length, 0) },
}));
