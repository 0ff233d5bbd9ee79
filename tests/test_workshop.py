"""docs/workshop.md runs as written: every command block, in order, against one simulated lab, its output
compared with the page's (prysk). A changed expected line fails here with prysk's unified diff, which names the
page's line numbers."""
from __future__ import annotations

import subprocess

import pytest

from prysk import test as prysk

from lab import workshop


def test_every_block_of_the_workshop_prints_what_the_page_says(tmp_path):
    root = workshop.lab_folder(tmp_path / "repo")
    # The test run's time scale (lab/pytest_plugin.py): the page's lab, still called `lab`, probes every second
    # instead of the guide's 3 s. The page prints no period, and its waits are `until` loops on what it shows.
    (root / "lab.yaml").write_text("name: lab\nprobe_period: 1\n")
    env = workshop.environment()
    try:
        with prysk.cwd(root):  # prysk runs the page in the current folder: the page's own lab root
            _, _, diff = prysk.testfile(workshop.WORKSHOP, shell="/bin/bash", env=env)
            diff = b"".join(diff).decode()
    finally:
        subprocess.run([env["LAB_INV"], "down"], cwd=root, env=env, capture_output=True)
    assert not diff, f"docs/workshop.md no longer matches the lab at line(s) {_page_lines(diff)}:\n{diff}"


def _page_lines(diff: str) -> str:
    """The page's lines a unified diff says differ (its '-' lines), counted from each hunk's start."""
    lines, number = [], 0
    for row in diff.splitlines():
        if row.startswith("@@"):
            number = int(row.split()[1].lstrip("-").split(",")[0])
        elif row.startswith("---") or row.startswith("+"):
            continue
        elif row.startswith("-"):
            lines.append(number)
            number += 1
        else:
            number += 1
    return ", ".join(map(str, lines)) or "(lines added only)"


def test_the_workshop_has_at_least_25_command_blocks_each_with_expected_output():
    blocks = workshop.blocks(workshop.WORKSHOP.read_text())
    assert len(blocks) >= 25
    silent = [b.line for b in blocks if not b.expected and not b.commands[0].startswith(("export ", "until "))]
    assert not silent, f"blocks without expected output at lines {silent}"


def test_tour_auto_runs_an_excerpt_and_shows_each_command_and_its_output(tmp_path):
    """`./labctl tour --auto` on section 1's start: the commands, their output, the prose before them."""
    root = workshop.lab_folder(tmp_path / "repo")
    text = workshop.WORKSHOP.read_text()
    stop = next(n for n, line in enumerate(text.splitlines(), 1) if "get nodes" in line)
    said = []
    try:
        differing = workshop.tour(True, say=said.append, ask=lambda prompt: pytest.fail("--auto asked"), stop=stop, root=root)
    finally:
        subprocess.run([workshop.environment()["LAB_INV"], "down"], cwd=root, env=workshop.environment(), capture_output=True)
    shown = "\n".join(said)
    assert "$ ./labctl up --backend sim --until loadbalancer" in shown
    assert "$ kubectl config get-contexts -o name" in shown
    assert "east\nkind-east\nkind-west\nwest" in shown
    assert "east-control-plane   Ready" in shown
    assert "Bring up only the clusters and MetalLB first:" in shown
    assert differing == 0, shown  # the tour prints the page's expected output beside what differed
