"""``python -m caxton.node``: run a node in the foreground."""

from caxton.node.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
