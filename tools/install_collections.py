#!/usr/bin/env python3
"""Install exactly the collections of requirements.yml without Ansible Galaxy.

The source is the community ``ansible`` wheel from PyPI, pinned with hashes in
requirements/collections-source.txt and downloaded with ``pip --require-hashes``.
From it we extract only the collections requirements.yml names, and only when the
wheel carries the exact version asked for; anything else stops the install with a
message that names the fix. A stamp records what was installed, so a second run
with unchanged inputs does nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import yaml
from packaging.specifiers import InvalidSpecifier, SpecifierSet

EXACT_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
NAME = re.compile(r"^[a-z0-9_]+\.[a-z0-9_]+$")


class CollectionError(Exception):
    """Bad input or a wheel that cannot satisfy requirements.yml."""


@dataclass(frozen=True)
class Wanted:
    namespace: str
    name: str
    version: str

    @property
    def fqcn(self) -> str:
        return f"{self.namespace}.{self.name}"

    @property
    def prefix(self) -> str:
        return f"ansible_collections/{self.namespace}/{self.name}/"


def parse_requirements(text: str, origin: str = "requirements.yml") -> list[Wanted]:
    """Read the collections list; every entry needs a name and an exact version."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise CollectionError(f"{origin} is not valid YAML: {err}") from err
    if not isinstance(data, dict) or not isinstance(data.get("collections"), list) or not data["collections"]:
        raise CollectionError(f"{origin} needs a non-empty `collections:` list")
    wanted: list[Wanted] = []
    for index, entry in enumerate(data["collections"], start=1):
        where = f"{origin} collections entry {index}"
        if not isinstance(entry, dict) or "name" not in entry:
            raise CollectionError(f'{where}: write it as `- name: namespace.collection` with `version: "X.Y.Z"`')
        name = str(entry["name"])
        if not NAME.match(name):
            raise CollectionError(f"{where}: {name!r} is not a collection name like amazon.aws")
        version = str(entry.get("version", ""))
        if not EXACT_VERSION.match(version):
            raise CollectionError(
                f'{where}: {name} needs an exact version such as "1.2.3", not {version or "nothing"!r}'
            )
        extra = sorted(set(entry) - {"name", "version"})
        if extra:
            raise CollectionError(f"{where}: {name} sets {', '.join(extra)}; only name and version are supported")
        namespace, short = name.split(".")
        wanted.append(Wanted(namespace, short, version))
    names = [w.fqcn for w in wanted]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise CollectionError(f"{origin} names {', '.join(duplicates)} more than once")
    return wanted


def manifest_versions(wheel: zipfile.ZipFile) -> dict[str, dict]:
    """collection_info of every collection in the wheel, by FQCN."""
    found = {}
    for member in wheel.namelist():
        parts = member.split("/")
        if len(parts) == 4 and parts[0] == "ansible_collections" and parts[3] == "MANIFEST.json":
            info = json.loads(wheel.read(member))["collection_info"]
            found[f"{info['namespace']}.{info['name']}"] = info
    return found


def check_against_wheel(wanted: list[Wanted], available: dict[str, dict], source: str) -> None:
    """Every wanted collection is in the wheel at its version, with its dependencies named."""
    problems = []
    by_name = {w.fqcn: w for w in wanted}
    for item in wanted:
        info = available.get(item.fqcn)
        if info is None:
            problems.append(f"{item.fqcn} is not in {source}; remove it or pin an `ansible` release that carries it")
            continue
        if info["version"] != item.version:
            problems.append(
                f"{item.fqcn}: requirements.yml asks for {item.version} but {source} carries {info['version']}; "
                f'set version: "{info["version"]}" or pin another `ansible` release'
            )
            continue
        for dep, spec in sorted((info.get("dependencies") or {}).items()):
            if dep not in by_name:
                problems.append(f"{item.fqcn} {item.version} needs {dep} {spec}; add it to requirements.yml")
            elif not version_satisfies(by_name[dep].version, spec):
                problems.append(
                    f"{item.fqcn} {item.version} needs {dep} {spec}, requirements.yml has {by_name[dep].version}"
                )
    if problems:
        raise CollectionError("cannot install the collections:\n  - " + "\n  - ".join(problems))


def version_satisfies(version: str, spec: str) -> bool:
    if spec.strip() in ("", "*"):
        return True
    try:
        return SpecifierSet(spec.replace(" ", "")).contains(version, prereleases=True)
    except InvalidSpecifier as err:
        raise CollectionError(f"cannot read the dependency version {spec!r}: {err}") from err


def extract(wheel: zipfile.ZipFile, wanted: list[Wanted], dest: Path) -> None:
    """Replace dest/ansible_collections with exactly the wanted collections."""
    dest.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=dest))
    try:
        for item in wanted:
            for member in wheel.infolist():
                if member.filename.startswith(item.prefix) and not member.is_dir():
                    wheel.extract(member, staging)
        target = dest / "ansible_collections"
        old = dest / ".old"
        if target.exists():
            target.rename(old)
        (staging / "ansible_collections").rename(target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def digest(*paths: Path) -> str:
    sha = hashlib.sha256()
    for path in paths:
        sha.update(path.read_bytes())
    return sha.hexdigest()


def download_wheel(source: Path, cache: Path) -> Path:
    """Fetch the pinned wheel with pip; --require-hashes refuses any other file."""
    cache.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
        "--require-hashes", "--dest", str(cache), "--requirement", str(source),
    ]  # fmt: skip
    # The machine's pip configuration (extra indexes, find-links) plays no part.
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        raise CollectionError(f"pip could not fetch the wheel pinned in {source}:\n{proc.stderr.strip()}")
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)", source.read_text(), flags=re.M)
    if len(pins) != 1:
        raise CollectionError(f"{source} must pin exactly one package (the `ansible` wheel), found {len(pins)}")
    name, version = pins[0]
    wheels = sorted(cache.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
    if not wheels:
        raise CollectionError(f"pip reported success but no {name} {version} wheel is in {cache}")
    return wheels[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requirements", type=Path, default=Path("requirements.yml"))
    parser.add_argument("--source", type=Path, default=Path("requirements/collections-source.txt"))
    parser.add_argument("--dest", type=Path, default=Path("collections"))
    parser.add_argument("--cache", type=Path, default=Path(".cache/wheels"))
    args = parser.parse_args(argv)

    stamp = args.dest / ".installed.json"
    inputs = digest(args.requirements, args.source)
    try:
        wanted = parse_requirements(args.requirements.read_text(), str(args.requirements))
        if stamp.exists() and json.loads(stamp.read_text()).get("inputs") == inputs:
            print(f"collections: up to date ({', '.join(f'{w.fqcn} {w.version}' for w in wanted)})")
            return 0
        wheel_path = download_wheel(args.source, args.cache)
        with zipfile.ZipFile(wheel_path) as wheel:
            check_against_wheel(wanted, manifest_versions(wheel), wheel_path.name)
            extract(wheel, wanted, args.dest)
    except CollectionError as err:
        print(f"collections: error: {err}", file=sys.stderr)
        return 1
    stamp.write_text(json.dumps({"inputs": inputs, "installed": {w.fqcn: w.version for w in wanted}}, indent=2))
    print(f"collections: installed {', '.join(f'{w.fqcn} {w.version}' for w in wanted)} from {wheel_path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
