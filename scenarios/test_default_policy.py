"""A namespace's default inbound policy, as a user sets it: `config.linkerd.io/default-inbound-policy` on the
namespace is copied onto each pod the injector meshes there (pkg/inject/inject.go AppendNamespaceAnnotations,
edge-26.8.3), and the policy controller decides a port no Server selects by the pod's value
(policy-controller/k8s/index/src/inbound/workload.rs). With `all-authenticated`, a meshed client is served and
one outside the mesh gets 403; the proxy's log names the default policy that refused it."""
import pytest

ANNOTATION = "config.linkerd.io/default-inbound-policy"


def _deployment(name: str, namespace: str, image: str, **container) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": name, "image": image, **container}]}}}}


@pytest.fixture
def strict(lab, east):
    if not east.lab.cfg.profile.policy:
        pytest.skip("policy (Server, default inbound policies) arrived in Linkerd 2.11, after the seed's 2.8")
    objects = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "strict", "annotations": {
            "linkerd.io/inject": "enabled", ANNOTATION: "all-authenticated"}}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "outside"}},
        _deployment("web", "strict", "ghcr.io/stefanprodan/podinfo:6.7.1", ports=[{"name": "http", "containerPort": 9898}]),
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "strict"},
         "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 9898}]}},
        _deployment("meshed-curl", "strict", "curlimages/curl:8.10.1", command=["sleep", "infinity"]),
        _deployment("plain-curl", "outside", "curlimages/curl:8.10.1", command=["sleep", "infinity"]),
    ]
    east.apply(*objects)
    try:
        for ns, name in (("strict", "web"), ("strict", "meshed-curl"), ("outside", "plain-curl")):
            lab.wait_for(lambda: (d := east.get("Deployment", ns, name)) and d.get("status", {}).get("readyReplicas"),
                         30, f"{ns}/{name} to be ready")
        yield east
    finally:
        for obj in reversed(objects):
            if obj["kind"] == "Namespace":
                east.delete("Namespace", "", obj["metadata"]["name"])


def test_a_namespaces_default_policy_reaches_its_pods_and_refuses_clients_outside_the_mesh(strict):
    east = strict
    web = east.list("Pod", "strict", {"app": "web"})[0]
    assert web["metadata"]["annotations"][ANNOTATION] == "all-authenticated", "the injector copies the namespace's"
    url = "http://web.strict.svc.cluster.local:9898/"
    served = east.request(url, deployment="meshed-curl", namespace="strict")
    assert served.ok, served.describe()
    refused = east.request(url, deployment="plain-curl", namespace="outside")
    assert refused.status == 403, refused.describe()
    assert "l5d-proxy-error" not in refused.headers, "informational headers go to meshed peers only"
    # the same from a shell in the unmeshed pod, by the service's short name across namespaces and by its IP
    cluster_ip = east.get("Service", "strict", "web")["spec"]["clusterIP"]
    for host in ("web.strict", cluster_ip):
        curl = east.kubectl("-n", "outside", "exec", "deploy/plain-curl", "--", "curl", "-s", "-o", "/dev/null",
                            "-w", "%{http_code}", f"http://{host}:9898/")
        assert (curl.returncode, curl.stdout) == (0, "403"), curl
    log = east.kubectl("-n", "strict", "logs", "deploy/web", "-c", "linkerd-proxy").stdout
    denied = [line for line in log.splitlines() if "Request denied" in line]
    assert denied and "server.group= server.kind=default server.name=all-authenticated" in denied[-1] \
        and "client.tls=None(NoClientHello)" in denied[-1], log
