"""``python -m caxton.bench``: see ``caxton.bench.cli``."""

from caxton.bench.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
