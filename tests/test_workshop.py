"""docs/workshop.md runs as written: every command block, in order, against one simulated lab, its output
compared with the page's (prysk). A changed expected line fails here with prysk's unified diff, which names the
page's line numbers."""
from __future__ import annotations

import subprocess

from prysk import test as prysk

from lab import workshop


def test_every_block_of_the_workshop_prints_what_the_page_says(tmp_path):
    root = workshop.lab_folder(tmp_path / "repo")
    env = workshop.environment()
    try:
        with prysk.cwd(root):  # prysk runs the page in the current folder: the page's own lab root
            _, _, diff = prysk.testfile(workshop.WORKSHOP, shell="/bin/bash", env=env)
            diff = b"".join(diff).decode()
    finally:
        subprocess.run([env["LAB_INV"], "down"], cwd=root, env=env, capture_output=True)
    assert not diff, f"docs/workshop.md no longer matches the lab:\n{diff}"


def test_the_workshop_has_at_least_25_command_blocks_each_with_expected_output():
    blocks = workshop.blocks(workshop.WORKSHOP.read_text())
    assert len(blocks) >= 25
    silent = [b.line for b in blocks if not b.expected and not b.commands[0].startswith(("export ", "until "))]
    assert not silent, f"blocks without expected output at lines {silent}"
