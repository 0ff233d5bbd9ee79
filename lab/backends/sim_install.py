"""Installing on the simulated clusters: what the guide's commands would apply, applied through the cluster's
Kubernetes API. `SimCliInstaller` applies what `linkerd install`/`multicluster install`/`link` render (after
the checks those commands make first); `SimHelmInstaller` installs the extension and the access credentials
as Helm releases, with Helm's ownership rules."""
from __future__ import annotations

import base64
import time
from pathlib import Path

from ..model import gateways
from ..render import helm, manifests, readback
from ..trust import pki
from ..sim.kube.apicerts import ApiCerts
from ..trust.files import pki_dir, roots_path
from .. import names
from .base import Installer, LabError, wait_until


# How long the lab waits for the token controller to fill the link account's token Secret before it runs `link`
# (the kind plans poll `{.data.token}` as long; see tests/test_kind_plan.py).
TOKEN_WAIT = 10.0
TOKEN_SECRET_TYPE = "kubernetes.io/service-account-token"


def link_token(profile, account: str, sa: dict | None, secrets: list[dict]) -> str:
    """The token `link` copies into the link's kubeconfig, found as the profile's CLI finds it, or LabError
    with the CLI's own words where it refuses:
    - stable-2.8.1 cli/cmd/multicluster.go (`link`): the first of the account's `secrets` named
      `<account>-token...`, then that Secret's `token` data;
    - edge-26.8.3 multicluster/cmd/link-gen.go getKubeconfig and extractSAToken (`link.go` the same): the
      first `type=kubernetes.io/service-account-token` Secret annotated with the account, then its `token`.
    Both refuse only a missing `token` key; an empty value is copied as it is (the token controller has not
    filled it yet), and a kubeconfig without credentials is what the target's API server then refuses."""
    if sa is None:  # the account is read first: client-go's NotFound
        raise LabError(f'serviceaccounts "{account}" not found')
    if profile.link_crd:
        found = next((s for s in secrets if s.get("type") == TOKEN_SECRET_TYPE and
                      s["metadata"].get("annotations", {}).get("kubernetes.io/service-account.name") == account), None)
        if found is None:
            raise LabError(f"could not find service account token secret for {account}")
        missing = f"could not find the token data in service account secret {found['metadata']['name']}"
    else:
        name = next((ref.get("name", "") for ref in sa.get("secrets", []) if ref.get("name", "").startswith(f"{account}-token")), "")
        if not name:
            raise LabError(f"could not find service account token secret for {account}")
        found = next((s for s in secrets if s["metadata"]["name"] == name), None)
        if found is None:
            raise LabError(f'secrets "{name}" not found')
        missing = "could not find the token data in the service account secret"
    data = found.get("data") or {}
    if "token" not in data:
        raise LabError(missing)
    return base64.b64decode(data["token"]).decode()


class SimCliInstaller(Installer):
    def install_loadbalancer(self, cluster: str) -> None:
        """MetalLB as its manifests leave it (namespace, CRDs, controller); the lab process's MetalLB
        controller does the controller's work."""
        self.kube.apply(cluster, manifests.metallb_install(self.cfg.profile))

    def install_gateway_api(self, cluster: str) -> None:
        if self.cfg.profile.gateway_api:
            self.kube.apply(cluster, manifests.gateway_api_crds(self.cfg.profile.gateway_api))

    def _read_anchors(self, path: Path) -> str:
        """The anchors file as `linkerd install` reads it: Go's PEM rules (pki.go_pem_certificates)."""
        try:
            text = path.read_text()
            pki.go_pem_certificates(text)
        except FileNotFoundError:
            raise LabError(f"{path} does not exist. Fix: run the trust step first (`./labctl step trust`)") from None
        except pki.PKIError as exc:
            raise LabError(f"linkerd refuses the trust anchors in {path}: {exc}") from None
        return text

    def _linkerd_install(self, cluster: str, anchors_file: Path, with_issuer: bool) -> None:
        """What `linkerd install`/`upgrade` does before printing anything: refuse without the Gateway API
        CRDs where the version needs them, read and verify the anchors and the issuer, then apply."""
        if self.cfg.profile.gateway_api and not self.kube.gateway_api_installed(cluster):
            # edge-26.8.3 pkg/healthcheck/healthcheck.go GatewayAPICRDsMissingError (and `check`'s fatal check)
            raise LabError("The Gateway API CRDs must be installed prior to installing Linkerd. Fix: apply "
                           f"{self.cfg.profile.gateway_api_manifest} with `kubectl apply --server-side` first")
        anchors = self._read_anchors(anchors_file)
        crt = key = None
        if with_issuer:
            base = pki_dir(self.cfg, self.root) / cluster
            issuer = pki.load_pair(base / "issuer.crt", base / "issuer.key")
            try:
                pki.validate_issuer(issuer.cert, pki.go_pem_certificates(anchors))
            except pki.PKIError as exc:  # cli/cmd/install.go readValues: "failed to verify issuer certs stored on disk"
                raise LabError(f"failed to verify issuer certs stored on disk: {exc}") from None
            crt, key = issuer.cert_pem, issuer.key_pem
        crds = manifests.policy_crds() if self.cfg.profile.policy else []
        self.kube.apply(cluster, crds + manifests.linkerd_identity(self.cfg, anchors, crt, key) + manifests.control_plane(self.cfg))

    def install_linkerd(self, cluster: str) -> None:
        self._linkerd_install(cluster, roots_path(self.cfg, self.root, cluster), with_issuer=True)

    def upgrade_linkerd(self, cluster: str, with_issuer: bool) -> None:
        self._linkerd_install(cluster, pki_dir(self.cfg, self.root) / "bundle.crt", with_issuer)

    def install_multicluster(self, cluster: str) -> None:
        self.kube.apply(cluster, manifests.multicluster(self.cfg, cluster))

    def allow_access(self, target: str, source: str) -> None:
        # `linkerd multicluster allow --service-account-name <source>` renders the same objects
        self.kube.apply(target, manifests.access_objects(self.cfg, source))

    def revoke_access(self, target: str, source: str) -> None:
        for obj in manifests.access_objects(self.cfg, self.shared_account(target, source)):
            self.kube.delete(target, obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])

    def install_gateway(self, cluster: str, gateway) -> None:
        objects = gateway.objects(self.cfg)  # none for the bundled gateway: the extension brought it
        if objects:
            self.kube.apply(cluster, objects)

    def _account_token(self, target: str, account: str) -> str:
        """The account's token as `link` reads it from the target (see link_token); refusals raise LabError."""
        return link_token(self.cfg.profile, account, self.kube.get(target, "ServiceAccount", names.MC_NS, account),
                          self.kube.list(target, "Secret", names.MC_NS))

    def link(self, source: str, target: str, gateway: gateways.Gateway | None, service_account: str | None = None) -> None:
        gw = gateway
        account = service_account or names.REMOTE_ACCESS_SA
        command = f"linkerd multicluster {self.cfg.profile.link_command}"

        def filled() -> str | None:
            try:
                return self._account_token(target, account) or None
            except LabError:
                return None
        # First the token controller's fill, as the kind plans wait for it (an empty token is one it has not
        # written yet); then what `link` itself reads, refusing as it refuses.
        try:
            token = wait_until(filled, TOKEN_WAIT, f"the token of service account {names.MC_NS}/{account} in {target}")
        except LabError:
            try:
                token = self._account_token(target, account)
            except LabError as refused:
                raise LabError(f"`{command}` against {target} refused: {refused}") from None
            # An empty token is one `link` does not refuse (it checks only that the key is there): the
            # kubeconfig it writes carries no credentials, and the target's API server refuses them when
            # the check below asks.
        service = None
        if self.cfg.profile.link_crd and gw is not None:
            service = wait_until(lambda: (svc := self.kube.get(target, "Service", gw.namespace, gw.name)) and readback.ingress_ip(svc) and svc,
                                 10, f"a LoadBalancer address for {target}'s gateway {gw.namespace}/{gw.name}")
        # As link-gen writes it: the target's API address and CA, and the account's token; usable with kubectl.
        server = f"https://127.0.0.1:{self.backend.provider.rpc('GET', 'health')['kubeapi'][target]}"
        ca = ApiCerts.of(self.backend.provider.sim_dir, target).ca.read_text()
        self.kube.apply(source, manifests.link(self.cfg, target, server, token, service, account, ca_pem=ca))
        # The guide checks right after linking, as the kind backend does: a failing check stops here. Only
        # the gateway-liveness check is given time, as long as the first probe takes (one probe period, as on
        # a real cluster); anything else (credentials, anchors) fails at once.
        self.backend.provider.settle()
        deadline = time.monotonic() + 4 * self.cfg.probe_period + 5
        while True:
            failed = [r for r in self.kube.check(source) if r.failed]
            waiting = failed and all(r.name == self.cfg.profile.check_gateway_alive for r in failed)
            if not waiting or time.monotonic() > deadline:
                break
            # Looked at again after the lab process's next reconcile pass, as `until linkerd multicluster check`
            # would poll: the probe worker's first answer wakes a pass (lab/sim/mesh/mirror.py `_on_liveness`), so
            # the look comes right after the gateway turns alive, and a second at most after the last one.
            self.backend.provider.pause(1.0)
        if failed:
            raise LabError(f"`linkerd {' '.join(self.cfg.profile.mc_check)}` in {source} failed after linking {target}: " +
                           "; ".join(f"{r.name}: {r.error}" for r in failed))


class SimHelmInstaller(SimCliInstaller):
    """The guide's Helm path, with Helm's rules modelled: a release owns its objects (and refuses another's),
    its record is the `sh.helm.release.v1.<release>.v1` Secret, and uninstall removes exactly what it owns."""

    def install_multicluster(self, cluster: str) -> None:
        self.helm_install(cluster, helm.MAIN_RELEASE, names.MC_NS, manifests.multicluster(self.cfg, cluster))

    def link_account(self, source: str) -> str | None:
        return source  # each source's own account, from its own values or release

    def grant_link_access(self, target: str, source: str) -> None:
        self.allow_access(target, source)  # the guide's access credentials for this source

    def helm_install(self, cluster: str, release: str, namespace: str, objects: list[dict]) -> None:
        """Helm 3 refuses to install an object another release owns (pkg/action/validate.go,
        existingResourceConflict); the release record is Helm's `sh.helm.release.v1.<release>.v1`."""
        for obj in objects:
            meta = obj["metadata"]
            have = self.kube.get(cluster, obj["kind"], meta.get("namespace", ""), meta["name"])
            owner = ((have or {}).get("metadata", {}).get("annotations") or {}).get(helm.RELEASE_LABEL)
            if have is not None and owner != release:
                raise LabError(
                    f"helm install {release}: rendered manifests contain a resource that already exists. Unable to "
                    f"continue with install: {obj['kind']} \"{meta['name']}\" in namespace \"{meta.get('namespace', '')}\" "
                    f"exists and cannot be imported into the current release: invalid ownership metadata; annotation "
                    f"validation error: key \"{helm.RELEASE_LABEL}\" must equal \"{release}\": current value is "
                    f"\"{owner or ''}\"")
        owned = helm.owned(objects, release, namespace)
        self.kube.apply(cluster, owned + [helm.release_record(release, namespace, owned)])

    def helm_uninstall(self, cluster: str, release: str, namespace: str) -> bool:
        record = self.kube.get(cluster, "Secret", namespace, helm.record_name(release))
        if record is None:
            return False
        for ref in helm.owned_refs(record):
            self.kube.delete(cluster, ref["kind"], ref["namespace"], ref["name"])
        self.kube.delete(cluster, "Secret", namespace, record["metadata"]["name"])
        return True

    def _helm_set_accounts(self, target: str, accounts: list[str]) -> None:
        """`helm upgrade --reuse-values --set remoteMirrorServiceAccountName={...}` on the main release:
        its objects become the extension's plus every listed account's; dropped accounts are deleted."""
        record = self.kube.get(target, "Secret", names.MC_NS, helm.record_name(helm.MAIN_RELEASE))
        if record is None:
            raise LabError(f"no release {helm.MAIN_RELEASE} in {target}. Fix: run `./labctl step multicluster` first")
        objects = manifests.multicluster(self.cfg, target, accounts=accounts)
        keep = {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in objects}
        for ref in helm.owned_refs(record):
            if (ref["kind"], ref["namespace"], ref["name"]) not in keep:
                self.kube.delete(target, ref["kind"], ref["namespace"], ref["name"])
        owned = helm.owned(objects, helm.MAIN_RELEASE, names.MC_NS)
        self.kube.apply(target, owned + [helm.release_record(helm.MAIN_RELEASE, names.MC_NS, owned)])

    def _helm_accounts(self, target: str) -> list[str]:
        record = self.kube.get(target, "Secret", names.MC_NS, helm.record_name(helm.MAIN_RELEASE))
        refs = helm.owned_refs(record) if record else []
        return [r["name"] for r in refs if r["kind"] == "ClusterRoleBinding"]

    def allow_access(self, target: str, source: str) -> None:
        if self.cfg.profile.helm_access == "values":
            accounts = self._helm_accounts(target)
            if source not in accounts:
                self._helm_set_accounts(target, accounts + [source])
            return
        self.helm_install(target, helm.access_release(source), names.MC_NS, manifests.access_objects(self.cfg, source))

    def revoke_access(self, target: str, source: str) -> None:
        if self.cfg.profile.helm_access == "values":
            accounts = self._helm_accounts(target)
            if source not in accounts:
                raise LabError(f"{source} is not among the accounts of release {helm.MAIN_RELEASE} in {target}: "
                               "nothing to revoke")
            self._helm_set_accounts(target, [a for a in accounts if a != source])
            return
        if not self.helm_uninstall(target, helm.access_release(source), names.MC_NS):
            raise LabError(f"no release {helm.access_release(source)} in {target}: {source} has no access to revoke")
