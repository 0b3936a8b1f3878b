"""tools/install_collections.py installs exactly the pinned collections, or says what to fix."""

import json
import zipfile
from pathlib import Path

import pytest

from tools import install_collections as ic

ROOT = Path(__file__).resolve().parents[2]


Wanted = ic.Wanted
CollectionError = ic.CollectionError

REQUIREMENTS = """\
collections:
  - name: amazon.aws
    version: "11.4.0"
  - name: community.general
    version: "10.0.0"
"""
WANTED = [Wanted("amazon", "aws", "11.4.0"), Wanted("community", "general", "10.0.0")]


def make_wheel(path: Path, collections: dict[str, tuple[str, dict[str, str]]]) -> Path:
    """A zip shaped like the `ansible` wheel: one MANIFEST.json and one plugin per collection."""
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("ansible-14.5.0.dist-info/METADATA", "Name: ansible\nVersion: 14.5.0\n")
        for fqcn, (version, dependencies) in collections.items():
            namespace, name = fqcn.split(".")
            info = {"namespace": namespace, "name": name, "version": version, "dependencies": dependencies}
            base = f"ansible_collections/{namespace}/{name}"
            wheel.writestr(f"{base}/MANIFEST.json", json.dumps({"collection_info": info}))
            wheel.writestr(f"{base}/plugins/modules/{name}_info.py", f"# {fqcn} {version}\n")
    return path


@pytest.fixture
def fake_wheel(tmp_path: Path) -> Path:
    """Two requested collections plus one (containers.podman) that nobody asked for."""
    return make_wheel(
        tmp_path / "ansible-14.5.0-py3-none-any.whl",
        {
            "amazon.aws": ("11.4.0", {}),
            "community.general": ("10.0.0", {"amazon.aws": ">=9.0.0"}),
            "containers.podman": ("1.21.0", {}),
        },
    )


def installed_files(dest: Path) -> set[str]:
    return {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}


# ------------------------------------------------------------------ parse_requirements


def test_requirements_give_name_and_exact_version_in_order():
    assert ic.parse_requirements(REQUIREMENTS) == WANTED


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("collections: [amazon.aws\n", "is not valid YAML", id="invalid-yaml"),
        pytest.param("collections: []\n", "needs a non-empty `collections:` list", id="empty-list"),
        pytest.param("roles: []\n", "needs a non-empty `collections:` list", id="no-collections-key"),
        pytest.param("collections:\n  - version: '1.0.0'\n", "write it as `- name: ", id="missing-name"),
        pytest.param("collections:\n  - amazon.aws\n", "write it as `- name: ", id="bare-string"),
        pytest.param(
            "collections:\n  - name: Amazon.AWS\n    version: '1.0.0'\n", "is not a collection name", id="bad-name"
        ),
        pytest.param(
            "collections:\n  - name: amazon\n    version: '1.0.0'\n", "is not a collection name", id="no-namespace"
        ),
        pytest.param(
            "collections:\n  - name: amazon.aws\n    version: '>=1.0.0'\n",
            "needs an exact version such as \"1.2.3\", not '>=1.0.0'",
            id="version-range",
        ),
        pytest.param(
            "collections:\n  - name: amazon.aws\n    version: 1.0\n",
            "needs an exact version such as \"1.2.3\", not '1.0'",
            id="version-two-parts",
        ),
        pytest.param(
            "collections:\n  - name: amazon.aws\n",
            "needs an exact version such as \"1.2.3\", not 'nothing'",
            id="version-missing",
        ),
        pytest.param(
            "collections:\n  - name: amazon.aws\n    version: '1.0.0'\n    source: https://galaxy.example\n",
            "sets source; only name and version are supported",
            id="extra-key",
        ),
        pytest.param(
            "collections:\n  - name: amazon.aws\n    version: '1.0.0'\n  - name: amazon.aws\n    version: '2.0.0'\n",
            "names amazon.aws more than once",
            id="duplicate",
        ),
    ],
)
def test_bad_requirements_are_refused_with_the_fix(text, message):
    with pytest.raises(CollectionError) as err:
        ic.parse_requirements(text, "requirements.yml")
    assert message in str(err.value)
    assert str(err.value).startswith("requirements.yml")


# ------------------------------------------------------------------ check_against_wheel


def test_collection_missing_from_the_wheel_is_refused():
    with pytest.raises(CollectionError, match=r"community\.general is not in ansible\.whl"):
        ic.check_against_wheel(WANTED, {"amazon.aws": {"version": "11.4.0"}}, "ansible.whl")


def test_version_mismatch_names_both_versions():
    available = {"amazon.aws": {"version": "11.3.0"}, "community.general": {"version": "10.0.0"}}
    with pytest.raises(CollectionError) as err:
        ic.check_against_wheel(WANTED, available, "ansible.whl")
    assert "asks for 11.4.0 but ansible.whl carries 11.3.0" in str(err.value)
    assert 'set version: "11.3.0"' in str(err.value)


def test_dependency_not_in_requirements_is_refused():
    available = {"amazon.aws": {"version": "11.4.0", "dependencies": {"community.crypto": ">=2.0.0"}}}
    with pytest.raises(CollectionError, match=r"needs community\.crypto >=2\.0\.0; add it to requirements\.yml"):
        ic.check_against_wheel(WANTED[:1], available, "ansible.whl")


def test_dependency_at_an_unsatisfying_version_is_refused():
    available = {
        "amazon.aws": {"version": "11.4.0"},
        "community.general": {"version": "10.0.0", "dependencies": {"amazon.aws": ">=12.0.0"}},
    }
    with pytest.raises(CollectionError, match=r"needs amazon\.aws >=12\.0\.0, requirements\.yml has 11\.4\.0"):
        ic.check_against_wheel(WANTED, available, "ansible.whl")


@pytest.mark.parametrize("spec", [">=9.0.0", ">= 9.0.0", ">=9.0.0,<12.0.0", "*", "", "==11.4.0"])
def test_satisfied_dependency_passes(spec):
    available = {
        "amazon.aws": {"version": "11.4.0", "dependencies": {}},
        "community.general": {"version": "10.0.0", "dependencies": {"amazon.aws": spec}},
    }
    ic.check_against_wheel(WANTED, available, "ansible.whl")


# ------------------------------------------------------------------ manifest_versions and extract


def test_manifest_versions_lists_every_collection_in_the_wheel(fake_wheel):
    with zipfile.ZipFile(fake_wheel) as wheel:
        found = ic.manifest_versions(wheel)
    assert {name: info["version"] for name, info in found.items()} == {
        "amazon.aws": "11.4.0",
        "community.general": "10.0.0",
        "containers.podman": "1.21.0",
    }


def test_extract_installs_only_the_requested_collections(fake_wheel, tmp_path):
    dest = tmp_path / "collections"
    with zipfile.ZipFile(fake_wheel) as wheel:
        ic.extract(wheel, WANTED, dest)
    assert installed_files(dest) == {
        "ansible_collections/amazon/aws/MANIFEST.json",
        "ansible_collections/amazon/aws/plugins/modules/aws_info.py",
        "ansible_collections/community/general/MANIFEST.json",
        "ansible_collections/community/general/plugins/modules/general_info.py",
    }


def test_extract_replaces_the_previous_install(fake_wheel, tmp_path):
    dest = tmp_path / "collections"
    stale = dest / "ansible_collections" / "old" / "gone" / "MANIFEST.json"
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")
    with zipfile.ZipFile(fake_wheel) as wheel:
        ic.extract(wheel, WANTED[:1], dest)
    assert installed_files(dest) == {
        "ansible_collections/amazon/aws/MANIFEST.json",
        "ansible_collections/amazon/aws/plugins/modules/aws_info.py",
    }


# ------------------------------------------------------------------ main, end to end


@pytest.fixture
def project(tmp_path: Path, fake_wheel: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """main()'s arguments for a throwaway project whose download returns fake_wheel once."""
    (tmp_path / "requirements.yml").write_text(REQUIREMENTS)
    (tmp_path / "source.txt").write_text("ansible==14.5.0\n")
    downloads = []

    def download_once(source: Path, cache: Path) -> Path:
        if downloads:
            raise AssertionError("download_wheel called again although the inputs did not change")
        downloads.append(source)
        return fake_wheel

    monkeypatch.setattr(ic, "download_wheel", download_once)
    return [
        f"--requirements={tmp_path / 'requirements.yml'}",
        f"--source={tmp_path / 'source.txt'}",
        f"--dest={tmp_path / 'collections'}",
        f"--cache={tmp_path / 'cache'}",
    ]


def test_main_installs_the_requested_collections(project, tmp_path, capsys):
    assert ic.main(project) == 0
    assert "installed amazon.aws 11.4.0, community.general 10.0.0" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "collections" / "ansible_collections").iterdir()) == [
        "amazon",
        "community",
    ]


def test_second_run_with_the_same_inputs_is_up_to_date_without_a_download(project, capsys):
    assert ic.main(project) == 0
    capsys.readouterr()
    assert ic.main(project) == 0
    assert "collections: up to date" in capsys.readouterr().out


def test_main_stops_with_the_problem_and_installs_nothing(project, tmp_path, capsys):
    (tmp_path / "requirements.yml").write_text("collections:\n  - name: amazon.aws\n    version: '11.3.0'\n")
    assert ic.main(project) == 1
    assert "asks for 11.3.0 but ansible-14.5.0-py3-none-any.whl carries 11.4.0" in capsys.readouterr().err
    assert not (tmp_path / "collections" / ".installed.json").exists()
    assert not (tmp_path / "collections" / "ansible_collections").exists()


def test_changed_requirements_install_again(project, tmp_path, fake_wheel, monkeypatch, capsys):
    assert ic.main(project) == 0
    (tmp_path / "requirements.yml").write_text("collections:\n  - name: amazon.aws\n    version: '11.4.0'\n")
    monkeypatch.setattr(ic, "download_wheel", lambda source, cache: fake_wheel)
    capsys.readouterr()
    assert ic.main(project) == 0
    assert "installed amazon.aws 11.4.0 from" in capsys.readouterr().out
    assert not (tmp_path / "collections" / "ansible_collections" / "community").exists()
