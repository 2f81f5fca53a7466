"""Prints a daemon's documented config file, to regenerate the shipped copy.

    python -m common.config daemons.virtd.config > daemons/virtd/virtd.conf
"""

from __future__ import annotations

import importlib
import sys


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m common.config MODULE  (a module with a SCHEMA)", file=sys.stderr)
        return 2
    sys.stdout.write(importlib.import_module(argv[0]).SCHEMA.render())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
