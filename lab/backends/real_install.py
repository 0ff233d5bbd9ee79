"""Installing on real clusters (kind, or existing contexts) with the real tools: the linkerd CLI
(`CliInstaller`) or Helm (`HelmInstaller`), each line run, recorded or scripted by the provider's runner.

The two differ only in how the multicluster extension and the link credentials are installed; MetalLB,
Linkerd, the Gateway API CRDs, links and gateways are the same commands for both.
"""
from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path

from ..model import gateways
from ..render import helm, manifests
from ..tools.run import Dynamic, cmd, pipe
from ..trust.files import pki_dir, roots_path
from .. import names
from .base import ROOTS_ANNOTATION, Installer
from .kubectl import ROLLOUT_RESOURCE, WAIT, Kubectl

LINK_CHECK_ATTEMPTS = 20  # `multicluster check` after linking, one probe period apart (see link)
TOKEN_ATTEMPTS, TOKEN_INTERVAL = 30, 2.0  # a link account's token, polled before linking (HelmInstaller)


class CliInstaller(Installer):
    """The guide's commands: `linkerd install`, `linkerd multicluster install`, `link`/`link-gen`."""

    kube: Kubectl

    def __init__(self, backend):
        super().__init__(backend)
        self._scripted_legacy_links: set[tuple[str, str]] = set()  # linked with `link` earlier in a printed plan

    def install_loadbalancer(self, cluster: str) -> None:
        """MetalLB at the profile's version, ready before its pool is applied (its webhook rejects pools until then);
        nothing where the cluster brings its own LoadBalancer implementation (existing contexts)."""
        if self.backend.provider.lb_pool(cluster) is None:
            return
        for url in self.cfg.profile.metallb_manifests:
            self.kube.runner.run(self.kube.kubectl(cluster, "apply", "-f", url))
        if self.cfg.profile.metallb_config == "configmap":
            # MetalLB < 0.13 needs a memberlist secret (metallb.universe.tf v0.9 installation docs).
            key = Dynamic("$(openssl rand -base64 128)", lambda: base64.b64encode(secrets.token_bytes(128)).decode())
            self.kube.runner.run(self.kube.kubectl(cluster, "create", "secret", "generic", "-n", names.METALLB_NS, "memberlist",
                                         Dynamic(f"--from-literal=secretkey={key.shell}",
                                                 lambda: f"--from-literal=secretkey={key.resolve()}")))
        # Not `kubectl wait pod --selector=app=metallb`: right after the apply no pod may exist yet, and kubectl
        # then fails at once ("no matching resources found") or, with one pod made, passes without the other.
        # The release's controller Deployment by name (metallb v0.9.3 manifests/metallb.yaml, v0.16.1
        # config/manifests/metallb-native.yaml), which serves the webhook that refuses pools until it is ready
        # and assigns the addresses; rollout status waits until its ready pod is the current one. The speaker
        # DaemonSet only answers ARP for the addresses: nothing dials one before the link's retried check.
        self.kube.wait_rollout(cluster, names.METALLB_NS, "controller")

    def install_gateway_api(self, cluster: str) -> None:
        """The Gateway API release edge's `linkerd check` names, applied server-side as its hint says
        (pkg/healthcheck/healthcheck.go GatewayAPICRDsMissingError, edge-26.8.3): the CRDs are too large
        for client-side apply's last-applied annotation."""
        self.kube.runner.run(self.kube.kubectl(cluster, "apply", "--server-side", "-f", self.cfg.profile.gateway_api_manifest))
        self.kube.runner.run(self.kube.kubectl(cluster, "wait", "--for=condition=established", f"--timeout={WAIT}",
                                     *(f"crd/{plural}.gateway.networking.k8s.io" for plural in manifests.GATEWAY_API_CRDS)))

    def install_linkerd(self, cluster: str) -> None:
        base = pki_dir(self.cfg, self.root)
        if self.cfg.profile.linkerd_crds_first:
            self.kube.apply_output(cluster, self.kube.linkerd(cluster, "install", "--crds"))
        self.kube.apply_output(cluster, self.kube.linkerd(
            cluster, "install",
            "--identity-trust-anchors-file", str(roots_path(self.cfg, self.root, cluster)),
            "--identity-issuer-certificate-file", str(base / cluster / "issuer.crt"),
            "--identity-issuer-key-file", str(base / cluster / "issuer.key")))
        # No viz: edge's `multicluster gateways` reads the service mirror's metrics itself
        # (multicluster/cmd/gateways.go, edge-26.8.3; the viz dependency went in linkerd2 PR 8467).
        self.kube.runner.run(self.kube.linkerd(cluster, "check"))

    def fetch_trust_anchors(self, cluster: str, dest: Path) -> None:
        """The guide's `kubectl get cm/linkerd-config -ojsonpath="{.data.global}" | jq ...`, with python3 for jq."""
        if self.cfg.profile.trust_roots == "linkerd-config":
            self.kube.runner.run(pipe(
                self.kube.kubectl(cluster, "-n", names.LINKERD_NS, "get", "cm/linkerd-config", "-o", "jsonpath={.data.global}"),
                cmd("python3", "-c", "import json,sys; print(json.load(sys.stdin)['identityContext']['trustAnchorsPem'], end='')",
                    stdout_to=dest)))
        else:
            self.kube.runner.run(self.kube.kubectl(cluster, "-n", names.LINKERD_NS, "get", "cm/linkerd-identity-trust-roots",
                                         "-o", "jsonpath={.data.ca-bundle\\.crt}", stdout_to=dest))

    def write_bundle(self, dest: Path, sources: list[Path]) -> None:
        """`awk 1` is the guide's `cat` with a newline after any file that lacks its last one: edge's
        trust roots come back from jsonpath trimmed, and `cat` would glue two PEM blocks on one line."""
        self.kube.runner.run(cmd("awk", "1", *(str(s) for s in sources), stdout_to=dest))

    def upgrade_linkerd(self, cluster: str, with_issuer: bool) -> None:
        base = pki_dir(self.cfg, self.root)
        issuer = ["--identity-issuer-certificate-file", str(base / cluster / "issuer.crt"),
                  "--identity-issuer-key-file", str(base / cluster / "issuer.key")] if with_issuer else []
        self.kube.apply_output(cluster, self.kube.linkerd(cluster, "upgrade", "--identity-trust-anchors-file",
                                                str(base / "bundle.crt"), *issuer))
        self.kube.runner.run(self.kube.linkerd(cluster, "check"))

    def restart_workloads(self, cluster: str, workloads: list[tuple[str, str, str]], stamp) -> None:
        def patch_for(value: str) -> str:
            return json.dumps({"spec": {"template": {"metadata": {"annotations": {ROOTS_ANNOTATION: value}}}}})

        for kind, namespace, name in workloads:
            # Only what exists: the bundle runs right after `linkerd`, before the lab's meshed workloads
            # (a printed script for a fresh lab therefore restarts nothing), and patching a missing one fails.
            if self.kube.get(cluster, kind, namespace, name) is None:
                continue
            if isinstance(stamp, Dynamic):
                # inside a double-quoted shell word: escape the JSON's quotes, let $(...) expand
                shell = patch_for("@STAMP@").replace('"', '\\"').replace("@STAMP@", stamp.shell)
                patch = Dynamic(shell, lambda: patch_for(stamp.resolve()))
            else:
                patch = patch_for(str(stamp))
            resource = ROLLOUT_RESOURCE[kind]
            self.kube.runner.run(self.kube.kubectl(cluster, "-n", namespace, "patch", resource, name, "-p", patch))
            self.kube.wait_rollout(cluster, namespace, name, kind)


    def _controller_values(self, cluster: str) -> list[str]:
        """Linkerd 2.18+: the service mirror for each link comes with the extension."""
        if self.cfg.link_command != "link-gen":  # 2.8.1, or links that bring their own controller
            return []
        sources = [link for link in self.cfg.links if link.source == cluster]
        values = []
        for i, link in enumerate(sources):
            values.append(f"controllers[{i}].link.ref.name={link.target}")
            if not link.via_gateway:  # no gateway to probe (values.yaml controllerDefaults.gateway.enabled)
                values.append(f"controllers[{i}].gateway.enabled=false")
            if manifests.headless_exports(self.cfg, link.target):  # off by default (controllerDefaults)
                values.append(f"controllers[{i}].enableHeadlessServices=true")
        return values

    def _extension_values(self, cluster: str) -> list[str]:
        return [a for v in self._controller_values(cluster) for a in ("--set", v)]

    def install_multicluster(self, cluster: str) -> None:
        self.kube.apply_output(cluster, self.kube.linkerd(cluster, "multicluster", "install", *self._extension_values(cluster)))
        self.kube.wait_rollout(cluster, names.MC_NS, names.GATEWAY)

    def allow_access(self, target: str, source: str) -> None:
        self.kube.apply_output(target, self.kube.linkerd(target, "multicluster", "allow", "--service-account-name", source))

    def revoke_access(self, target: str, source: str) -> None:
        # Not `allow --ignore-cluster ... | kubectl delete -f -`: `allow` renders the extension's Namespace
        # too (templates/namespace.yaml: installNamespace defaults to true in 2.8.1's allow values; edge
        # renders it whenever the CLI renders), and deleting that would remove the whole extension.
        # The account's own objects, by the names the chart gives them (2.8.1's token Secret is made and
        # removed with the account by Kubernetes' token controller, so it is not named here):
        objects = [o for o in manifests.access_objects(self.cfg, self.shared_account(target, source))
                   if not (o["kind"] == "Secret" and not self.cfg.profile.link_crd)]
        for namespaced in (False, True):
            resources = [f"{o['kind'].lower()}/{o['metadata']['name']}" for o in objects
                         if ("namespace" in o["metadata"]) == namespaced]
            scope = ["-n", names.MC_NS] if namespaced else []
            self.kube.runner.run(self.kube.kubectl(target, *scope, "delete", *resources, "--ignore-not-found"))

    def retire_link_controller(self, source: str, target: str) -> None:
        """Upstream's way off the deprecated `link` (edge-26.8.3 multicluster/cmd/unlink.go, whose deprecation
        note names it): `linkerd multicluster unlink --only-controller | kubectl delete -f -` in the source. It
        renders the link's controller, account and RBAC, and, when the Link has a probe path, the link chart's
        `probe-gateway-<target>` Service (linkerd-multicluster-link/templates/gateway-mirror.yaml); the Link,
        credentials, Lease and mirrors stay. Left beside the extension's `probe-<target>`, that Service fails
        `multicluster check` with "wrong number (2) of probe gateways" (multicluster/cmd/check.go). A printed
        plan retires only what it linked with `link` itself: a script starts from no clusters, and unlink
        fails where there is no Link yet."""
        if self.kube.runner.scripting:
            if (source, target) not in self._scripted_legacy_links:
                return
            self._scripted_legacy_links.discard((source, target))
        elif self.kube.get(source, "Deployment", names.MC_NS, manifests.legacy_controller_name(target)) is None:
            return
        # edge-26.8.3 multicluster/cmd/unlink.go: --only-controller leaves out the Link CR, credentials, Lease
        # and mirror services; it reads the Link in the cluster the context names, the source.
        self.kube.runner.run(pipe(self.kube.linkerd(source, "multicluster", "unlink", "--cluster-name", target, "--only-controller"),
                                  self.kube.kubectl(source, "delete", "-f", "-")))

    def link(self, source: str, target: str, gateway: gateways.Gateway | None, service_account: str | None = None) -> None:
        gw = gateway
        account = ["--service-account-name", service_account] if service_account else []
        # 2.8's link names no gateway (each export's annotations do); link-gen writes one into the Link, or
        # none with --gateway=false (pod-to-pod; multicluster/cmd/link-gen.go, edge-26.8.3).
        if gw is None:
            named = ["--gateway=false"]
        elif not self.cfg.profile.link_crd or gw.bundled:
            named = []
        else:
            named = ["--gateway-name", gw.name, "--gateway-namespace", gw.namespace]
        if self.cfg.links_bring_controllers and manifests.headless_exports(self.cfg, target):
            named.append("--set=enableHeadlessServices=true")  # the link chart's value (linkerd-multicluster-link)
        self.kube.apply_output(source, self.kube.linkerd(target, "multicluster", self.cfg.link_command, "--cluster-name", target,
                                               *self.backend.provider.api_server_args(target), *account, *named))
        if self.cfg.links_bring_controllers and self.kube.runner.scripting:
            self._scripted_legacy_links.add((source, target))
        # The guide's verification after linking; it exits 1 while the clusters' anchors differ. It also
        # fails until the new gateway's first probe: the probe worker runs on a ticker, the first probe one
        # period after the link (edge-26.8.3 multicluster/service-mirror/probe_worker.go), and the check
        # "probe services able to communicate with all gateway mirrors" has no retry deadline
        # (multicluster/cmd/check.go). So the check is repeated for a few probe periods before it counts.
        period = float(self.cfg.probe_period)
        self.kube.runner.retry(self.kube.linkerd(source, *self.cfg.profile.mc_check), attempts=LINK_CHECK_ATTEMPTS, interval=period)
        self.kube.runner.run(self.kube.linkerd(source, "multicluster", "gateways"))

    def install_gateway(self, cluster: str, gateway) -> None:
        """The gateway type's own commands (lab/model/gateways.py): the guide's "Leverage Ambassador" for Ambassador."""
        gateway.install_on_kind(self.kube, cluster)



class HelmInstaller(CliInstaller):
    """The guide's Helm path: the extension as the `linkerd-multicluster` chart, and each source's credentials
    as that chart's values (edge: one release owns every account) or a release of its own (2.8)."""

    def _helm_namespace(self, create: bool = False) -> list[str]:
        """2.8's chart templates its own namespace; today's charts install into the release namespace."""
        if self.cfg.profile.helm_access == "release":
            return []
        return ["-n", names.MC_NS] + (["--create-namespace"] if create else [])

    def install_multicluster(self, cluster: str) -> None:
        repo, url, chart, version = helm.chart(self.cfg)
        self.kube.runner.run(cmd("helm", "repo", "add", repo, url))
        self.kube.runner.run(self.kube.helm(cluster, "install", helm.MAIN_RELEASE, chart, "--version", version,
                                            *self._helm_namespace(create=True), *self._extension_values(cluster)))
        self.kube.wait_rollout(cluster, names.MC_NS, names.GATEWAY)

    def link_account(self, source: str) -> str | None:
        return source  # each source's own account, from its own values or release

    def grant_link_access(self, target: str, source: str) -> None:
        self.allow_access(target, source)  # the guide's access credentials for this source
        self._wait_for_token(target, source)

    def _wait_for_token(self, target: str, account: str) -> None:
        """Helm returns once the account exists, before Kubernetes' token controller has filled its token, and
        link then fails: edge's link-gen with "could not find the token data in service account secret"
        (multicluster/cmd/link-gen.go extractSAToken, edge-26.8.3: the chart's Secret `<account>-token`), 2.8.1's
        link with "could not find service account token secret" until the controller lists the Secret it made
        on the account (cli/cmd/multicluster.go, stable-2.8.1). So the token is polled first."""
        if self.cfg.profile.link_crd:
            read = self.kube.kubectl(target, "-n", names.MC_NS, "get", "secret", f"{account}-token", "-o", "jsonpath={.data.token}")
        else:
            read = self.kube.kubectl(target, "-n", names.MC_NS, "get", "serviceaccount", account, "-o", "jsonpath={.secrets[*].name}")
        waited = TOKEN_ATTEMPTS * TOKEN_INTERVAL
        self.kube.runner.retry(pipe(read, cmd("grep", "-q", ".")), attempts=TOKEN_ATTEMPTS, interval=TOKEN_INTERVAL,
                               failure=f"the token of service account {names.MC_NS}/{account} in {target} is still empty after "
                                       f"{waited:g}s: the token controller has not filled it. Fix: check the "
                                       f"kube-controller-manager in {target} (`kubectl -n kube-system get pods`)")

    def _access_accounts(self, target: str, without: str | None = None) -> list[str]:
        """The main release's `remoteMirrorServiceAccountName` list (edge): the default account and one
        per source linked to `target`, in the config's order."""
        sources = [link.source for link in self.cfg.links if link.target == target and link.source != without]
        return [names.REMOTE_ACCESS_SA] + sources

    def _helm_accounts_upgrade(self, target: str, accounts: list[str]) -> None:
        """Edge: one release owns the accounts (templates/remote-access-service-mirror-rbac.yaml ranges over the
        list); a second release of the chart would own the Link CRD and the local mirror's RBAC twice."""
        _, _, chart, version = helm.chart(self.cfg)
        self.kube.runner.run(self.kube.helm(target, "upgrade", helm.MAIN_RELEASE, chart, "--version", version,
                                            *self._helm_namespace(), "--reuse-values",
                                            "--set", f"remoteMirrorServiceAccountName={{{','.join(accounts)}}}"))

    def allow_access(self, target: str, source: str) -> None:
        if self.cfg.profile.helm_access == "values":
            self._helm_accounts_upgrade(target, self._access_accounts(target))
            return
        _, _, chart, version = helm.chart(self.cfg)
        self.kube.runner.run(self.kube.helm(target, "install", helm.access_release(source), chart, "--version", version,
                                            *self._helm_namespace(),
                                            *(a for v in helm.access_values(self.cfg, source) for a in ("--set", v))))

    def revoke_access(self, target: str, source: str) -> None:
        if self.cfg.profile.helm_access == "values":
            self._helm_accounts_upgrade(target, self._access_accounts(target, without=source))
            return
        self.kube.runner.run(self.kube.helm(target, "uninstall", helm.access_release(source), *self._helm_namespace()))
