"""A supervision tree in one file: ``python examples/supervisor/echo_tree.py``.

The worker runs in a child process forked from the zygote; it is named by
``"echo_tree:worker"``, so the child imports this file by its module name
(the script's folder is on ``sys.path``) and the tree itself is only built
under ``__main__``.
"""

from typing import Any

from supervisor import (
    Backoff,
    ChildSpec,
    HealthCheck,
    Runtime,
    SupervisorSpec,
    supervisor_child,
)


def worker(link: Any, greeting: str) -> None:  # runs in the child process
    link.send(greeting)                        # sends do not acknowledge the start
    while (msg := link.recv()) != "stop":      # the first wait acknowledges it
        link.send(["echo", msg])


if __name__ == "__main__":
    replies: list[Any] = []
    rt = Runtime()                             # one per process; starts the zygote
    sup = rt.start_supervisor(
        SupervisorSpec("root", strategy="one_for_one", intensity=3, period=5.0),
        [ChildSpec("w1", "echo_tree:worker", args=("hi",),
                   policy=Backoff(initial=0.1), health=HealthCheck(1.0, 0.5, 3)),
         supervisor_child(SupervisorSpec("pool", "one_for_all"),
                          [ChildSpec("p1", "echo_tree:worker", args=("pool up",))])],
        on_message=lambda child_id, msg: replies.append((child_id, msg)))
    rt.subscribe(lambda event: print("event:", event.kind, event.child))
    sup.send("w1", {"any": "msgpack value"})
    rt.run_until(lambda: len(replies) >= 3, timeout=30)  # or run_forever() / run_once()
    for child_id, msg in replies:
        print(child_id, msg)
    rt.close()                                 # whole tree down, zygote down, all reaped
