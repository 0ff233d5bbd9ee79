"""Links the 2.18 way and the old way: a lab linked with the deprecated `linkerd multicluster link` runs the
link's own controller and `multicluster check` warns about it; `./labctl relink link-gen` hands the Link to
the extension's controller and removes the old one, and the mirror and its traffic never go.
Runs on a lab of fixtures/topologies/legacy-link.yaml beside the scenarios' lab."""
import threading
from pathlib import Path

import pytest

from lab.parsers import cli_output
from lab import names

TOPOLOGY = Path(__file__).resolve().parent.parent / "fixtures" / "topologies" / "legacy-link.yaml"
MANAGED = "extension is managing controllers"


def test_moving_from_link_to_link_gen_keeps_the_mirror_and_its_traffic(lab):
    if "link-gen" not in lab.cfg.profile.modes:
        pytest.skip(f"{lab.cfg.profile.linkerd} has only `link` (link-gen came with Linkerd 2.18)")
    with lab.topology(TOPOLOGY, "legacy") as old:
        west, ns = old.cluster("west"), old.cfg.namespace
        assert west.get("Deployment", names.MC_NS, "linkerd-service-mirror-east") is not None
        assert west.get("Deployment", names.MC_NS, "controller-east") is None
        warning = cli_output.find_check(west.check(), MANAGED)
        assert warning.result == "warning" and "using legacy service mirror controller for Link: east" in warning.error
        mirror_uid = west.get("Service", ns, "foobar-east")["metadata"]["uid"]

        failures, sent, done = [], [0], threading.Event()

        def keep_sending():
            while not done.is_set():
                result = west.request(old.mirror_url("foobar", "east"))
                sent[0] += 1
                if not result.ok:
                    failures.append(result.describe())

        sender = threading.Thread(target=keep_sending)
        sender.start()
        try:
            old.relink("link-gen")
        finally:
            done.set()
            sender.join()
        assert sent[0] > 0 and not failures, f"{len(failures)} of {sent[0]} requests failed while moving: {failures[:3]}"
        assert west.get("Deployment", names.MC_NS, "linkerd-service-mirror-east") is None
        assert west.get("Deployment", names.MC_NS, "controller-east")["status"]["availableReplicas"] == 1
        assert west.get("Service", ns, "foobar-east")["metadata"]["uid"] == mirror_uid
        assert cli_output.find_check(west.check(), MANAGED).result == "success"
