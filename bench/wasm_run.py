"""Runs the wasm bench (a WASI command) in Wasmtime, the engine Kong's ngx_wasm_module embeds
(PyPI `wasmtime`, pinned in bench/requirements.txt; Cranelift, default settings).
Usage: python bench/wasm_run.py WASM [args...]"""

import sys

from wasmtime import Engine, Linker, Module, Store, WasiConfig


def _trap(name):
    def f(*_):
        raise RuntimeError(f"host call {name}")

    return f


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
    module = Module.from_file(engine, path)
    # The bench links the crate's rlib, whose proxy-wasm glue keeps its `env` imports; nothing the
    # bench runs calls them: stubs that trap.
    for imp in module.imports:
        if imp.module == "env":
            linker.define_func("env", imp.name, imp.type, _trap(imp.name))
    instance = linker.instantiate(store, module)
    instance.exports(store)["_start"](store)


if __name__ == "__main__":
    main()
