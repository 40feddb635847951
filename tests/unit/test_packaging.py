"""Packaging: the sdist carries the licence, the tests and the examples, and the metadata names
the licence and the project's URLs. Builds the sdist with setuptools, offline."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_license_is_the_apache_2_text() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License\n                           Version 2.0")
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    assert "END OF TERMS AND CONDITIONS" in text and "APPENDIX" in text


def test_sdist_has_tests_examples_and_metadata(tmp_path: Path) -> None:
    code = ("import sys; from setuptools import build_meta; "
            "print(build_meta.build_sdist(sys.argv[1]))")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    (archive,) = tmp_path.glob("ankplan-*.tar.gz")
    with tarfile.open(archive) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
        info = tar.extractfile(f"{archive.name.removesuffix('.tar.gz')}/PKG-INFO")
        assert info is not None
        metadata = info.read().decode()
    tracked = subprocess.run(["git", "ls-files", "tests", "examples", "inventories",
                              "scripts", "docs"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    missing = [path for path in tracked if path not in names]
    assert not missing, missing[:10]  # every test, example, sample and script is in it
    assert {"LICENSE", "README.md", ".pre-commit-hooks.yaml",
            "src/ankplan/schemas/manifest-v1.schema.json"} <= names
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    assert "License-Expression: Apache-2.0" in metadata and "License-File: LICENSE" in metadata
    assert metadata.count("Project-URL: ") >= 3
