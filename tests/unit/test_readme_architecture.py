"""README's architecture sketch names only paths that exist (newcomer52: the sketch had gone stale).

In the section "Architecture", up to its first paragraph after the module list: a backticked name with a slash that
starts at a top-level directory (`domain/services/`) is a path from the repository's root; any other backticked
file or directory name (`shops.py`, `js/`) is a path inside the nearest directory named before it on its line or
bullet (`domain/`: `shops.py` is `domain/shops.py`). Code names (`Shop.attention`, `schedule_tick`) are not paths.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
TOP = ("domain/", "adapters/", "gql/", "workers/", "sandbox/", "tests/", "bench/", "docs/", "scripts/")
TOKEN = re.compile(r"`([\w./-]+)`|\(|\)")
FILE = re.compile(r"[\w-]+(?:\.(?:py|js|css|html)|/)$")


def _sketch() -> str:
    """The section's text up to the bullet list's end: the diagram, the intro and the module groups."""
    section = README.split("\n## Architecture\n", 1)[1].split("\n## ", 1)[0]
    return section.split("\n- **Use cases**", 1)[0]


def _paths() -> list[str]:
    """Every path the sketch names, from the repository's root."""
    found: list[str] = []
    for bullet in re.split(r"\n(?=- )", _sketch()):
        bases = [""]  # where names resolve: the bullet's directory, then a directory's inside its parentheses
        last_dir = ""  # the directory the token just before named, if it named one
        for token in TOKEN.finditer(bullet):
            name, path = token.group(1), ""
            if token.group(0) == "(":
                bases.append(last_dir or bases[-1])
            elif token.group(0) == ")":
                if len(bases) > 1:
                    bases.pop()
            elif name.startswith(TOP):
                path = name
                if len(bases) == 1 and name.endswith("/"):
                    bases[0] = name
            elif FILE.fullmatch(name) and bases[-1]:
                path = bases[-1] + name
            if path:
                found.append(path)
            last_dir = path if path.endswith("/") else ""
    return found


def test_the_architecture_sketch_names_enough_paths_to_be_checked() -> None:
    # a change of the section's shape (or of the patterns above) must not make the check below vacuous
    assert len(_paths()) >= 60


def test_every_path_the_architecture_sketch_names_exists() -> None:
    # given each path the sketch names, then the tree has it (a file, or a directory when it ends with a slash)
    missing = [path for path in _paths() if not (ROOT / path).exists() or path.endswith("/") != (ROOT / path).is_dir()]
    assert missing == []
