"""Wiring observability into a node: hooks on its rooms, the HTTP endpoint, the tick.

The node calls ``attach(node)`` once it has built its rooms, ``tick()`` on
every loop tick and ``close()`` when it stops; nothing else of the node knows
about metrics. With ``metrics`` off in the config nothing is attached: the
rooms keep their no-op hooks, agent processes do not time their calls, and
there is no HTTP endpoint (it would have nothing to serve).
"""

from __future__ import annotations

import logging
from typing import Any

from caxton.observe.http import HttpEndpoint, is_loopback, parse_http
from caxton.observe.observer import Observer

__all__ = ["Observing", "attach"]

log = logging.getLogger("caxton.observe")


class Observing:
    """What a node holds of its observability (both parts None when switched off)."""

    def __init__(self, observer: Observer | None, http: HttpEndpoint | None) -> None:
        self.observer = observer
        self.http = http

    def tick(self) -> None:
        if self.observer is not None:
            self.observer.tick()

    def close(self) -> None:
        if self.http is not None:
            self.http.close()
            self.http = None


def attach(node: Any) -> Observing:
    """Hook an ``Observer`` into ``node``'s rooms and serve it over HTTP as configured.

    An HTTP address that cannot be bound (in use, say) is logged and the node
    runs without it: metrics are a window on the node, never a reason for it
    not to serve. A non-loopback address without ``insecure`` is refused.
    """
    config = node.config
    if not getattr(config, "metrics", True):
        return Observing(None, None)
    observing = Observing(None, None)

    def node_info() -> dict[str, Any]:
        http = observing.http
        recovering = node.agents.recovering
        return {"http": None if http is None else http.address,
                "recovering": None if recovering is None else {
                    "done": recovering[0], "total": recovering[1]}}

    observer = Observer(name=node.name, registry=node.agents.by_name, store=node.store,
                        data_dir=node.data_dir, started=node.context.started,
                        trace_every=getattr(config, "trace_every", 100), node_info=node_info)
    observing.observer = observer
    node.agents.observe = observer
    node.router.observe = observer
    node.agents.modules.observe = observer
    address = getattr(config, "http", None)
    if address:
        host, port = parse_http(address) or ("", 0)
        if host and not is_loopback(host) and not config.insecure:
            raise ValueError(f"--http {address} is reachable from other hosts and serves "
                             "without authentication: use a loopback address, or --insecure")
        if host:
            try:
                observing.http = HttpEndpoint(observer, host, port)
            except OSError as exc:
                log.warning("not serving HTTP on %s: %s", address, exc.strerror or exc)
            else:
                log.info("dashboard and metrics on http://%s/", observing.http.address)
    return observing
