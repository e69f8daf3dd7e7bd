"""Figures G: agents compiled from Rust and C, each beside the WAT echo in the same run.

Workload: the echo example in Rust and in C (``examples/rust/echo``,
``examples/c/echo``) is built from source with ``caxton build``'s code into
the run's work folder; ``examples/agents/echo.wat`` is the baseline of every
row. Then, for each language:

- **handle**: one in-process instance on the fast call path handles 100-byte
  messages back to back; the three agents take turns (WAT, Rust, C) for
  ``repeats`` rounds of ``handle_seconds / 2`` each, so machine load weighs
  on all alike. Target: >= 100k/s, like the WAT echo.
- **compile**: ``load_module`` with no cache (wasmtime compiles the module)
  and from a warm ``ModuleCache`` (deserialising the stored artifact),
  ``COMPILES`` times each; the median.
- **size**: the module as the compiler wrote it (release, symbols stripped)
  beside the WAT echo's bytes, and after ``wasm-opt -O2`` + ``wasm-strip``
  beside the size before.
- **spawn / USS**: on one node, ``SPAWNS`` agents of each kind spawned in
  turns (``client.spawn`` returns once the agent serves), each called once,
  then every agent process's USS is read with psutil.

A language whose toolchain is missing has its rows marked unavailable with
the Debian packages to install.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from caxton.bench.agents import HEALTH_OFF, echo_module
from caxton.bench.context import Context, Results
from caxton.bench.errors import BenchUnavailable
from caxton.bench.nodes import PROJECT_ROOT
from caxton.bench.plan import PAYLOAD_BYTES
from caxton.bench.results import Measurement
from caxton.bench.stats import median, percentile
from caxton.bench.timing import MB, MS, clock

LANGUAGES = ("rust", "c")
COMPILES = 5
BATCH = 1_000
KB = 1_000.0


@dataclass
class Agent:
    """One echo module under test: the WAT baseline or a compiled one."""

    name: str
    module: bytes
    bytes_compiled: int = 0
    bytes_final: int = 0
    build_s: float = 0.0


def _build(ctx: Context, language: str) -> Agent:
    from caxton.guests import BuildFailed, ToolchainMissing, build_project

    out = ctx.workdir / "guests"
    try:
        result = build_project(PROJECT_ROOT / "examples" / language / "echo",
                               out_dir=out / language, cache_dir=out / "sdk")
    except ToolchainMissing as exc:
        raise BenchUnavailable(f"skipped, {language} toolchain missing: {exc}") from None
    except BuildFailed as exc:
        raise BenchUnavailable(f"building the {language} echo failed: {exc}") from None
    return Agent(language, result.path.read_bytes(), result.bytes_compiled, result.bytes_final,
                 result.compile_s + result.sdk_compile_s)


def _rate(instance: object, seconds: float) -> float:
    from caxton.wasm import AgentInstance

    assert isinstance(instance, AgentInstance)
    payload = bytes(range(PAYLOAD_BYTES))
    handle = instance.handle
    for _ in range(BATCH):
        handle(payload)
    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        for _ in range(BATCH):
            outcome = handle(payload)
        count += BATCH
        now = time.perf_counter()
        if now >= deadline:
            break
    if not outcome.ok or outcome.reply != payload:
        raise BenchUnavailable(f"an echo misbehaved during the benchmark: {outcome}")
    return count / (now - started)


def _handle_rates(ctx: Context, agents: list[Agent]) -> dict[str, list[float]]:
    from caxton.wasm import AgentInstance, Limits, NullImports, load_module

    instances = {a.name: AgentInstance(load_module(a.module), Limits(), NullImports())
                 for a in agents}
    rates: dict[str, list[float]] = {a.name: [] for a in agents}
    try:
        for _ in range(ctx.plan.repeats):
            for agent in agents:
                rates[agent.name].append(_rate(instances[agent.name],
                                               ctx.plan.handle_seconds / 2))
    finally:
        for instance in instances.values():
            instance.close()
    return rates


def _compile_times(agent: Agent) -> tuple[list[float], list[float]]:
    from caxton.wasm import ModuleCache, load_module

    cold: list[float] = []
    cached: list[float] = []
    with tempfile.TemporaryDirectory(prefix="caxton-bench-cache-") as directory:
        cache = ModuleCache(Path(directory))
        load_module(agent.module, cache=cache)  # fills the cache
        for _ in range(COMPILES):
            t0 = clock()
            load_module(agent.module)
            cold.append(clock() - t0)
            t0 = clock()
            load_module(agent.module, cache=cache)
            cached.append(clock() - t0)
    return cold, cached


def _spawn_and_uss(ctx: Context, agents: list[Agent]) -> dict[str, tuple[list[float],
                                                                          list[float]]]:
    spawns = 5 if ctx.plan.quick else 20
    payload = b"g" * PAYLOAD_BYTES
    found: dict[str, tuple[list[float], list[float]]] = {a.name: ([], []) for a in agents}
    with ctx.node("guests") as node, node.client(timeout=60.0) as client:
        for agent in agents:  # warm-up: the node compiles each module once
            client.spawn(f"warm-{agent.name}", agent.module, health=HEALTH_OFF)
            client.remove(f"warm-{agent.name}")
        for i in range(spawns):
            for agent in agents:
                name = f"{agent.name}-{i}"
                t0 = clock()
                client.spawn(name, agent.module, health=HEALTH_OFF)
                found[agent.name][0].append(clock() - t0)
                if client.call(name, payload) != payload:
                    raise BenchUnavailable(f"agent {name} did not echo")
        ctx.say(f"  guests: reading USS of {spawns * len(agents)} agent processes")
        for status in client.list_agents():
            kind = status.name.rsplit("-", 1)[0]
            if status.pid is not None and kind in found:
                found[kind][1].append(psutil.Process(status.pid).memory_full_info().uss / MB)
    return found


def run(ctx: Context) -> Results:
    wat = Agent("wat", echo_module())
    from caxton.wasm import module_bytes

    wat.bytes_compiled = wat.bytes_final = len(module_bytes(wat.module))
    results: Results = {}
    agents = [wat]
    for language in LANGUAGES:
        try:
            ctx.say(f"  guests: building the {language} echo")
            agents.append(_build(ctx, language))
        except BenchUnavailable as exc:
            ctx.say(f"  guests: {exc}")
            for kind in ("handle", "compile", "cache", "size", "size.opt", "spawn", "uss"):
                results[f"guests.{kind}.{language}"] = str(exc)
    if len(agents) == 1:
        return results
    names = ", ".join(a.name for a in agents)
    ctx.say(f"  guests: handle rates ({names}), {ctx.plan.repeats} rounds")
    rates = _handle_rates(ctx, agents)
    ctx.say("  guests: compile times, cold and from the cache")
    compiles = {a.name: _compile_times(a) for a in agents}
    ctx.say("  guests: spawn and idle USS on a node")
    spawned = _spawn_and_uss(ctx, agents)
    base_cold, base_cached = compiles["wat"]
    base_spawn, base_uss = spawned["wat"]
    for agent in agents[1:]:
        lang = agent.name
        results[f"guests.handle.{lang}"] = Measurement(
            median(rates[lang]), None, median(rates["wat"]), len(rates[lang]),
            {"rates": rates[lang], "wat_rates": rates["wat"]})
        cold, cached = compiles[lang]
        results[f"guests.compile.{lang}"] = Measurement(
            median(cold) * MS, None, median(base_cold) * MS, len(cold),
            {"build_s": round(agent.build_s, 3)})
        results[f"guests.cache.{lang}"] = Measurement(
            median(cached) * MS, None, median(base_cached) * MS, len(cached))
        results[f"guests.size.{lang}"] = Measurement(
            agent.bytes_compiled / KB, None, wat.bytes_final / KB, 1,
            {"bytes": agent.bytes_compiled, "wat_bytes": wat.bytes_final})
        results[f"guests.size.opt.{lang}"] = Measurement(
            agent.bytes_final / KB, None, agent.bytes_compiled / KB, 1,
            {"bytes": agent.bytes_final, "before_bytes": agent.bytes_compiled})
        spawn_ms = [s * MS for s in spawned[lang][0]]
        results[f"guests.spawn.{lang}"] = Measurement(
            median(spawn_ms), percentile(spawn_ms, 95), median(base_spawn) * MS, len(spawn_ms))
        uss = spawned[lang][1]
        if not uss:
            results[f"guests.uss.{lang}"] = "no agent process to measure"
            continue
        results[f"guests.uss.{lang}"] = Measurement(
            median(uss), percentile(uss, 95), statistics.median(base_uss), len(uss))
    return results
