"""The guide's own kubectl commands, typed against the lab: real kubectl, the lab's kubeconfig, kind's
context names. On the simulation they reach the lab process's Kubernetes API; on kind, the clusters."""
import base64
import hashlib
import json
import os
import re
import ssl
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from official_client import client_for

from lab.render import manifests
from lab import names


def _lines(result) -> list[str]:
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_get_svc_in_west_shows_the_mirror_of_easts_service(lab, west, east):
    rows = _lines(west.kubectl("-n", lab.cfg.namespace, "get", "svc"))
    assert rows[0].split()[:2] == ["NAME", "TYPE"]
    assert any(row.split()[0] == f"foobar-{east.name}" for row in rows[1:]), rows


def test_the_test_runs_kubectl_keeps_its_discovery_cache_out_of_the_users_home(east):
    """kubectl caches discovery per API server address, for good; the test run's labs come and go on new
    ports, so its kubectl runs cache under the run's own KUBECACHEDIR (conftest.py), which the run removes."""
    kubeconfig = yaml.safe_load(Path(east.backend.provider.kubeconfig_path()).read_text())
    server = next(c["cluster"]["server"] for c in kubeconfig["clusters"] if c["name"] == f"kind-{east.name}")
    folder = Path("discovery") / urlsplit(server).netloc.replace(":", "_")
    home = Path.home() / ".kube" / "cache" / folder  # may be there from a run before ours on the same port
    before = {p: p.stat().st_mtime_ns for p in home.rglob("*")} if home.is_dir() else {}
    _lines(east.kubectl("api-resources"))  # reads all of discovery, through the cache
    assert (Path(os.environ["KUBECACHEDIR"]) / folder / "servergroups.json").is_file()
    assert ({p: p.stat().st_mtime_ns for p in home.rglob("*")} if home.is_dir() else {}) == before


def test_get_all_nodes_and_wide_pods_read_as_on_a_kind_cluster(lab, east):
    """`get all` lists the namespace's pods, services, deployments and replicasets; the one node is Ready as
    the control plane; `-o wide` places each pod on it, with its IP."""
    ns = lab.cfg.namespace
    listed = _lines(east.kubectl("-n", ns, "get", "all", "-o", "name"))
    for prefix in ("pod/foobar-", "service/foobar", "deployment.apps/foobar", "replicaset.apps/foobar-"):
        assert any(name.startswith(prefix) for name in listed), (prefix, listed)
    nodes = [row.split() for row in _lines(east.kubectl("get", "nodes"))]
    assert nodes[0] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"] and len(nodes) == 2, nodes
    node, status, roles = nodes[1][:3]
    assert (node, status, roles) == (f"{east.name}-control-plane", "Ready", "control-plane"), nodes
    pods = [row.split() for row in _lines(east.kubectl("-n", ns, "get", "pods", "-o", "wide", "-l", "app=foobar"))]
    header = pods[0]
    assert header[:6] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP"] and "NODE" in header, header
    for row in pods[1:]:
        assert row[header.index("NODE")] == node and row[header.index("IP")].count(".") == 3, row


def test_the_control_plane_runs_the_deployments_linkerd_install_makes(lab, east):
    """`kubectl -n linkerd get deploy`: the profile's release's control plane, every one available."""
    rows = [row.split() for row in _lines(east.kubectl("-n", names.LINKERD_NS, "get", "deploy"))[1:]]
    available = {row[0] for row in rows if row[1].split("/")[0] == row[1].split("/")[1] != "0"}
    wanted = {name for name, _ in lab.cfg.profile.control_plane}
    assert wanted <= available, (wanted, rows)


def test_get_links_lists_the_link_to_east(lab, west, east):
    if not lab.cfg.profile.link_crd:
        import pytest

        pytest.skip(f"{lab.cfg.profile.linkerd} has no Link resource")
    rows = _lines(west.kubectl("get", "links", "-A"))
    assert any(row.split()[:2] == [names.MC_NS, east.name] for row in rows[1:]), rows


def test_removing_and_restoring_the_export_marks_with_kubectl_removes_and_restores_the_mirror(lab, west, east):
    ns, mirror = lab.cfg.namespace, f"foobar-{east.name}"
    field, marks = manifests.export_marks(lab.cfg, east.name)
    verb = "annotate" if field == "annotations" else "label"

    def mirrored() -> bool:
        return bool(west.kubectl("-n", ns, "get", "svc", mirror, "--ignore-not-found", "-o", "name").stdout.strip())

    try:
        _lines(east.kubectl("-n", ns, verb, "svc", "foobar", *(f"{k}-" for k in marks)))
        lab.wait_for(lambda: not mirrored(), 10, f"west to remove {mirror}")
    finally:
        _lines(east.kubectl("-n", ns, verb, "svc", "foobar", "--overwrite", *(f"{k}={v}" for k, v in marks.items())))
        lab.wait_for(mirrored, 10, f"west to mirror {mirror} again")
        lab.wait_for(lambda: west.request(lab.mirror_url("foobar", east.name)).ok, 15, f"west to reach east's foobar through {mirror} again")


def test_scaling_easts_gateway_to_zero_with_kubectl_makes_west_report_it_not_alive(lab, west, east):
    gw, periods = lab.gateway, lab.probe_period * 5 + 2  # three failed probes in a row on edge
    try:
        assert "scaled" in east.kubectl("-n", gw.namespace, "scale", f"deploy/{gw.name}", "--replicas=0").stdout
        lab.wait_for(lambda: west.gateway(east.name) and not west.gateway(east.name).alive, periods,
                     "west to report east's gateway not alive")
    finally:
        _lines(east.kubectl("-n", gw.namespace, "scale", f"deploy/{gw.name}", "--replicas=1"))
        _lines(east.kubectl("-n", gw.namespace, "rollout", "status", f"deploy/{gw.name}", "--timeout=60s"))
        lab.wait_for(lambda: getattr(west.gateway(east.name), "alive", False), periods, "east's gateway to be alive again")
        # The next test file on this worker's lab assumes the link carries traffic: alive is the probe's word, and
        # the mirror's endpoints (ready again only after it) must reach west's proxies too.
        lab.wait_for(lambda: west.request(lab.mirror_url("foobar", east.name)).ok, 10, "requests through the gateway to succeed again")


def test_applying_the_workload_manifest_again_changes_nothing(lab, east):
    manifest = yaml.safe_dump_all(manifests.workload(lab.cfg, east.name, "foobar"), sort_keys=False)
    # The lab applied this manifest as `kubectl apply` does (with its last-applied annotation), so even the
    # first apply by hand finds nothing to change and no annotation to patch in.
    first = east.kubectl("apply", "-f", "-", stdin=manifest)
    assert all(line.endswith(" unchanged") for line in _lines(first)) and "Warning" not in first.stderr, first.stderr
    again = _lines(east.kubectl("apply", "-f", "-", stdin=manifest))
    assert again and all(line.endswith(" unchanged") for line in again), again


def test_rollout_status_and_wait_for_available_return(lab, east):
    ns = lab.cfg.namespace
    assert "successfully rolled out" in _lines(east.kubectl("-n", ns, "rollout", "status", "deploy/foobar", "--timeout=60s"))[-1]
    assert _lines(east.kubectl("-n", ns, "wait", "--for=condition=available", "deploy/foobar", "--timeout=60s")) == [
        "deployment.apps/foobar condition met"]


def test_curl_from_the_client_pod_reaches_east_through_the_mirror(lab, west, east):
    out = _lines(west.kubectl("-n", lab.cfg.namespace, "exec", "deploy/client", "-c", "client", "--",
                              "curl", "-s", f"http://foobar-{east.name}.{lab.cfg.namespace}.svc.cluster.local:9898"))
    answer = json.loads("\n".join(out))
    assert east.name in answer["message"] and answer["hostname"].startswith("foobar-"), answer


def test_the_link_credentials_read_services_and_are_forbidden_to_read_secrets(lab, west, east, tmp_path):
    secret = manifests.credentials_secret_name(east.name)
    encoded = _lines(west.kubectl("-n", names.MC_NS, "get", "secret", secret, "-o", "jsonpath={.data.kubeconfig}"))[0]
    credentials = tmp_path / "remote.kubeconfig"
    credentials.write_text(base64.b64decode(encoded).decode())
    services = _lines(east.kubectl("-n", lab.cfg.namespace, "get", "svc", "-o", "name", kubeconfig=str(credentials)))
    assert "service/foobar" in services
    refused = east.kubectl("-n", names.MC_NS, "get", "secrets", kubeconfig=str(credentials))
    assert refused.returncode == 1 and "Error from server (Forbidden): secrets is forbidden" in refused.stderr, refused.stderr


def test_endpointslices_hold_easts_pods_and_mirror_wests_endpoints_of_the_gateway(lab, west, east):
    """Kubernetes writes EndpointSlices beside Endpoints: from a Service's pods (endpointslice-controller), and,
    for a selector-less Service such as the mirror, copied from its Endpoints with their annotations
    (endpointslicemirroring-controller). Linkerd's destination controller reads the slices."""
    ns = lab.cfg.namespace

    def slices(cluster, service):
        found = json.loads("\n".join(_lines(cluster.kubectl("-n", ns, "get", "endpointslices", "-o", "json",
                                                             "-l", f"kubernetes.io/service-name={service}"))))["items"]
        assert len(found) == 1, found
        return found[0]

    served = slices(east, "foobar")
    pods = _lines(east.kubectl("-n", ns, "get", "pods", "-l", "app=foobar", "-o", "jsonpath={.items[*].status.podIP}"))
    assert served["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == "endpointslice-controller.k8s.io"
    assert sorted(a for e in served["endpoints"] for a in e["addresses"]) == sorted(pods[0].split())
    mirror = f"foobar-{east.name}"
    mirrored = slices(west, mirror)
    endpoints = json.loads("\n".join(_lines(west.kubectl("-n", ns, "get", "endpoints", mirror, "-o", "json"))))
    assert mirrored["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == "endpointslicemirroring-controller.k8s.io"
    assert [e["addresses"][0] for e in mirrored["endpoints"]] == [a["ip"] for s in endpoints["subsets"] for a in s["addresses"]]
    copied = {k: v for k, v in endpoints["metadata"].get("annotations", {}).items()
              if k not in ("endpoints.kubernetes.io/last-change-trigger-time", "kubectl.kubernetes.io/last-applied-configuration")}
    assert {k: mirrored["metadata"].get("annotations", {}).get(k) for k in copied} == copied
    header = _lines(west.kubectl("-n", ns, "get", "endpointslices"))[0].split()
    assert header == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]


# What the remote-access account's ClusterRole grants at each pinned tag (the multicluster chart's
# templates/remote-access-service-mirror-rbac.yaml): edge-26.8.3 lets the destination controller watch
# what pod-to-pod discovery needs and the mirror write events; stable-2.8.1 reads services only. (It also
# grants jobs, which the simulation does not serve: kubectl answers "no" for those there.)
GRANTED = {True: [("list", "services"), ("watch", "endpointslices.discovery.k8s.io"), ("list", "pods"),
                  ("watch", "servers.policy.linkerd.io"), ("list", "replicasets.apps"), ("create", "events")],
           False: [("list", "services"), ("watch", "services")]}
REFUSED = {True: [("get", "secrets"), ("create", "services"), ("list", "deployments.apps")],
           False: [("get", "secrets"), ("list", "endpointslices.discovery.k8s.io"), ("list", "pods")]}


def test_kubectl_auth_can_i_with_the_link_credentials_answers_as_the_charts_rbac_grants(lab, west, east, tmp_path):
    secret = manifests.credentials_secret_name(east.name)
    encoded = _lines(west.kubectl("-n", names.MC_NS, "get", "secret", secret, "-o", "jsonpath={.data.kubeconfig}"))[0]
    credentials = tmp_path / "remote.kubeconfig"
    credentials.write_text(base64.b64decode(encoded).decode())
    edge = lab.cfg.profile.link_crd
    for verb, resource in GRANTED[edge] + REFUSED[edge]:
        answer = east.kubectl("auth", "can-i", verb, resource, "-A", kubeconfig=str(credentials))
        expected = "yes" if (verb, resource) in GRANTED[edge] else "no"
        assert answer.stdout.strip() == expected, f"can-i {verb} {resource}: {answer.stdout!r} {answer.stderr!r}"


def _admin_certificate(lab, east) -> str:
    """The admin's client certificate (PEM) in the lab's kubeconfig, as kubectl presents it."""
    config = yaml.safe_load(open(lab.backend.provider.kubeconfig_path()))
    context = next(c["context"] for c in config["contexts"] if c["name"] == f"kind-{east.name}")
    user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
    if "client-certificate-data" in user:
        return base64.b64decode(user["client-certificate-data"]).decode()
    return open(user["client-certificate"]).read()


def test_kubectl_auth_whoami_names_the_admin_an_impersonated_user_and_the_links_service_account(lab, west, east, tmp_path):
    """`kubectl auth whoami` (a SelfSubjectReview, which every authenticated user may create) answers with the
    user the request was made as: the kubeconfig's admin, whom `--as` names instead, or west's link account."""
    admin = east.kubectl("auth", "whoami")
    assert admin.returncode == 0, admin.stderr
    server = json.loads(east.kubectl("version", "-o", "json").stdout)["serverVersion"]
    release = (int(server["major"]), int("".join(c for c in server["minor"] if c.isdigit())))
    # kubeadm's admin.conf (which kind exports) is in kubeadm:cluster-admins from 1.29, system:masters before
    # (cmd/kubeadm/app/phases/kubeconfig/kubeconfig.go); from 1.32 a certificate's user carries its fingerprint
    # as credential id (k8s.io/apiserver pkg/authentication/request/x509/x509.go), printed as an Extra row
    group = "kubeadm:cluster-admins" if release >= (1, 29) else "system:masters"
    rows = [["ATTRIBUTE", "VALUE"], ["Username", "kubernetes-admin"], ["Groups", f"[{group} system:authenticated]"]]
    if release >= (1, 32):
        der = ssl.PEM_cert_to_DER_cert(_admin_certificate(lab, east))
        rows.append(["Extra: authentication.kubernetes.io/credential-id", f"[X509SHA256={hashlib.sha256(der).hexdigest()}]"])
    assert [re.split(r"\s{2,}", line.strip()) for line in admin.stdout.splitlines()] == rows  # columns: 2+ spaces apart
    alice = json.loads(east.kubectl("auth", "whoami", "--as=alice", "--as-group=ops", "-o", "json").stdout)
    assert alice["status"]["userInfo"] == {"username": "alice", "groups": ["ops", "system:authenticated"]}
    secret = manifests.credentials_secret_name(east.name)
    encoded = _lines(west.kubectl("-n", names.MC_NS, "get", "secret", secret, "-o", "jsonpath={.data.kubeconfig}"))[0]
    credentials = tmp_path / "remote.kubeconfig"
    credentials.write_text(base64.b64decode(encoded).decode())
    account = json.loads(east.kubectl("auth", "whoami", "-o", "json", kubeconfig=str(credentials)).stdout)
    assert account["status"]["userInfo"]["username"].startswith(f"system:serviceaccount:{names.MC_NS}:")
    # a legacy token's user has its account's UID (kubernetes/kubernetes pkg/serviceaccount/legacy.go)
    sa = account["status"]["userInfo"]["username"].rsplit(":", 1)[1]
    assert account["status"]["userInfo"]["uid"] == east.get("ServiceAccount", names.MC_NS, sa)["metadata"]["uid"]
    listed = east.kubectl("get", "selfsubjectreviews")  # a review is only ever created
    assert listed.stderr.strip() == ("Error from server (MethodNotAllowed): the server does not allow this method "
                                     "on the requested resource")


def _kubectl_commands(script: str) -> tuple[list[str], list[str]]:
    """The plan's kubectl commands before the gateway switch, heredocs included, as written; and those left
    out because they download a manifest (no internet here) or need another tool's output or a shell expansion."""
    commands, skipped, lines = [], [], iter(script.splitlines())
    for line in lines:
        if line.startswith("# === inv gateway"):
            break
        if not line.startswith("kubectl "):
            continue
        command = line
        if line.endswith("<<'EOF'"):
            for body in lines:
                command += "\n" + body
                if body == "EOF":
                    break
        first = command.split("\n", 1)[0]
        (skipped if "https://" in first or " | " in first or "$(" in first else commands).append(command)
    return commands, skipped


def test_the_kind_plans_kubectl_lines_run_unchanged_against_the_simulated_clusters(lab):
    import os
    import subprocess
    from pathlib import Path

    import pytest

    if lab.backend.name != "sim":
        pytest.skip("this runs the kind plan's kubectl lines against the simulation")
    plan = Path(__file__).resolve().parent.parent / "fixtures" / "plans" / f"kind-{lab.cfg.profile_name}.sh"
    commands, skipped = _kubectl_commands(plan.read_text())
    assert len(commands) >= 8 and skipped, (commands, skipped)
    # A lab of the plan's own shape (clusters east and west), beside the scenarios' lab.
    with lab.sibling({"name": "plan"}) as planned:
        planned.run()
        env = {**os.environ, "KUBECONFIG": planned.backend.provider.kubeconfig_path()}
        for command in commands:
            result = subprocess.run(["bash", "-c", command], cwd=planned.root, env=env, capture_output=True, text=True,
                                    timeout=120)
            assert result.returncode == 0, f"{command.splitlines()[0]}\n{result.stderr}"


def test_events_say_which_address_metallb_gave_the_gateway(lab, east):
    gw = lab.gateway
    rows = _lines(east.kubectl("-n", gw.namespace, "get", "events", "--field-selector",
                               f"involvedObject.name={gw.name},reason=IPAllocated"))
    assert any(east.gateway_address(gw) in row for row in rows[1:]), rows


def test_get_events_watch_shows_a_new_pods_events_as_they_happen(lab, east):
    """`kubectl get events -w`: events of a Deployment created after kubectl listed the namespace's events
    arrive on its watch (which goes on from the list's resourceVersion), printed as kubectl prints events."""
    import os
    import queue
    import shutil
    import subprocess
    import threading

    if shutil.which("kubectl") is None:
        import pytest

        pytest.skip("kubectl is not installed on this machine")
    ns = "watch-events"

    def sleeper(name: str) -> str:
        labels = {"app": name}
        return yaml.safe_dump({"apiVersion": "apps/v1", "kind": "Deployment",
                               "metadata": {"name": name, "namespace": ns, "labels": labels},
                               "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                                        "template": {"metadata": {"labels": labels},
                                                     "spec": {"containers": [{"name": name, "image": "curlimages/curl:8.10.1",
                                                                              "command": ["sleep", "infinity"]}]}}}})

    def printed(name: str) -> bool:
        return any(f"pod/{name}-" in line for line in seen)

    _lines(east.kubectl("apply", "-f", "-", stdin=yaml.safe_dump({"apiVersion": "v1", "kind": "Namespace",
                                                                  "metadata": {"name": ns}})))
    seen: list[str] = []
    watcher = None
    try:
        _lines(east.kubectl("apply", "-f", "-", stdin=sleeper("first")))
        lab.wait_for(lambda: "pod/first-" in east.kubectl("-n", ns, "get", "events").stdout, 30, "first's events")
        watcher = subprocess.Popen(["kubectl", f"--context=kind-{east.name}", "-n", ns, "get", "events", "-w"],
                                   env={**os.environ, "KUBECONFIG": lab.backend.provider.kubeconfig_path()},
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in watcher.stdout], daemon=True).start()
        while not printed("first"):  # kubectl has listed: what happens from now on comes through its watch
            seen.append(lines.get(timeout=30))
        _lines(east.kubectl("apply", "-f", "-", stdin=sleeper("second")))
        while not printed("second"):
            seen.append(lines.get(timeout=30))
    finally:
        if watcher is not None:
            watcher.terminate()
            watcher.wait(timeout=10)
        east.kubectl("delete", "namespace", ns, "--wait=false")
        lab.wait_for(lambda: not east.list("Pod", ns), 60, f"the pods of namespace {ns} to go with it")
    assert seen[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"], seen


def _within(small, big) -> bool:
    """`small` is part of `big`: what kubectl sent is all there, beside whatever the server added."""
    if isinstance(small, dict):
        return isinstance(big, dict) and all(k in big and _within(v, big[k]) for k, v in small.items())
    if isinstance(small, list):
        return isinstance(big, list) and len(small) == len(big) and all(_within(a, b) for a, b in zip(small, big))
    return small == big


def test_kubectl_create_makes_what_its_dry_run_shows(lab, east):
    """`kubectl create <kind>` sends protobuf; what the API stores is what kubectl's client-side dry run
    prints as JSON (on the simulation, the protobuf is read field by field)."""
    ns = "created-by-kubectl"
    commands = [("namespace", ns), ("configmap", "settings", "--from-literal=color=blue", "-n", ns),
                ("secret", "generic", "token", "--from-literal=key=s3cret", "-n", ns), ("serviceaccount", "robot", "-n", ns),
                ("deployment", "web", "--image=ghcr.io/stefanprodan/podinfo:6.7.1", "--port=9898", "--replicas=2",
                 "-n", ns, "--", "./podinfo")]
    try:
        for command in commands:
            planned = json.loads("\n".join(_lines(east.kubectl("create", "--dry-run=client", "-o", "json", *command))))
            _lines(east.kubectl("create", *command))
            kind, name = planned["kind"], planned["metadata"]["name"]
            stored = json.loads("\n".join(_lines(east.kubectl("get", kind.lower(), name, "-n", ns, "-o", "json"))))
            planned["metadata"].pop("creationTimestamp", None)
            planned.pop("status", None)
            assert _within(planned, stored), (planned, stored)
        _lines(east.kubectl("-n", ns, "rollout", "status", "deployment/web", "--timeout=60s"))
    finally:
        east.kubectl("delete", "namespace", ns, "--wait=false")


def test_kubectl_create_of_every_served_kind_makes_what_its_dry_run_shows(lab, east, tmp_path):
    """Services of each type, RBAC roles and bindings, TLS and docker-registry secrets: each `kubectl create`
    sends protobuf, which the simulation reads from the k8s.io/api v0.32.3 schema (a real API server reads
    them all; client-go does not retry a 415 as JSON), and stores what the client-side dry run prints."""
    from lab.trust import pki

    ns = "created-kinds"
    tls = pki.create_anchor("created-kinds.example")
    (tmp_path / "tls.crt").write_text(tls.cert_pem)
    (tmp_path / "tls.key").write_text(tls.key_pem)
    commands = [("service", "clusterip", "x", "--tcp=80:8080"), ("service", "nodeport", "np", "--tcp=81:8081"),
                ("service", "loadbalancer", "lb", "--tcp=82:web"), ("service", "externalname", "en",
                                                                    "--external-name=example.com"),
                ("role", "pod-reader", "--verb=get", "--verb=list", "--resource=pods", "--resource-name=web"),
                ("rolebinding", "read-pods", "--role=pod-reader", "--user=bob", f"--serviceaccount={ns}:robot"),
                ("clusterrole", "node-lister", "--verb=list", "--resource=nodes"),
                ("clusterrolebinding", "list-nodes", "--clusterrole=node-lister", "--group=ops"),
                ("secret", "tls", "served-tls", f"--cert={tmp_path / 'tls.crt'}", f"--key={tmp_path / 'tls.key'}"),
                ("secret", "docker-registry", "pull", "--docker-server=registry.example", "--docker-username=u",
                 "--docker-password=p")]
    try:
        _lines(east.kubectl("create", "namespace", ns))
        for command in commands:
            planned = json.loads("\n".join(_lines(east.kubectl("create", "--dry-run=client", "-o", "json", "-n", ns,
                                                                *command))))
            _lines(east.kubectl("create", "-n", ns, *command))
            kind, name = planned["kind"], planned["metadata"]["name"]
            stored = json.loads("\n".join(_lines(east.kubectl("get", kind.lower(), name, "-n", ns, "-o", "json"))))
            planned["metadata"].pop("creationTimestamp", None)
            planned.pop("status", None)
            assert _within(planned, stored), (planned, stored)
    finally:
        east.kubectl("delete", "clusterrolebinding", "list-nodes", "--ignore-not-found")
        east.kubectl("delete", "clusterrole", "node-lister", "--ignore-not-found")
        east.kubectl("delete", "namespace", ns, "--wait=false")


def test_a_pod_deleted_with_kubectl_stops_serving_and_its_replacement_answers(lab, west, east):
    """`kubectl delete pod`: the Deployment's replacement answers east's traffic from west (podinfo names
    the pod that answered), never the deleted pod, even where the replacement is given its address."""
    ns = lab.cfg.namespace
    url = lab.mirror_url("foobar", east.name)
    before = _lines(east.kubectl("-n", ns, "get", "pods", "-l", "app=foobar", "-o", "name"))
    _lines(east.kubectl("-n", ns, "delete", *before))
    _lines(east.kubectl("-n", ns, "rollout", "status", "deployment/foobar", "--timeout=60s"))
    after = {name.split("/", 1)[1] for name in _lines(east.kubectl("-n", ns, "get", "pods", "-l", "app=foobar", "-o", "name"))}
    assert after and not after & {name.split("/", 1)[1] for name in before}, (before, after)
    lab.wait_for(lambda: west.request(url).ok, 30, "traffic to foobar's replacement")
    answered = {json.loads(west.request(url).body)["hostname"] for _ in range(10)}
    assert answered <= after, f"answered by {answered}, running {after}"


def test_rollout_restart_history_and_undo_go_through_replicasets(lab, east):
    """A Deployment's templates live in its ReplicaSets (`<name>-<pod-template-hash>`, revision annotations):
    `rollout restart` makes a second one, `rollout undo` returns to the first, which takes the next revision."""
    ns = "rollouts"
    rollout = ("-n", ns, "rollout", "status", "deployment/web", "--timeout=60s")
    try:
        _lines(east.kubectl("create", "namespace", ns))
        _lines(east.kubectl("-n", ns, "create", "deployment", "web", "--image=ghcr.io/stefanprodan/podinfo:6.7.1",
                            "--port=9898", "--", "./podinfo"))
        _lines(east.kubectl(*rollout))
        first = _lines(east.kubectl("-n", ns, "get", "rs", "-o", "name"))
        _lines(east.kubectl("-n", ns, "rollout", "restart", "deployment/web"))
        _lines(east.kubectl(*rollout))
        _lines(east.kubectl("-n", ns, "rollout", "undo", "deployment/web"))
        _lines(east.kubectl(*rollout))
        rows = [row.split() for row in _lines(east.kubectl("-n", ns, "get", "rs"))]
        assert rows[0][:4] == ["NAME", "DESIRED", "CURRENT", "READY"] and len(rows) == 3, rows
        serving = [row[0] for row in rows[1:] if row[1] == "1"]
        assert [f"replicaset.apps/{name}" for name in serving] == first, (first, rows)
        history = [row.split()[0] for row in _lines(east.kubectl("-n", ns, "rollout", "history", "deployment/web"))[2:] if row]
        assert history == ["2", "3"], history
        pods = json.loads("\n".join(_lines(east.kubectl("-n", ns, "get", "pods", "-o", "json"))))["items"]
        assert {p["metadata"]["ownerReferences"][0]["name"] for p in pods} == set(serving)
    finally:
        east.kubectl("delete", "namespace", ns, "--wait=false")


def test_the_kind_backends_object_verbs_agree_with_the_api_through_real_kubectl(lab, west, east):
    """What the kind and contexts backends change (steps, status, checks) they do with printed kubectl lines
    (lab/backends/kubectl.py: apply, annotate/label, scale, rollout status, delete); what they read in a live
    run they read through the official client on the same kubeconfig context. Here both run against the
    simulated clusters' API and must agree with the lab's own client: the kind path's argument building
    and output parsing, held to a real API server's answers."""
    import os
    import shutil

    import pytest

    from lab import steps
    from lab.backends import kind_backend
    from lab.tools.run import Runner

    if lab.backend.name != "sim":
        pytest.skip("this holds the kind backend's kubectl verbs to the simulated API")
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed on this machine")

    class Watched(Runner):
        def __init__(self, env):
            super().__init__(env)
            self.ran: list[str] = []

        def run(self, command, check=True):
            self.ran.append(command.text())
            return super().run(command, check)

    runner = Watched(env={**os.environ, "KUBECONFIG": lab.backend.provider.kubeconfig_path()})
    kind_lab = kind_backend(lab.cfg, lab.root, runner=runner)
    kind = kind_lab.kube
    ns = lab.cfg.namespace

    def names(objects):
        return sorted((o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in objects)

    assert names(kind.list(west.name, "Service", ns)) == names(lab.backend.kube.list(west.name, "Service", ns))
    mirrored = {"mirror.linkerd.io/mirrored-service": "true"}
    assert names(kind.list(west.name, "Service", ns, mirrored)) == names(lab.backend.kube.list(west.name, "Service", ns, mirrored))
    assert kind.get(west.name, "Service", ns, f"foobar-{east.name}")["metadata"]["uid"] == \
        west.get("Service", ns, f"foobar-{east.name}")["metadata"]["uid"]
    assert kind.get(west.name, "Service", ns, "no-such-service") is None
    # A kind whose CRD is not installed: kubectl says the server has no such resource type; read as nothing.
    assert kind.list(west.name, "TLSContext", ns) == [] and kind.get(west.name, "TLSContext", ns, "x") is None
    assert kind.events(east.name), "events as `kubectl get events -A -o json` lists them"

    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kind-verbs", "namespace": ns}, "data": {"k": "v"}}
    try:
        assert kind.apply(east.name, [config_map]) == ["configmap/kind-verbs"]
        assert kind.apply(east.name, [config_map]) == [], "unchanged the second time"
        kind.set_metadata(east.name, "ConfigMap", ns, "kind-verbs", "labels", {"lab": "yes"})
        kind.set_metadata(east.name, "ConfigMap", ns, "kind-verbs", "annotations", {"note": "a=b c"})
        stored = east.get("ConfigMap", ns, "kind-verbs")["metadata"]
        assert stored["labels"]["lab"] == "yes" and stored["annotations"]["note"] == "a=b c"
        kind.set_metadata(east.name, "ConfigMap", ns, "kind-verbs", "labels", {"lab": None})
        assert "lab" not in (east.get("ConfigMap", ns, "kind-verbs")["metadata"].get("labels") or {})
    finally:
        assert kind.delete(east.name, "ConfigMap", ns, "kind-verbs")
    assert not kind.delete(east.name, "ConfigMap", ns, "kind-verbs"), "already gone"

    kind.scale(east.name, ns, "foobar", 2)
    try:
        kind.wait_rollout(east.name, ns, "foobar")
        assert east.get("Deployment", ns, "foobar")["status"]["readyReplicas"] == 2
    finally:
        kind.scale(east.name, ns, "foobar", 1)
        kind.wait_rollout(east.name, ns, "foobar")
    # A step's own check, read through kubectl as on kind.
    workloads = next(step for step in steps.STEPS if isinstance(step, steps.Workloads))
    assert workloads.check(steps.Context(lab.cfg, kind_lab, lab.root), steps.Target.cluster(east.name)).ok
    # Every read above went through the official client: no `kubectl get` ran, only the writes' lines.
    assert runner.ran and not [line for line in runner.ran if " get " in f" {line} "], runner.ran


def test_kubectl_cannot_delete_the_namespaces_a_cluster_needs_and_a_patch_that_is_no_object_or_renames_is_refused(lab, east):
    """A careless `kubectl delete ns default` is refused by the namespace lifecycle admission, dry run or not,
    and leaves the namespace and what is in it; a merge or strategic patch that is not a JSON object is the
    decoder's 400, not a server error, and so is a patch that renames the object; neither changes anything."""
    for namespace in ("default", "kube-system", "kube-public"):
        for dry_run in ((), ("--dry-run=server",)):
            refused = east.kubectl("delete", "namespace", namespace, *dry_run)
            assert refused.returncode == 1
            assert refused.stderr.strip() == (f'Error from server (Forbidden): namespaces "{namespace}" is forbidden: '
                                              "this namespace may not be deleted"), refused.stderr
        assert east.kubectl("get", "namespace", namespace, "-o", "name").stdout == f"namespace/{namespace}\n"
    assert east.kubectl("delete", "namespace", "no-such-namespace").stderr.strip() == (
        'Error from server (NotFound): namespaces "no-such-namespace" not found')

    assert east.kubectl("-n", "default", "create", "configmap", "patched", "--from-literal=k=v").returncode == 0
    for patch_type, said in (("merge", "error decoding patch: json: cannot unmarshal array into Go value of type "
                                       "map[string]interface {}"),
                             ("strategic", "json: cannot unmarshal array into Go value of type map[string]interface {}")):
        refused = east.kubectl("-n", "default", "patch", "configmap", "patched", f"--type={patch_type}", "-p", "[1,2]")
        assert (refused.returncode, refused.stderr.strip()) == (1, f"Error from server (BadRequest): {said}")
    refused = east.kubectl("-n", "default", "patch", "configmap", "patched", "--type=json", "-p", '{"op":"add"}')
    assert refused.stderr.strip() == ("Error from server (BadRequest): error decoding patch: json: cannot unmarshal "
                                      "object into Go value of type []handlers.jsonPatchOp")
    refused = east.kubectl("-n", "default", "patch", "configmap", "patched", "--type=merge", "-p", '"text"')
    assert "cannot unmarshal string into Go value" in refused.stderr
    renamed = east.kubectl("-n", "default", "patch", "configmap", "patched", "-p", '{"metadata":{"name":"other"}}')
    assert (renamed.returncode, renamed.stderr.strip()) == (1, "Error from server (BadRequest): the name of the object "
                                                               "(other) does not match the name on the URL (patched)")
    kept = east.kubectl("-n", "default", "get", "configmap", "patched", "-o", "jsonpath={.data}")
    assert kept.stdout == '{"k":"v"}'
    east.kubectl("-n", "default", "delete", "configmap", "patched")


def test_sort_by_any_field_lists_every_row_in_that_order_as_the_cheatsheet_types_it(lab, east):
    """kubectl asks the server's Table for whole objects (includeObject=Object) to sort on a field outside
    the metadata; the rows then come in that field's order, all of them."""
    ns = lab.cfg.namespace
    names = east.kubectl("-n", ns, "get", "pods", "-o", "name").stdout.split()
    by_ip = east.kubectl("-n", ns, "get", "pods", "--sort-by=.status.podIP", "-o", "wide")
    assert by_ip.returncode == 0, by_ip.stderr
    rows = [line.split() for line in by_ip.stdout.splitlines()[1:]]
    assert sorted(f"pod/{r[0]}" for r in rows) == sorted(names) and len(rows) >= 1
    ips = [r[5] for r in rows]  # NAME READY STATUS RESTARTS AGE IP ...
    assert ips == sorted(ips, key=lambda ip: [int(part) for part in ip.split(".")])  # natural order: .9 before .10
    every = east.kubectl("get", "pods", "-A", "--sort-by=.status.containerStatuses[0].restartCount")
    assert every.returncode == 0 and len(every.stdout.splitlines()) == len(
        east.kubectl("get", "pods", "-A", "--no-headers").stdout.splitlines()) + 1, every.stdout + every.stderr
    events = east.kubectl("get", "events", "-A", "--sort-by=.lastTimestamp")
    assert events.returncode == 0 and "No resources found" not in events.stdout + events.stderr
    services = east.kubectl("get", "svc", "-A", "--sort-by=.spec.clusterIP", "--no-headers")
    assert len(services.stdout.splitlines()) == len(east.kubectl("get", "svc", "-A", "--no-headers").stdout.splitlines())


def test_logs_of_a_container_the_pod_lacks_or_a_previous_run_that_never_was_are_refused(lab, east):
    """`kubectl logs -c` with a name the pod does not have, and `--previous` for a container that never
    restarted, fail with the words a cluster uses, where they printed nothing with exit 0 before."""
    ns = lab.cfg.namespace
    pod = east.kubectl("-n", ns, "get", "pods", "-l", "app=foobar", "-o", "jsonpath={.items[0].metadata.name}").stdout
    wrong = east.kubectl("-n", ns, "logs", pod, "-c", "nope")
    assert wrong.returncode == 1 and f"container nope is not valid for pod {pod}" in wrong.stderr, wrong.stderr
    previous = east.kubectl("-n", ns, "logs", pod, "-c", "podinfo", "--previous")
    assert (previous.returncode, previous.stderr.strip()) == (
        1, f'Error from server (BadRequest): previous terminated container "podinfo" in pod "{pod}" not found')
    assert '"msg":"Starting podinfo"' in east.kubectl("-n", ns, "logs", pod, "-c", "podinfo").stdout  # podinfo's zap line
    # kubectl checks the container's name itself; a program asks the API server, which refuses it too
    api, client = client_for(east)
    with api:
        with pytest.raises(client.ApiException) as refused:
            client.CoreV1Api(api).read_namespaced_pod_log(pod, ns, container="nope")
    assert refused.value.status == 400 and f"container nope is not valid for pod {pod}" in refused.value.body


def test_rbac_objects_print_their_role_and_subjects_or_their_creation_time_as_kubectl_shows_them(east):
    """printRoleBinding / printClusterRoleBinding (pkg/printers/internalversion/printers.go): the role as
    `<Kind>/<name>` and the age, with -o wide the users, groups and service accounts (`<namespace>/<name>`);
    a role has no printer: the API server's default table (k8s.io/apiserver pkg/registry/rest/table.go), its
    creation time in RFC 3339 and no age."""
    account = names.REMOTE_ACCESS_SA
    wide = east.kubectl("get", "clusterrolebinding", account, "-o", "wide")
    assert wide.returncode == 0, wide.stderr
    header, row = (re.split(r"\s{2,}", line.strip()) for line in wide.stdout.splitlines())
    assert header == ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"], header
    assert row[:2] == [account, f"ClusterRole/{account}"] and row[-1] == f"{names.MC_NS}/{account}", row
    role = east.kubectl("get", "clusterrole", account)
    header, row = (re.split(r"\s{2,}", line.strip()) for line in role.stdout.splitlines())
    assert header == ["NAME", "CREATED AT"] and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row[1]), role.stdout
