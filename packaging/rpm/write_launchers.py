"""Write the launchers the RPM installs for virtd's console scripts.

`common` and `daemons` live in a private directory, never in site-packages
(DESIGN.md), so a console script must put that directory on sys.path before it
imports anything. The launcher finds it relative to its own location: the
installed /usr/sbin/virtd finds /usr/lib/virtd, and an unpacked payload runs
from where it was unpacked. Entry points come from the wheel's metadata, so
pyproject.toml stays their only source.

Usage: write_launchers.py ENTRY_POINTS_TXT LIBDIR BINDIR DESTDIR NAME...
"""

from __future__ import annotations

import configparser
import os
import sys
from pathlib import Path

LAUNCHER = """\
#!{interpreter} -sP
import os, sys
# virtd's private library directory, relative to this file.
here = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, os.path.normpath(os.path.join(here, {libdir!r})))
from {module} import {function}
sys.exit({function}())
"""


def console_scripts(entry_points_txt: Path) -> dict[str, str]:
    """Script name → "module:function", as the wheel's entry_points.txt declares them."""
    parser = configparser.ConfigParser(delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment, method-assign]  # names are case-sensitive
    parser.read(entry_points_txt, encoding="utf-8")
    return dict(parser["console_scripts"])


def launcher_text(entry_point: str, libdir: str, bindir: str) -> str:
    module, _, function = entry_point.partition(":")
    return LAUNCHER.format(interpreter=sys.executable, libdir=os.path.relpath(libdir, bindir),
                           module=module.strip(), function=function.strip())


def main(argv: list[str]) -> None:
    entry_points_txt, libdir, bindir, destdir, *names = argv
    scripts = console_scripts(Path(entry_points_txt))
    target_dir = Path(destdir + bindir)
    target_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        target = target_dir / name
        target.write_text(launcher_text(scripts[name], libdir, bindir), encoding="utf-8")
        target.chmod(0o755)


if __name__ == "__main__":
    main(sys.argv[1:])
