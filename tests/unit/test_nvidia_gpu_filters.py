"""apt_components_plan and apt_sources_add_components add contrib, non-free and non-free-firmware
to Debian's entries, in either source format, and leave everything else as it was."""

import pytest
from ansible.errors import AnsibleFilterError

from filter_plugins.nvidia_gpu import FilterModule

apt_components_plan = FilterModule().filters()["apt_components_plan"]
apt_sources_add_components = FilterModule().filters()["apt_sources_add_components"]

SUITES = ["bookworm", "bookworm-updates", "bookworm-security"]
COMPONENTS = ["contrib", "non-free", "non-free-firmware"]
ALL = {suite: COMPONENTS for suite in SUITES}

# What the lab image has (mmdebstrap writes one-line entries).
ONE_LINE = """\
deb http://deb.debian.org/debian bookworm main

deb http://deb.debian.org/debian bookworm-updates main

deb http://deb.debian.org/debian-security bookworm-security main
"""

# What Debian's cloud images have.
DEB822 = """\
Types: deb deb-src
URIs: mirror+file:///etc/apt/mirrors/debian.list
Suites: bookworm bookworm-updates bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb deb-src
URIs: mirror+file:///etc/apt/mirrors/debian-security.list
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""


def indextargets(*entries):
    """Lines as the role asks `apt-get indextargets` for them: release, component, file:entry."""
    return [f"{release}|{component}|{entry}" for release, component, entry in entries]


# --------------------------------------------------------------------------- apt_components_plan


def test_the_plan_lists_what_each_suite_lacks_and_where_its_entries_are():
    lines = indextargets(
        ("bookworm", "main", "/etc/apt/sources.list:1"),
        ("bookworm", "main", "/etc/apt/sources.list:1"),  # indextargets lists each architecture
        ("bookworm-updates", "main", "/etc/apt/sources.list:2"),
        ("bookworm-security", "main", "/etc/apt/sources.list.d/security.list:1"),
    )
    assert apt_components_plan(lines, SUITES, COMPONENTS) == {
        "configured": SUITES,
        "missing": ALL,
        "files": ["/etc/apt/sources.list", "/etc/apt/sources.list.d/security.list"],
    }


def test_components_from_any_file_count_and_nothing_is_due_when_all_are_there():
    lines = indextargets(
        ("bookworm", "main", "/etc/apt/sources.list:1"),
        *[("bookworm", component, "/etc/apt/sources.list.d/extra.list:1") for component in COMPONENTS],
    )
    assert apt_components_plan(lines, ["bookworm"], COMPONENTS) == {
        "configured": ["bookworm"],
        "missing": {},
        "files": [],
    }


def test_only_the_components_a_suite_lacks_are_planned():
    lines = indextargets(("bookworm", "main", "/a.sources:1"), ("bookworm", "contrib", "/a.sources:1"))
    assert apt_components_plan(lines, ["bookworm"], COMPONENTS)["missing"] == {
        "bookworm": ["non-free", "non-free-firmware"]
    }


def test_a_suite_apt_does_not_know_is_not_configured_and_not_planned():
    plan = apt_components_plan(indextargets(("bookworm", "main", "/a.list:1")), ["bookworm-backports"], COMPONENTS)
    assert plan == {"configured": [], "missing": {}, "files": []}


def test_a_file_without_a_main_entry_of_the_suite_is_not_edited():
    lines = indextargets(("bookworm", "main", "/a.list:1"), ("bookworm", "stable", "/docker.list:1"))
    assert apt_components_plan(lines, ["bookworm"], COMPONENTS)["files"] == ["/a.list"]


def test_a_flat_repository_without_release_or_component_is_ignored():
    lines = indextargets(("", "", "/etc/apt/sources.list.d/local.list:1"), ("bookworm", "main", "/a.list:1"))
    assert apt_components_plan(lines, ["bookworm"], ["contrib"]) == {
        "configured": ["bookworm"],
        "missing": {"bookworm": ["contrib"]},
        "files": ["/a.list"],
    }


@pytest.mark.parametrize("lines", ["bookworm|main|/a.list:1", [42], ["bookworm main /a.list:1"], ["a|b|c"]])
def test_lines_that_are_not_indextargets_output_are_refused(lines):
    with pytest.raises(AnsibleFilterError, match=r"^apt_components_plan: "):
        apt_components_plan(lines, SUITES, COMPONENTS)


@pytest.mark.parametrize(("suites", "components"), [([], COMPONENTS), (SUITES, "non-free"), (["Bookworm"], COMPONENTS)])
def test_bad_suites_or_components_are_refused(suites, components):
    with pytest.raises(AnsibleFilterError, match=r"must be a non-empty list of suite or component names"):
        apt_components_plan([], suites, components)


# --------------------------------------------------------------------------- one-line format


def test_one_line_entries_get_the_components():
    assert apt_sources_add_components(ONE_LINE, "/etc/apt/sources.list", ALL) == ONE_LINE.replace(
        " main\n", " main contrib non-free non-free-firmware\n"
    )


KEY = "signed-by=/usr/share/keyrings/debian-archive-keyring.gpg"
M = "http://m/debian"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (f"deb [arch=amd64 {KEY}] {M} bookworm main", f"deb [arch=amd64 {KEY}] {M} bookworm main +"),
        (f"deb-src {M} bookworm main", f"deb-src {M} bookworm main +"),
        (f"deb {M} bookworm main  # mirror", f"deb {M} bookworm main +  # mirror"),
        # Components already there are not repeated.
        (f"deb {M} bookworm main non-free", f"deb {M} bookworm main non-free contrib non-free-firmware"),
    ],
)  # fmt: skip
def test_one_line_entries_get_what_they_lack_with_options_and_comments_kept(line, expected):
    expected = expected.replace(" +", " contrib non-free non-free-firmware")
    assert apt_sources_add_components(line + "\n", "/etc/apt/sources.list", ALL) == expected + "\n"


@pytest.mark.parametrize(
    "line",
    [
        "# deb http://m/debian bookworm main",
        "deb https://download.docker.com/linux/debian bookworm stable",
        "deb http://m/debian trixie main",
    ],
    ids=["commented", "third-party", "other-suite"],
)
def test_one_line_entries_that_are_not_due_are_left_alone(line):
    assert apt_sources_add_components(line + "\n", "/etc/apt/sources.list", ALL) == line + "\n"


def test_a_file_without_a_final_newline_keeps_its_end():
    assert apt_sources_add_components("deb http://m/debian bookworm main", "/a.list", {"bookworm": ["contrib"]}) == (
        "deb http://m/debian bookworm main contrib"
    )


# --------------------------------------------------------------------------- deb822 format


def test_deb822_stanzas_get_the_components():
    assert apt_sources_add_components(DEB822, "/etc/apt/sources.list.d/debian.sources", ALL) == DEB822.replace(
        "Components: main\n", "Components: main contrib non-free non-free-firmware\n"
    )


def test_a_deb822_stanza_is_edited_only_for_the_suites_that_lack_components():
    edited = apt_sources_add_components(DEB822, "/a.sources", {"bookworm-security": ["contrib"]})
    first, second = DEB822.split("\n\n")
    assert edited == first + "\n\n" + second.replace("Components: main", "Components: main contrib")


@pytest.mark.parametrize(
    "stanza",
    [
        "Types: deb\nURIs: http://m/debian\nSuites: bookworm\nComponents: main\nEnabled: no\n",
        "Types: deb\nURIs: https://download.docker.com/linux/debian\nSuites: bookworm\nComponents: stable\n",
        "Types: deb\nURIs: http://m/debian\nSuites: trixie\nComponents: main\n",
        "# Types: deb\n# URIs: http://m/debian\n# Suites: bookworm\n# Components: main\n",
    ],
)
def test_deb822_stanzas_that_are_not_due_are_left_alone(stanza):
    assert apt_sources_add_components(stanza, "/etc/apt/sources.list.d/x.sources", ALL) == stanza


def test_a_folded_components_field_becomes_one_line_and_comments_stay():
    stanza = "# Debian\nTypes: deb\nURIs: http://m/debian\nSuites: bookworm\nComponents: main\n contrib\nX-Note: kept\n"
    assert apt_sources_add_components(stanza, "/a.sources", ALL) == (
        "# Debian\nTypes: deb\nURIs: http://m/debian\nSuites: bookworm\n"
        "Components: main contrib non-free non-free-firmware\nX-Note: kept\n"
    )


def test_nothing_due_returns_the_text_unchanged():
    assert apt_sources_add_components(DEB822, "/etc/apt/sources.list.d/debian.sources", {}) == DEB822


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("text", "path", "missing", "message"),
    [
        (None, "/a.list", ALL, "the file's text must be a string"),
        (ONE_LINE, "a.list", ALL, "path must be the file's absolute path"),
        (ONE_LINE, "/a.list", ["contrib"], "missing must map suites to components"),
        (ONE_LINE, "/a.list", {"bookworm": []}, "the components of bookworm must be a non-empty list"),
        (ONE_LINE, "/a.list", {"bookworm": ["non free"]}, "the components of bookworm must be a non-empty list"),
    ],
)
def test_bad_input_is_refused_with_what_to_fix(text, path, missing, message):
    with pytest.raises(AnsibleFilterError, match=rf"^apt_sources_add_components: {message}"):
        apt_sources_add_components(text, path, missing)
