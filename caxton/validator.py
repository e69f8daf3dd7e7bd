"""The validator process: the validation pipeline run beside the node, not inside it.

The sandbox stage of validation runs the module's own code (``caxton_init``,
the contract vectors) under the limits the spawn asked for: up to the node's
maximum deadline of CPU, up to its maximum of memory. Run on the node's loop,
one hostile spawn froze every other client for as long as its deadline; run
here, a supervised child of the node, it costs the node nothing but a queue.

The process caps its own data segment (``RLIMIT_DATA``), so a module that
fills memory fails its validation here instead of growing anybody's RSS; and
the node kills it if a job outlives its timeout, after which supervision
starts a fresh one. Frames (msgpack lists) on the supervisor link:

    node -> validator   [job_id, wasm, policy, limits, vectors]
    validator -> node   [job_id, report | None, error | None]
"""

from __future__ import annotations

import contextlib
import resource
from typing import Any

from caxton.wasm import ContractVector, Limits, validate
from supervisor import ChildLink


def main(link: ChildLink, config: dict[str, Any]) -> None:
    cap = int(config["memory_bytes"])
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))
    while True:
        job = link.recv()
        if not isinstance(job, list) or len(job) != 5:
            continue
        job_id, wasm, policy, limits, vectors = job
        try:
            report = validate(bytes(wasm), policy=str(policy), limits=Limits.from_dict(limits),
                              vectors=[ContractVector.from_dict(v) for v in vectors])
        except Exception as exc:  # a bug, or memory the cap refused: the job fails, not us
            link.send([job_id, None, f"{type(exc).__name__}: {exc}"[:500]])
            continue
        link.send([job_id, report.to_dict(), None])
