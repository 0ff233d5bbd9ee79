"""A simulated pod as the shell inside one of its containers sees it (shell.podview.PodView): the image's
user and tools, the environment the kubelet gives the container, the files a workshop reads, and the
pod's network.

- Environment, in the kubelet's order: the image's (PATH...), HOSTNAME, the service links of the pod's
  namespace (`FOOBAR_SERVICE_HOST`, `FOOBAR_PORT_9898_TCP`..., and the `kubernetes` service's, unless
  `enableServiceLinks: false`; pkg/kubelet/envvars/envvars.go at v1.32.0), then the container's `env`
  (values, fieldRefs, ConfigMap and Secret keys).
- Files: /etc/resolv.conf as the kubelet writes it for `dnsPolicy: ClusterFirst` (search
  `<ns>.svc.<domain> svc.<domain> <domain>`, the cluster DNS service's address, `options ndots:5`),
  /etc/hosts and /etc/hostname, the service-account volume (token, ca.crt, namespace).
- Names resolve through `StoreResolver`, which reads the cluster's Services and Endpoints as CoreDNS
  would answer them; a cluster DNS can take its place (PodView.net is only the `PodNet` protocol).
"""
from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import time
import weakref
from urllib.parse import urlsplit
from dataclasses import dataclass

from ..kube.apicerts import ApiCerts
from ..wire import httpwire
from .cluster import SimCluster
from .pods import PodRuntime
from .shell.commands import APPLETS
from .shell.podview import NetError, PodView

BUSYBOX = frozenset(APPLETS) - {"curl"}


@dataclass(frozen=True)
class Image:
    """What an image brings that the shell sees: its user (USER in its Dockerfile), home and working
    directory, its environment, and the commands it has."""

    user: str
    uid: int
    gid: int
    group: str
    home: str
    cwd: str
    env: tuple
    tools: frozenset


PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
IMAGES = {
    # curlimages/curl: alpine, busybox and curl, `adduser -S curl_user -G curl_group`, USER curl_user
    "curl": Image("curl_user", 100, 101, "curl_group", "/home/curl_user", "/",
                  (("PATH", PATH), ("CURL_CA_BUNDLE", "/cacert.pem")), BUSYBOX | {"curl"}),
    # stefanprodan/podinfo: alpine with curl added, `adduser -S -G app app`, WORKDIR /home/app, USER app
    "podinfo": Image("app", 100, 101, "app", "/home/app", "/home/app", (("PATH", PATH),), BUSYBOX | {"curl"}),
}
OS_RELEASE = (b'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME="Alpine Linux v3.20"\n'
              b'HOME_URL="https://alpinelinux.org/"\nBUG_REPORT_URL="https://gitlab.alpinelinux.org/alpine/aports/-/issues"\n')
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
_written: "weakref.WeakKeyDictionary[PodRuntime, tuple[dict, set]]" = weakref.WeakKeyDictionary()


def image_of(image: str) -> Image | None:
    """The shell-bearing image an image reference names, or None (distroless, pause, the proxy...)."""
    return IMAGES.get(image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0])


def service_addresses(cluster: SimCluster) -> tuple[str, str]:
    """The `kubernetes` service's and the cluster DNS service's addresses: the service subnet's first
    and tenth hosts, as kubeadm and kind place them."""
    net = ipaddress.IPv4Network(cluster.spec["service_subnet"])
    return str(net.network_address + 1), str(net.network_address + 10)


class StoreResolver:
    """Names as the cluster DNS answers them, read from the cluster's Services and Endpoints: search
    domains and ndots:5 as /etc/resolv.conf says, `<svc>.<ns>.svc.<domain>` to the cluster IP (a headless
    service to its endpoints), `<host>.<svc>.<ns>.svc.<domain>` to that endpoint."""

    def __init__(self, cluster: SimCluster, namespace: str, hostname: str, pod_ip: str):
        self.cluster, self.namespace, self.hostname, self.pod_ip = cluster, namespace, hostname, pod_ip
        self.domain = cluster.spec.get("domain", "cluster.local")

    def search(self) -> list[str]:
        return [f"{self.namespace}.svc.{self.domain}", f"svc.{self.domain}", self.domain]

    def resolve(self, name: str) -> tuple[str, list[str]] | None:
        try:
            return self._reverse(str(ipaddress.ip_address(name)))
        except ValueError:
            pass
        if name in ("localhost", "localhost."):
            return "localhost", ["127.0.0.1"]
        if name.split(".")[0] == self.hostname and name.rstrip(".") in (self.hostname,):
            return self.hostname, [self.pod_ip]
        absolute = name.endswith(".")
        bare = name.rstrip(".")
        candidates = [bare] if absolute or bare.count(".") >= 5 else [f"{bare}.{s}" for s in self.search()] + [bare]
        for fqdn in candidates:
            found = self.lookup(fqdn)
            if found:
                return fqdn, found
        return None

    def lookup(self, fqdn: str) -> list[str] | None:
        """What the cluster DNS answers for exactly `fqdn`: A records, or None (NXDOMAIN)."""
        kubernetes_ip, dns_ip = service_addresses(self.cluster)
        pod_suffix = f".pod.{self.domain}"
        if fqdn.endswith(pod_suffix) and fqdn.count(".") == pod_suffix.count(".") + 1:
            # `1-2-3-4.<ns>.pod.<domain>`: kind's Corefile says `pods insecure`, which answers the dashed
            # address as written (plugin/kubernetes/kubernetes.go, podModeInsecure, at coredns v1.11.3)
            try:
                return [str(ipaddress.IPv4Address(fqdn.split(".")[0].replace("-", ".")))]
            except ValueError:
                return None
        suffix = f".svc.{self.domain}"
        if not fqdn.endswith(suffix):
            return None
        parts = fqdn[: -len(suffix)].split(".")
        store = self.cluster.store
        if parts == ["kubernetes", "default"] and store.view("Service", "default", "kubernetes") is None:
            return [kubernetes_ip]
        if parts == ["kube-dns", "kube-system"] and store.view("Service", "kube-system", "kube-dns") is None:
            return [dns_ip]
        if len(parts) == 2:
            svc = store.view("Service", parts[1], parts[0])
            if svc is None:
                return None
            ip = svc.get("spec", {}).get("clusterIP")
            if ip and ip != "None":
                return [ip]
            eps = store.view("Endpoints", parts[1], parts[0]) or {}
            return [a["ip"] for s in eps.get("subsets", []) for a in s.get("addresses", [])] or None
        if len(parts) == 3:
            eps = store.view("Endpoints", parts[2], parts[1]) or {}
            return [a["ip"] for s in eps.get("subsets", []) for a in s.get("addresses", [])
                    if a.get("hostname") == parts[0]] or None
        return None

    def _reverse(self, ip: str) -> tuple[str, list[str]] | None:
        svc = self.cluster.service_by_ip(ip)
        if svc is not None:
            meta = svc["metadata"]
            return f"{meta['name']}.{meta['namespace']}.svc.{self.domain}", [ip]
        if ip == self.pod_ip:
            return self.hostname, [ip]
        return None


class PodNetwork:
    """The pod's network for the shell: names by a resolver, HTTP as the pod's processes send it. To the
    pod itself (localhost, its own IP) straight to the container's port; anywhere else through the pod's
    proxy, which routes by the request's authority: a name the pod resolved through its search domains
    (`foobar-east`) or a cluster IP reaches the proxy as the service's full name, as the real proxy finds
    the service from the connection's original destination. An unmeshed pod's connection goes where kube-proxy
    routes it, as plain HTTP."""

    def __init__(self, runtime: PodRuntime, resolver: StoreResolver):
        self.runtime, self.resolver = runtime, resolver

    def resolve(self, name: str) -> tuple[str, list[str]] | None:
        return self.resolver.resolve(name)

    def lookup(self, fqdn: str) -> list[str] | None:
        return self.resolver.lookup(fqdn.rstrip("."))

    async def get(self, url: str, headers: dict[str, str], timeout: float) -> httpwire.Response:
        parts = urlsplit(url)
        request = httpwire.Request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), dict(headers))
        found = self.resolve(parts.hostname or "")
        port = parts.port or 80
        if parts.hostname == "127.0.0.1" or (found and found[1] and found[1][0] in ("127.0.0.1", self.resolver.pod_ip)):
            response = await self._call(self.runtime.local(port, request, timeout))
            if response is None:
                raise NetError(7, "Connection refused")
            return response
        if self.runtime.proxy is None:
            return await self._unmeshed(found, parts.port or 80, request, timeout)
        if found and found[0].endswith(f".svc.{self.resolver.domain}") and found[0] != parts.hostname \
                and parts.hostname not in found[1]:  # an IP literal: the proxy routes it by its original destination
            request.headers["host"] = found[0] + (f":{parts.port}" if parts.port else "")
        return await self._call(self.runtime.outbound(request, timeout))

    async def _unmeshed(self, found: tuple[str, list[str]] | None, port: int, request: httpwire.Request,
                        timeout: float) -> httpwire.Response:
        """A pod outside the mesh sends plain HTTP where kube-proxy and the pod network route its connection
        (a cluster IP to one ready endpoint): to the other pod's port, which a meshed pod's proxy takes on its
        inbound side under that pod's policy for a client without an identity."""
        if not found or not found[1]:
            raise NetError(6, "Could not resolve host")
        cluster = self.resolver.cluster
        real = cluster.network.resolve(found[1][0], port, source=cluster)
        if real is None:
            raise NetError(7, f"Failed to connect to {found[1][0]} port {port}: Connection refused")
        return await self._call(httpwire.fetch(*real, request, timeout))

    @staticmethod
    async def _call(sending):
        try:
            return await sending
        except asyncio.TimeoutError:
            raise
        except ConnectionResetError as exc:  # the peer reset after taking the connection: curl's 56
            raise NetError(56, str(exc)) from None
        except OSError as exc:  # refused, unreachable: curl's 7
            raise NetError(7, str(exc)) from None
        except (httpwire.WireError, asyncio.IncompleteReadError) as exc:  # closed before a reply: 52
            raise NetError(52, str(exc)) from None


def pod_view(cluster: SimCluster, runtime: PodRuntime, pod: dict, container: dict, image: Image, tty: bool) -> PodView:
    meta, spec = pod["metadata"], pod.get("spec", {})
    namespace, hostname = meta["namespace"], spec.get("hostname") or meta["name"]
    pod_ip = (pod.get("status") or {}).get("podIP") or runtime.ip
    resolver = StoreResolver(cluster, namespace, hostname, pod_ip)
    env = {**dict(image.env), "HOSTNAME": hostname}
    if spec.get("enableServiceLinks", True) is not False:
        env.update(service_links(cluster, namespace, (pod.get("status") or {}).get("startTime")
                                 or meta.get("creationTimestamp") or ""))
    env.update(container_env(cluster, pod, container))
    env.setdefault("HOME", image.home)
    if tty:
        env.setdefault("TERM", "xterm")
    files = {"/etc/hostname": f"{hostname}\n".encode(), "/etc/os-release": OS_RELEASE,
             "/etc/resolv.conf": resolv_conf(cluster, resolver).encode(), "/etc/hosts": hosts(hostname, pod_ip).encode(),
             "/etc/passwd": (f"root:x:0:0:root:/root:/bin/sh\n{image.user}:x:{image.uid}:{image.gid}::"
                             f"{image.home}:/sbin/nologin\n").encode()}
    files.update({f"/bin/{tool}": b"" for tool in image.tools if tool != "curl"})
    files["/usr/bin/curl"] = b""
    if spec.get("automountServiceAccountToken", True) is not False:
        files.update(service_account_files(cluster, namespace, spec.get("serviceAccountName") or "default"))
    written = _written.setdefault(runtime, ({}, set()))
    command = " ".join(container.get("command", []) + container.get("args", [])) or "sleep infinity"
    return PodView(hostname, namespace, env, files, PodNetwork(runtime, resolver), user=image.user, uid=image.uid,
                   gid=image.gid, group=image.group, command=command, home=image.home, cwd=image.cwd,
                   tools=image.tools, writable=("/tmp", image.home), overlay=written[0], made_dirs=written[1],
                   started=_started(pod), image=container.get("image", ""))


def _started(pod: dict) -> float:
    stamp = (pod.get("status") or {}).get("startTime") or pod["metadata"].get("creationTimestamp")
    try:
        return time.mktime(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    except (TypeError, ValueError):
        return time.time()


def resolv_conf(cluster: SimCluster, resolver: StoreResolver) -> str:
    return f"search {' '.join(resolver.search())}\nnameserver {service_addresses(cluster)[1]}\noptions ndots:5\n"


def hosts(hostname: str, pod_ip: str) -> str:
    """The kubelet's hosts file (pkg/kubelet/kubelet_pods.go, managedHostsFileContent)."""
    return ("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
            "fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n"
            f"{pod_ip}\t{hostname}\n")


def service_links(cluster: SimCluster, namespace: str, since: str = "") -> dict[str, str]:
    """Docker-link style variables of the namespace's services with a cluster IP that existed when the
    container started (`since`, RFC 3339), and the `kubernetes` service's (the kubelet adds the master
    service to every namespace's)."""
    env: dict[str, str] = {}
    kubernetes_ip = service_addresses(cluster)[0]
    services = list(cluster.store.views("Service", namespace))
    if not any(s["metadata"]["name"] == "kubernetes" for s in services):
        services.append(cluster.store.view("Service", "default", "kubernetes") or {
            "metadata": {"name": "kubernetes"},
            "spec": {"clusterIP": kubernetes_ip, "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}})
    for svc in sorted(services, key=lambda s: s["metadata"]["name"]):
        created = svc["metadata"].get("creationTimestamp") or ""
        if since and created > since and svc["metadata"]["name"] != "kubernetes":
            continue  # a container's environment is made once, when it starts
        ip = svc.get("spec", {}).get("clusterIP")
        ports = svc.get("spec", {}).get("ports") or []
        if not ip or ip == "None" or not ports:
            continue
        prefix = svc["metadata"]["name"].upper().replace("-", "_")
        env[f"{prefix}_SERVICE_HOST"] = ip
        env[f"{prefix}_SERVICE_PORT"] = str(ports[0]["port"])
        for port in ports:
            if port.get("name"):
                env[f"{prefix}_SERVICE_PORT_{port['name'].upper().replace('-', '_')}"] = str(port["port"])
        first = ports[0]
        env[f"{prefix}_PORT"] = f"{first.get('protocol', 'TCP').lower()}://{ip}:{first['port']}"
        for port in ports:
            proto = port.get("protocol", "TCP")
            key = f"{prefix}_PORT_{port['port']}_{proto.upper()}"
            env.update({key: f"{proto.lower()}://{ip}:{port['port']}", f"{key}_PROTO": proto.lower(),
                        f"{key}_PORT": str(port["port"]), f"{key}_ADDR": ip})
    return env


def container_env(cluster: SimCluster, pod: dict, container: dict) -> dict[str, str]:
    """The container's `envFrom` and `env`, each value resolved as the kubelet resolves it."""
    env: dict[str, str] = {}
    namespace = pod["metadata"]["namespace"]
    for source in container.get("envFrom") or []:
        kind, ref = ("ConfigMap", source["configMapRef"]) if "configMapRef" in source else ("Secret", source.get("secretRef") or {})
        obj = cluster.store.view(kind, namespace, ref.get("name", "")) or {}
        for key, value in (obj.get("data") or {}).items():
            env[source.get("prefix", "") + key] = _decoded(kind, value)
    for item in container.get("env") or []:
        if "value" in item or "valueFrom" not in item:
            env[item["name"]] = str(item.get("value", ""))
            continue
        ref = item["valueFrom"]
        if "fieldRef" in ref:
            env[item["name"]] = _field(pod, ref["fieldRef"].get("fieldPath", ""))
        elif "configMapKeyRef" in ref or "secretKeyRef" in ref:
            kind, key_ref = ("ConfigMap", ref["configMapKeyRef"]) if "configMapKeyRef" in ref else ("Secret", ref["secretKeyRef"])
            obj = cluster.store.view(kind, namespace, key_ref.get("name", "")) or {}
            value = (obj.get("data") or {}).get(key_ref.get("key", ""))
            if value is not None:
                env[item["name"]] = _decoded(kind, value)
    return env


def _decoded(kind: str, value: str) -> str:
    return base64.b64decode(value).decode("utf-8", "replace") if kind == "Secret" else str(value)


def _field(pod: dict, path: str) -> str:
    meta, spec, status = pod["metadata"], pod.get("spec", {}), pod.get("status") or {}
    if path.startswith(("metadata.labels['", "metadata.annotations['")):
        which, _, key = path.partition("['")
        return (meta.get(which.split(".")[1]) or {}).get(key.rstrip("']"), "")
    return str({"metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace"),
                "metadata.uid": meta.get("uid"), "spec.nodeName": spec.get("nodeName"),
                "spec.serviceAccountName": spec.get("serviceAccountName", "default"),
                "status.podIP": status.get("podIP"), "status.hostIP": status.get("hostIP")}.get(path) or "")


def service_account_files(cluster: SimCluster, namespace: str, account: str) -> dict[str, bytes]:
    """The projected service-account volume. Its token is the account's token Secret's where one exists
    (the simulated API authenticates those); otherwise an unsigned token naming the account, which the
    simulated API does not accept (it issues no bound tokens)."""
    token = None
    for secret in cluster.store.views("Secret", namespace):
        annotations = secret["metadata"].get("annotations") or {}
        if secret.get("type") == "kubernetes.io/service-account-token" and \
                annotations.get("kubernetes.io/service-account.name") == account and (secret.get("data") or {}).get("token"):
            token = base64.b64decode(secret["data"]["token"]).decode()
            break
    if token is None:
        claims = {"aud": ["https://kubernetes.default.svc.cluster.local"], "iss": "https://kubernetes.default.svc.cluster.local",
                  "sub": f"system:serviceaccount:{namespace}:{account}",
                  "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": account}}}
        encode = lambda obj: base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).rstrip(b"=").decode()  # noqa: E731
        token = f"{encode({'alg': 'none', 'typ': 'JWT'})}.{encode(claims)}."
    ca = ApiCerts(cluster.cert_dir / "apiserver").ca
    return {f"{SA_DIR}/token": token.encode(), f"{SA_DIR}/namespace": namespace.encode(),
            f"{SA_DIR}/ca.crt": ca.read_bytes() if ca.exists() else b""}
