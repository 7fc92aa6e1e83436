"""Runs the wasm bench (a WASI command, bench/wasm_bench.rs) in Wasmtime, the engine Kong's
ngx_wasm_module embeds (PyPI `wasmtime`, pinned in bench/requirements.txt; Cranelift, default
settings). Usage: python bench/wasm_run.py WASM [SECONDS_PER_OP [NAME_FILTER]]

Every WASI clock reads this process's CPU time (`time.process_time_ns`), as bench/wasm_run.mjs
does for V8 and `openssl speed` does natively: the machine is shared, and time other jobs take from
it is not counted. The bench reads the clock once per ~10 ms batch, so the call into Python costs
nothing measurable."""

import struct
import sys
import time

from wasmtime import Engine, Linker, Module, Store, WasiConfig


def _trap(name):
    def f(*_):
        raise RuntimeError(f"host call {name}")

    return f


def _cpu_clock(caller, _clock_id, _precision, out):
    caller["memory"].write(caller, struct.pack("<Q", time.process_time_ns()), out)
    return 0


def main():
    path, args = sys.argv[1], sys.argv[2:]
    engine = Engine()
    store = Store(engine)
    wasi = WasiConfig()
    wasi.argv = ["wasm_bench", *args]
    wasi.inherit_stdout()
    wasi.inherit_stderr()
    store.set_wasi(wasi)
    linker = Linker(engine)
    linker.define_wasi()
    linker.allow_shadowing = True
    module = Module.from_file(engine, path)
    for imp in module.imports:
        if imp.module == "wasi_snapshot_preview1" and imp.name == "clock_time_get":
            linker.define_func(imp.module, imp.name, imp.type, _cpu_clock, access_caller=True)
        # The bench links the crate's rlib, whose proxy-wasm glue keeps its `env` imports; nothing
        # the bench runs calls them: stubs that trap.
        elif imp.module == "env":
            linker.define_func("env", imp.name, imp.type, _trap(imp.name))
    instance = linker.instantiate(store, module)
    instance.exports(store)["_start"](store)


if __name__ == "__main__":
    main()
