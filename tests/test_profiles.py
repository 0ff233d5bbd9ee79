"""The README's version table says what lab/model/profiles.py pins."""
from pathlib import Path

from lab.model import profiles

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def table_row(label: str) -> list[str]:
    line = next(l for l in README.splitlines() if l.startswith(f"| {label} |"))
    return [cell.strip() for cell in line.strip("|").split("|")][1:]


def test_readme_table_lists_every_pinned_version():
    order = ["seed-2.8", "current"]
    assert list(profiles.PROFILES) == order
    for label, attr in (("Linkerd", "linkerd"), ("kind", "kind_cli"), ("node image", "node_image"), ("kubectl", "kubectl"),
                        ("helm", "helm"), ("step CLI", "step")):
        assert table_row(label) == [getattr(profiles.PROFILES[p], attr) for p in order], label
    for cell, p in zip(table_row("MetalLB"), order):
        assert cell.startswith(profiles.PROFILES[p].metallb)


def test_code_asks_a_profile_its_fields_never_its_name_or_version_spelling():
    """A new profile is data: no module branches on which profile (or which Linkerd spelling) it is."""
    import re
    from pathlib import Path

    pattern = re.compile(r"(profile(_name)?|\.name)\s*(==|!=|in)\s*[\"'(](seed|current)|\.linkerd\.startswith\(")
    lab_dir = Path(__file__).resolve().parent.parent / "lab"
    offenders = [f"{p.relative_to(lab_dir.parent)}:{n}: {line.strip()}" for p in sorted(lab_dir.rglob("*.py"))
                 for n, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert offenders == []


def test_the_readmes_modes_table_says_what_each_profile_allows():
    for mode, introduced in profiles.MODES.items():
        table = README[README.index("| mode | introduced |"):]
        row = next(l for l in table.splitlines() if l.startswith(f"| `{mode}`"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[1] == introduced, row
        for name, column in (("seed-2.8", 2), ("current", 3)):
            assert cells[column].startswith("yes" if mode in profiles.PROFILES[name].modes else "no"), row
