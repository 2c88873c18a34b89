"""pyproject.toml's packaging metadata in the form setuptools keeps supporting: `project.license` as an SPDX string
(a TOML table warned BuildBackendWarning three times per install and stops building after 2027-02-18), with the
setuptools floor that reads it (77)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_the_license_is_an_spdx_string_read_by_the_setuptools_floor() -> None:
    project = tomllib.loads(PYPROJECT.read_text())
    assert project["project"]["license"] == "MIT"
    (setuptools,) = [r for r in project["build-system"]["requires"] if r.startswith("setuptools")]
    floor = re.fullmatch(r"setuptools>=(\d+)(\.\d+)*", setuptools)
    assert floor is not None and int(floor.group(1)) >= 77, setuptools
