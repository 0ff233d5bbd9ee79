"""Names and addresses as a pod sees them (issue 24), through `kubectl exec` into west's meshed client pod with
real kubectl: the cluster DNS answers a Service's names (short through resolv.conf's search path, `NAME.NS`,
full), its ClusterIP and its pods' IPs answer on their ports through the client's proxy, a mirror answers
from the other cluster, and what fails fails as curl and the Linkerd proxy report it. The same on a flat network
(a remote pod's IP) and a StatefulSet's pods' names are in test_pod_to_pod.py and test_statefulset.py, on the
labs of those topologies those files bring up anyway (a topology lab is a whole `up` and a lab process)."""
from __future__ import annotations

import ipaddress

from in_pod import exec_in, head, jsonpath, ok, scaled_to_zero, sh


def test_a_local_service_answers_by_every_name_its_cluster_ip_and_its_pod_ip(lab, east):
    """From east's meshed foobar pod (podinfo's image has curl): its own cluster's foobar Service."""
    ns = lab.cfg.namespace
    cluster_ip = jsonpath(east, lab, "svc", "foobar", "-o", "jsonpath={.spec.clusterIP}")
    assert ipaddress.ip_address(cluster_ip) in ipaddress.ip_network(lab.cfg.cluster(east.name).service_subnet)
    pod_ip = jsonpath(east, lab, "pods", "-l", "app=foobar", "-o", "jsonpath={.items[0].status.podIP}")
    assert ipaddress.ip_address(pod_ip) in ipaddress.ip_network(lab.cfg.cluster(east.name).pod_subnet)
    hosts = ["foobar", f"foobar.{ns}", f"foobar.{ns}.svc", f"foobar.{ns}.svc.cluster.local", cluster_ip, pod_ip]
    script = "; ".join(f"curl -s -o /dev/null -w '{host}=%{{http_code}}\\n' {host}:9898" for host in hosts)
    out = exec_in(east, ns, "deploy/foobar", "sh", "-c", script, container="podinfo")
    assert ok(out).splitlines() == [f"{host}=200" for host in hosts]


def test_the_mirror_answers_by_its_short_name_from_the_other_cluster(lab, west, east):
    ns, svc = lab.cfg.namespace, f"foobar-{east.name}"
    cluster_ip = jsonpath(west, lab, "svc", svc, "-o", "jsonpath={.spec.clusterIP}")
    assert ipaddress.ip_address(cluster_ip) in ipaddress.ip_network(lab.cfg.cluster(west.name).service_subnet)
    for host in (svc, f"{svc}.{ns}", cluster_ip):
        assert east.name in ok(sh(west, lab, f"curl -s {host}:9898 | grep message")), host
    # behind a gateway the pod networks are apart: west's proxy forwards to east's pod IP as dialled, its connects
    # fail, and after the failfast timeout (3 s) it fails fast: 504 on edge (outbound/src/http/server.rs), 503 on 2.8.1
    pod_ip = jsonpath(east, lab, "pods", "-l", "app=foobar", "-o", "jsonpath={.items[0].status.podIP}")
    assert ok(sh(west, lab, f"curl -s -o /dev/null -w '%{{http_code}}' {pod_ip}:9898")) == str(lab.cfg.profile.failfast_status)


def test_a_refused_port_is_curls_7(lab, west, east):
    """The client's own IP and localhost on a port nothing listens on: refused (linkerd-init leaves loopback
    traffic alone, so no proxy accepts it first)."""
    own = jsonpath(west, lab, "pods", "-l", "app=client", "-o", "jsonpath={.items[0].status.podIP}")
    refused = sh(west, lab, f"curl -sS http://{own}:1/; echo \"exit=$?\"; curl -sS localhost:2; echo \"exit=$?\"")
    assert "exit=7" in refused.stdout.splitlines()[0] and refused.stdout.splitlines()[-1] == "exit=7", refused
    assert f"curl: (7) Failed to connect to {own} port 1 after " in refused.stderr, refused.stderr
    assert "ms: Couldn't connect to server" in refused.stderr, refused.stderr


def test_an_unknown_name_is_curls_6_and_nslookups_nxdomain(lab, west):
    failed = sh(west, lab, "curl -sS http://no-such-service:9898/; echo \"exit=$?\"")
    assert failed.stdout.strip() == "exit=6", failed
    assert "curl: (6) Could not resolve host: no-such-service" in failed.stderr, failed.stderr
    missing = sh(west, lab, "nslookup no-such-service.nowhere.svc.cluster.local; echo \"exit=$?\"")
    assert "** server can't find no-such-service.nowhere.svc.cluster.local: NXDOMAIN" in missing.stdout, missing
    assert missing.stdout.strip().endswith("exit=1"), missing


def test_nslookup_gives_the_resolvers_answers_and_kube_dns_holds_the_tenth_address(lab, west, east):
    """busybox's nslookup asks the DNS server itself: a short name under each search domain, a name with a dot
    as it is (networking/nslookup.c at busybox 1_36_1, add_query_with_search). So `NAME.NS`, which curl finds
    through the search path, is NXDOMAIN to it, and the full name is what answers alone."""
    ns, svc = lab.cfg.namespace, f"foobar-{east.name}"
    dns = ok(west.kubectl("-n", "kube-system", "get", "svc", "kube-dns", "-o", "jsonpath={.spec.clusterIP}"))
    tenth = ipaddress.ip_network(lab.cfg.cluster(west.name).service_subnet).network_address + 10
    assert dns == str(tenth)
    cluster_ip = jsonpath(west, lab, "svc", svc, "-o", "jsonpath={.spec.clusterIP}")
    answer = f"Name:\t{svc}.{ns}.svc.cluster.local\nAddress: {cluster_ip}\n"
    full = exec_in(west, ns, "deploy/client", "nslookup", f"{svc}.{ns}.svc.cluster.local")
    assert full.returncode == 0 and full.stdout.startswith(f"Server:\t\t{dns}\nAddress:\t{dns}:53\n\n"), full
    assert answer in full.stdout, full.stdout
    short = exec_in(west, ns, "deploy/client", "nslookup", svc)  # found, and NXDOMAIN under the other domains
    assert answer in short.stdout and short.returncode == 1, short
    dotted = exec_in(west, ns, "deploy/client", "nslookup", f"{svc}.{ns}")
    assert dotted.returncode == 1 and f"** server can't find {svc}.{ns}: NXDOMAIN" in dotted.stdout, dotted
    assert "Address: " not in dotted.stdout, dotted.stdout
    assert f"Address: {dns}" in ok(exec_in(west, ns, "deploy/client", "nslookup", "kube-dns.kube-system.svc.cluster.local"))
    own = jsonpath(west, lab, "pods", "-l", "app=client", "-o", "jsonpath={.items[0].status.podIP}")
    dashed = f"{own.replace('.', '-')}.{ns}.pod.cluster.local"  # kubeadm's Corefile: `pods insecure`
    assert f"Name:\t{dashed}\nAddress: {own}\n" in ok(exec_in(west, ns, "deploy/client", "nslookup", dashed))
    ips = west.kubectl("get", "svc", "-A", "-o", "jsonpath={.items[*].spec.clusterIP}").stdout.split()
    assert ips.count(dns) == 1, ips  # no other Service was given the DNS address


def test_a_scaled_to_zero_remote_behind_a_gateway_fails_where_its_version_says(lab, west, east):
    """edge-26.8.3: the mirror lists no endpoint once the exported service has no ready one
    (cluster_watcher.go handleCreateOrUpdateEndpoints), so west's own proxy fails the request and says why in
    `l5d-proxy-error`. stable-2.8.1 keeps the gateway listed: east's gateway proxy has no endpoint and fails
    it, and west's proxy passes the status on and drops the peer's header
    (outbound/src/http/handle_proxy_error_headers.rs)."""
    svc, ns = f"foobar-{east.name}", lab.cfg.namespace
    edge = lab.cfg.profile.link_crd

    def call():
        if edge:
            lab.wait_for(lambda: not (west.get("Endpoints", ns, svc) or {}).get("subsets"), 30, "west's mirror to list no endpoint")
        return sh(west, lab, f"curl -s -i -m 20 {svc}:9898")

    status, headers = head(scaled_to_zero(lab, east, west, call))
    assert status in ("502", "503", "504"), (status, headers)
    assert bool(headers.get("l5d-proxy-error")) == edge, headers
