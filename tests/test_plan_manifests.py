"""Every object a golden kind plan (fixtures/plans/*.sh) applies is one the API server of its profile's
pinned Kubernetes would take under `kubectl apply --validate=strict`: no unknown field, no duplicate field,
no value of the wrong type; custom resources read against upstream's CRDs at the pinned tags.

What a plan applies comes in these forms, each found by reading the script:
- its own objects: `kubectl apply -f - <<'EOF'` heredocs, and files it writes (`cat > FILE <<'EOF'`) and
  then applies with `kubectl apply -f FILE`; these are read here, field by field; so are the files it writes
  for `kind create cluster --config FILE`, against the kind release's v1alpha4 types, which kind decodes
  strictly;
- upstream's objects: a release manifest by a URL at its pinned tag (`kubectl apply -f https://...`), or what
  a pinned tool prints piped into `kubectl apply -f -` (`linkerd install`, `linkerd multicluster link-gen`,
  `curl` of a release file, `kubectl create --dry-run=client`, `linkerd inject`). Those are not in the
  script's text; the test only asserts that each such apply is one of these forms.
An apply (or heredoc) in any other form fails `test_every_apply_is_read`, so a new form cannot go unchecked.

Versions: the built-in kinds are read with kubernetes-validate's schemas, which cover Kubernetes 1.25 to
1.37. current (v1.37.0) is read at 1.37.0. seed-2.8 pins v1.18.2, older than any it ships, so its objects
are read at 1.25.0, the nearest covered release (a field 1.25 has and 1.18 lacked would pass unnoticed).
Custom resources: MetalLB's CRDs at the profile's MetalLB tag, Emissary-ingress's at its release (3.10.0's
CRD schemas; Ambassador 1.5.5's CRDs declare no schema, so its Mapping and Module are read with the schemas
Ambassador 1.5.5 itself reads them with, python/schemas/v2/, and its Host only as a kind the CRDs serve:
UNCHECKED). The schemas are in fixtures/schemas/, extracted from upstream at the pinned tags by
scripts/extract_schemas.py (see tests/schema_check.py), so every check here runs on a clean clone; a kind
applied with no schema there fails `test_every_kind_applied_has_a_schema`.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

import schema_check
from lab.model import profiles

GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "plans"
PLANS = sorted(GOLDEN.glob("*.sh"))

KUBECTL_APPLY = re.compile(r"\bkubectl\b[^|\n]*?\sapply\s")
HEREDOC = re.compile(r"<<'?(\w+)'?\s*$")
WRITE_FILE = re.compile(r"^cat > (\S+) <<")
# What a pinned tool prints, piped into `kubectl apply -f -`: upstream's objects, not the lab's.
UPSTREAM_PRODUCERS = (
    re.compile(r"^linkerd (--context=\S+ )?(install|upgrade|multicluster (install|link|link-gen)|inject)\b"),
    re.compile(r"^curl -fsSL https://\S+/v?\d+\.\d+\.\d+/\S+$"),  # a release file at its tag
    re.compile(r"^kubectl (--context=\S+ )?create namespace \S+ --dry-run=client -o yaml$"),
    re.compile(r"^kubectl (--context=\S+ )?-n \S+ get deploy \S+ -o yaml$"),  # then `linkerd inject`
)
RELEASE_URL = re.compile(r"^https://\S+/v?\d+\.\d+\.\d+/\S+$")  # a manifest at a pinned version


@dataclass
class Document:
    obj: dict
    node: yaml.Node
    line: int  # 1-based line in the plan where the document starts


@dataclass
class Apply:
    line: int
    command: str
    form: str  # "heredoc", "file", "url", "pipe"
    documents: list[Document] = field(default_factory=list)


@dataclass
class Plan:
    path: Path
    profile: profiles.Profile
    applies: list[Apply]
    unread: list[str]  # lines in a form this test does not know
    kind_configs: list[Document] = field(default_factory=list)  # files given to `kind create cluster --config`


def documents(body: str, first_line: int) -> list[Document]:
    # libyaml's loader: the same objects, nodes and lines as PyYAML's pure-Python one on these plans, in a
    # fraction of the CPU (the plans hold thousands of lines of heredocs).
    objects = list(yaml.load_all(body, Loader=yaml.CSafeLoader))
    nodes = list(yaml.compose_all(body, Loader=yaml.CSafeLoader))
    return [Document(o, n, first_line + n.start_mark.line) for o, n in zip(objects, nodes) if o is not None]


def read_plan(path: Path) -> Plan:
    lines = path.read_text().splitlines()
    profile = profiles.PROFILES[re.search(r", profile ([\w.-]+):", lines[1]).group(1)]
    written: dict[str, list[Document]] = {}
    applies, unread = [], []
    i = 0
    while i < len(lines):
        line, nxt = lines[i], i + 1
        body = None
        if heredoc := HEREDOC.search(line):
            end = lines.index(heredoc.group(1), i + 1)
            body, nxt = documents("\n".join(lines[i + 1:end]), i + 2), end + 1
        where = f"{path.name}:{i + 1}: {line}"
        if write := WRITE_FILE.match(line):
            written[write.group(1)] = body
        elif KUBECTL_APPLY.search(line):
            segments = line.split(" | ")
            target = segments[-1].split(" -f ", 1)[1].split()[0] if " -f " in segments[-1] else None
            if not KUBECTL_APPLY.search(segments[-1]) or target is None:
                unread.append(where)
            elif target == "-" and len(segments) == 1 and body is not None:
                applies.append(Apply(i + 1, line, "heredoc", body))
            elif target == "-" and body is None and any(p.match(segments[0]) for p in UPSTREAM_PRODUCERS):
                applies.append(Apply(i + 1, line, "pipe"))
            elif target in written and len(segments) == 1 and body is None:
                applies.append(Apply(i + 1, line, "file", written[target]))
            elif RELEASE_URL.match(target) and len(segments) == 1 and body is None:
                applies.append(Apply(i + 1, line, "url"))
            else:
                unread.append(where)
        elif body is not None:
            unread.append(where)  # a heredoc that is neither applied nor written to a file
        i = nxt
    # A file the plan writes is read as it is applied; one written for another tool is kind's own config.
    applied_files = {a.command.split(" -f ", 1)[1].split()[0] for a in applies if a.form == "file"}
    configs = {f for f in written if any(line.startswith("kind create cluster ") and f" --config {f}" in line for line in lines)}
    unread += [f"{path.name}: {f} is written, then neither applied nor given to `kind create cluster --config`"
               for f in written if f not in applied_files | configs]
    return Plan(path, profile, applies, unread, [d for f in sorted(configs) for d in written[f]])


@pytest.fixture(scope="module", params=PLANS, ids=lambda p: p.name)
def plan(request) -> Plan:
    return read_plan(request.param)


def test_every_apply_is_read(plan):
    """Each `kubectl apply` is a known form; each of the plan's own applies carries at least one object."""
    assert not plan.unread, "applies or heredocs in a form this test cannot read:\n" + "\n".join(plan.unread)
    assert plan.applies, f"{plan.path.name}: no `kubectl apply` found"
    text = plan.path.read_text()
    assert len(plan.applies) == len(KUBECTL_APPLY.findall(text)), "an apply was counted twice or missed"
    for apply in plan.applies:
        if apply.form in ("heredoc", "file"):
            assert apply.documents, f"{plan.path.name}:{apply.line}: `{apply.command}` applies no object"
    assert any(a.documents for a in plan.applies), f"{plan.path.name}: no object of the lab's own applied"


def report(plan_name: str, doc: Document, found: list[schema_check.Problem]) -> list[str]:
    meta = doc.obj.get("metadata", {})
    found = found + schema_check.duplicate_keys(doc.node)
    return [f"{plan_name}:{doc.line + schema_check.line_of(doc.node, p.path) - doc.node.start_mark.line}: "
            f"{doc.obj.get('kind')} {meta.get('name')}: {p.field}: {p.message}" for p in found]


def test_every_object_validates_at_the_pinned_versions(plan):
    failures = [line for apply in plan.applies for doc in apply.documents
                for line in report(plan.path.name, doc, schema_check.read(plan.profile, doc.obj))]
    assert not failures, "\n".join(failures)


def metallb_config_problems(plan: Plan, doc: Document) -> list[schema_check.Problem]:
    """MetalLB < 0.13's ConfigMap `config` holds a YAML file the controller and speakers decode with
    yaml.UnmarshalStrict into configFile (metallb v0.9.3 internal/config/config.go Parse): an unknown key
    there leaves MetalLB without a configuration, though the API server took the ConfigMap."""
    text = doc.obj["data"]["config"]
    found = schema_check.duplicate_keys(yaml.compose(text, Loader=yaml.SafeLoader))
    found += schema_check.go_config(f"metallb-{plan.profile.metallb}", "configFile", yaml.safe_load(text))
    return [schema_check.Problem(("data", "config"), f"MetalLB {plan.profile.metallb}: {p.field}: {p.message}")
            for p in found]


def metallb_configs(plan: Plan) -> list[Document]:
    return [d for a in plan.applies for d in a.documents if d.obj["kind"] == "ConfigMap"
            and d.obj["metadata"] == {"name": "config", "namespace": "metallb-system"}]


def test_metallbs_own_config_is_one_it_parses(plan):
    if plan.profile.metallb_config != "configmap":
        assert not metallb_configs(plan)
        return
    assert metallb_configs(plan), f"{plan.path.name}: MetalLB {plan.profile.metallb} is configured by no ConfigMap"
    failures = [line for d in metallb_configs(plan) for line in report(plan.path.name, d, metallb_config_problems(plan, d))]
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("change, words", [
    (lambda c: c.replace("protocol:", "protocl:"), 'address-pools[0].protocl: unknown field "protocl"'),
    # a list of ranges given as one string: yaml.v2 cannot unmarshal a !!str into []string
    (lambda c: c.replace("addresses:\n  - ", "addresses: "), "address-pools[0].addresses: '172.18.255.230-172.18.255.254' "
                                                            "is not of type 'array', 'null'"),
    (lambda c: c.replace("name: default", "name: default\n  auto-assign: 'no'"),  # quoted: a string, not a bool
     "address-pools[0].auto-assign: 'no' is not of type 'boolean', 'null'"),
])
def test_a_broken_metallb_config_fails(change, words):
    plan = read_plan(GOLDEN / "kind-seed-2.8.sh")
    doc = metallb_configs(plan)[0]
    broken = copy.deepcopy(doc.obj)
    broken["data"]["config"] = change(broken["data"]["config"])
    assert broken["data"]["config"] != doc.obj["data"]["config"]
    found = metallb_config_problems(plan, Document(broken, doc.node, doc.line))
    assert [p.message for p in found] == [f"MetalLB v0.9.3: {words}"]


def kind_config_problems(plan: Plan, doc: Document) -> list[schema_check.Problem]:
    """kind decodes its config by apiVersion and kind (only kind.x-k8s.io/v1alpha4 Cluster here), with
    yaml.v3's KnownFields: an unknown field fails `kind create cluster` (pkg/internal/apis/config/encoding/
    load.go Parse, into pkg/apis/config/v1alpha4/types.go Cluster; v0.8.1 at its tag, v0.33.0 at the commit
    fixtures/cli-flags/kind-v0.33.0.json was read from, as that version is not tagged in the snapshot)."""
    if (doc.obj.get("apiVersion"), doc.obj.get("kind")) != ("kind.x-k8s.io/v1alpha4", "Cluster"):
        return [schema_check.Problem(("apiVersion",), f"kind {plan.profile.kind_cli} decodes no "
                                                      f"{doc.obj.get('apiVersion')} {doc.obj.get('kind')}")]
    return schema_check.go_config(f"kind-{plan.profile.kind_cli}", "Cluster", doc.obj)


def test_kinds_cluster_configs_are_ones_it_decodes(plan):
    assert plan.kind_configs, f"{plan.path.name}: no kind config written"
    failures = [line for d in plan.kind_configs for line in report(plan.path.name, d, kind_config_problems(plan, d))]
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("plan_name", ["kind-seed-2.8.sh", "kind-current.sh"])
def test_a_broken_kind_config_fails(plan_name):
    plan = read_plan(GOLDEN / plan_name)
    doc = plan.kind_configs[0]
    broken = copy.deepcopy(doc.obj)
    broken["networking"]["podSubnett"] = broken["networking"].pop("podSubnet")  # not in the text: its parent's line
    broken["nodes"][0]["image"] = ["kindest/node"]  # a sequence into a string field
    broken["networking"]["apiServerPort"] = "6443"  # a quoted string into an int32
    found = kind_config_problems(plan, Document(broken, doc.node, doc.line))
    assert sorted(report(plan_name, Document(broken, doc.node, doc.line), found)) == [
        f"{plan_name}:{doc.line + 2}: Cluster None: networking.apiServerPort: '6443' is not of type 'number', 'null'",
        f"{plan_name}:{doc.line + 2}: Cluster None: networking.podSubnett: unknown field \"podSubnett\"",
        f"{plan_name}:{doc.line + 7}: Cluster None: nodes[0].image: ['kindest/node'] is not of type 'string', "
        "'number', 'boolean', 'null'"]


@pytest.mark.parametrize("plan_name", ["kind-seed-2.8.sh", "kind-current.sh"])
def test_a_kind_config_is_read_as_kind_decodes_it(plan_name):
    """yaml.v3 takes any scalar into a string field and a number into an int32 (go-yaml v3 decode.go
    decoder.scalar); only a field kind does not have, or a value of the wrong shape, fails."""
    plan = read_plan(GOLDEN / plan_name)
    doc = plan.kind_configs[0]
    taken = copy.deepcopy(doc.obj)
    taken["nodes"][0]["image"] = 1.18  # the string "1.18": a bad image, but decoded
    taken["networking"]["apiServerPort"] = 6443
    assert kind_config_problems(plan, Document(taken, doc.node, doc.line)) == []
    taken["networking"]["apiServerPort"] = 2 ** 31  # out of int32's range
    assert [p.field for p in kind_config_problems(plan, Document(taken, doc.node, doc.line))] == ["networking.apiServerPort"]


def test_the_objects_cover_every_kind_and_both_kubernetes_versions():
    """The plans apply core objects and each family of custom resources the guide needs, on both profiles."""
    seen: dict[str, set[str]] = {}
    for path in PLANS:
        plan = read_plan(path)
        seen.setdefault(plan.profile.name, set()).update(
            d.obj["kind"] for a in plan.applies for d in a.documents)
    assert seen["seed-2.8"] >= {"ConfigMap", "Namespace", "ServiceAccount", "Deployment", "Service",
                                "Module", "Host", "Mapping"}
    assert seen["current"] >= {"IPAddressPool", "L2Advertisement", "Namespace", "ServiceAccount", "Deployment",
                               "Service", "StatefulSet", "Listener", "Host", "Mapping"}
    assert schema_check.schema_version(profiles.PROFILES["current"].kubernetes_version) == "1.37.0"
    assert schema_check.schema_version(profiles.PROFILES["seed-2.8"].kubernetes_version) == "1.25.0", \
        "kubernetes-validate now ships an older release: read seed-2.8 nearer v1.18.2 and update the docstrings"


# Custom resources a plan applies that no upstream schema checks field by field, with why. Any other kind
# whose every schema is empty fails test_every_kind_applied_has_a_schema.
UNCHECKED = {
    ("emissary-v1.5.5", "getambassador.io/v2", "Host"):
        "Ambassador 1.5.5's CRDs (apiextensions.k8s.io/v1beta1, docs/yaml/ambassador/ambassador-crds.yaml) declare "
        "no schema and Ambassador has none for Host (python/schemas/v2/ has no Host.schema; "
        "python/ambassador/config/config.py: 'no schema for Host so calling it good'): neither refuses a field",
}


def schemas_applied(plan: Plan) -> list[tuple[str, dict[str, dict]]]:
    """Each object and config file the plan gives upstream, with the schemas it is read against (by reader)."""
    found = []
    for doc in [d for a in plan.applies for d in a.documents]:
        api_version, kind = doc.obj["apiVersion"], doc.obj["kind"]
        what = f"{plan.path.name}:{doc.line}: {api_version} {kind}"
        if schema_check.is_builtin(api_version):
            continue  # kubernetes-validate: a kind it has no schema for is a failure of the validation test
        folder = schema_check.schema_folder(plan.profile, api_version)
        assert folder, f"{what}: no release pinned for this group (schema_check.schema_folder)"
        try:
            found.append((f"{folder} {api_version} {kind}", schema_check.schemas_of(plan.profile, api_version, kind)))
        except schema_check.MissingSchema as e:
            found.append((f"{folder} {api_version} {kind}", {"missing": {"error": str(e)}}))
    for doc in plan.kind_configs:
        folder = f"kind-{plan.profile.kind_cli}"
        found.append((f"{folder} {doc.obj['apiVersion']} Cluster", {"kind": schema_check.fixture(f"{folder}/go/Cluster.json")["schema"]}))
    for doc in metallb_configs(plan):
        folder = f"metallb-{plan.profile.metallb}"
        found.append((f"{folder} ConfigMap config", {"metallb": schema_check.fixture(f"{folder}/go/configFile.json")["schema"]}))
    return found


def test_every_kind_applied_has_a_schema(plan):
    """No silent skip: every custom resource and config file a plan applies is read against a schema extracted
    from upstream (fixtures/schemas/), unless UNCHECKED says why upstream has none."""
    failures = []
    for what, schemas in schemas_applied(plan):
        folder, api_version, kind = what.split(" ", 2)
        if "missing" in schemas:
            failures.append(f"{what}: {schemas['missing']['error']}")
        elif not any(schemas.values()) and (folder, api_version, kind) not in UNCHECKED:
            failures.append(f"{what}: every schema upstream has for it is empty; list it in UNCHECKED with why")
    assert not failures, "\n".join(failures)


def test_only_kinds_applied_are_listed_unchecked():
    listed = {tuple(what.split(" ", 2)) for path in PLANS for what, _ in schemas_applied(read_plan(path))}
    assert set(UNCHECKED) <= listed, set(UNCHECKED) - listed
    for key in UNCHECKED:  # and upstream really has no schema for them
        folder, api_version, kind = key
        assert not any(schema_check.schemas_of(next(p for p in profiles.PROFILES.values()
                                                    if schema_check.schema_folder(p, api_version) == folder),
                                               api_version, kind).values()), key


# -- the checks catch a broken object ------------------------------------------------------------------------
def mutated(plan_name: str, kind: str, change) -> tuple[Plan, Document]:
    plan = read_plan(GOLDEN / plan_name)
    doc = next(d for a in plan.applies for d in a.documents if d.obj["kind"] == kind)
    broken = copy.deepcopy(doc.obj)
    change(broken)
    return plan, Document(broken, doc.node, doc.line)


@pytest.mark.parametrize("plan_name, kind, change, field_path, words", [
    ("kind-current.sh", "Deployment", lambda o: o["spec"]["template"]["spec"].update(serviceAcountName="x"),
     "spec.template.spec.serviceAcountName", 'unknown field "serviceAcountName"'),
    ("kind-current.sh", "Service", lambda o: o["spec"]["ports"][0].update(port="http"),
     "spec.ports[0].port", "'http'"),
    ("kind-seed-2.8.sh", "Deployment", lambda o: o["spec"].update(replicas="one"), "spec.replicas", "'one'"),
    ("kind-current.sh", "IPAddressPool", lambda o: o["spec"].update(adresses=["172.18.255.0/28"]),
     "spec.adresses", "unknown field"),
    ("kind-current.sh", "Listener", lambda o: o["spec"].update(port="8080"), "spec.port", "'8080'"),
    ("kind-current.sh", "Mapping", lambda o: o["metadata"].update(lables={"a": "b"}), "metadata.lables", "unknown field"),
    ("kind-seed-2.8.sh", "Mapping", lambda o: o["spec"].update(bypass_auth="yes"), "spec.bypass_auth", "'yes'"),
    ("kind-seed-2.8.sh", "Module", lambda o: o["spec"].update(confg={}), "spec.confg", "unknown field"),
    ("kind-current.sh", "Mapping", lambda o: o["spec"].update(prefx="/"), "spec.prefx", 'unknown field "prefx"'),
    ("kind-seed-2.8.sh", "Mapping", lambda o: o["spec"].update(prefx="/"), "spec.prefx", 'unknown field "prefx"'),
    ("kind-current.sh", "Host", lambda o: o["spec"].update(hostnme="x"), "spec.hostnme", 'unknown field "hostnme"'),
    ("kind-current.sh", "L2Advertisement", lambda o: o["spec"].update(ipAddressPools="lab-pool"),
     "spec.ipAddressPools", "'lab-pool' is not of type 'array'"),
])
def test_a_broken_object_fails_naming_its_field(plan_name, kind, change, field_path, words):
    plan, doc = mutated(plan_name, kind, change)
    found = schema_check.read(plan.profile, doc.obj)
    assert found, f"the mutated {kind} passed"
    message = "\n".join(report(plan_name, doc, found))
    assert words in message and field_path.lstrip(".") in message, message
    assert re.match(rf"{re.escape(plan_name)}:\d+: {kind} ", message), message


def test_a_duplicate_field_fails_with_its_line():
    body = "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\nspec:\n  ports:\n  - port: 80\n  ports:\n  - port: 81\n"
    doc = documents(body, 10)[0]
    assert report("plan.sh", doc, []) == ['plan.sh:17: Service a: spec.ports: duplicate field "ports"']


def test_a_kind_no_crd_serves_fails():
    plan = read_plan(GOLDEN / "kind-current.sh")
    found = schema_check.read(plan.profile, {"apiVersion": "getambassador.io/v3alpha1", "kind": "Hots", "metadata": {"name": "x"}})
    assert found and "serves no Hots" in found[0].message
    assert schema_check.read(plan.profile, {"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "x"}})


def test_an_apply_in_an_unknown_form_is_not_let_through(tmp_path):
    """A new way of applying (kustomize, another tool's output, a heredoc piped through cat, a local file
    nobody wrote, a URL at no version) is reported, not skipped."""
    header = (GOLDEN / "kind-current.sh").read_text().splitlines()[:2]
    script = tmp_path / "plan.sh"
    script.write_text("\n".join(header + [
        "kubectl --context=kind-east apply -k ./overlay",
        "helm template x ./chart | kubectl --context=kind-east apply -f -",
        "cat <<'EOF' | kubectl --context=kind-east apply -f -",
        "apiVersion: v1", "kind: Namespace", "metadata:", "  name: a", "EOF",
        "kubectl --context=kind-east apply -f ./somewhere.yaml",
        "kubectl --context=kind-east apply -f https://example.com/latest/all.yaml",
        "cat > notes.txt <<'EOF'", "hello: world", "EOF",
    ]) + "\n")
    plan = read_plan(script)
    assert [u.split(": ", 1)[0] for u in plan.unread] == [f"plan.sh:{n}" for n in (3, 4, 5, 11, 12)] + ["plan.sh"]
    with pytest.raises(AssertionError, match="in a form this test cannot read"):
        test_every_apply_is_read(plan)
    script.write_text("\n".join(header + ["kubectl --context=kind-east apply -f - <<'EOF'", "# nothing", "EOF"]) + "\n")
    with pytest.raises(AssertionError, match="applies no object"):
        test_every_apply_is_read(read_plan(script))
