"""The API server's own validation beyond the schema, for the kinds the lab and its users write: the
rules of pkg/apis/core/validation/validation.go and pkg/apis/apps/validation/validation.go (v1.32) that a
schema cannot say (name syntax per kind, label syntax, port ranges, the values an enum-like field takes,
a workload's selector against its template), each as the field error the API server gives.
"""
from __future__ import annotations

import base64
import binascii
import re

from .schemas import Findings, go_value, release

SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
LABEL_1123 = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
LABEL_1035 = r"[a-z]([-a-z0-9]*[a-z0-9])?"
LABEL_VALUE = r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"
QUALIFIED = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
QUALIFIED_MESSAGE = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                     "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation "
                     f"is '{QUALIFIED}')")
CONFIG_KEY = r"[-._a-zA-Z0-9]+"
PORT_RANGE = "must be between 1 and 65535, inclusive"
NODE_PORTS = range(30000, 32768)  # the default --service-node-port-range

# k8s.io/apimachinery/pkg/util/validation: each name syntax's message and its length limit
NAME_RULES = {
    "subdomain": (SUBDOMAIN, 253, "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                  "'-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
                  f"for validation is '{SUBDOMAIN}')"),
    "label": (LABEL_1123, 63, "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
              "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
              f"validation is '{LABEL_1123}')"),
    "1035": (LABEL_1035, 63, "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
             "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used "
             f"for validation is '{LABEL_1035}')"),
}
# Which syntax a kind's name follows (ValidateObjectMeta's nameFn per registry; RBAC names are path segments)
NAME_SYNTAX = {"Service": "1035", "Namespace": "label", "Role": "segment", "ClusterRole": "segment",
               "RoleBinding": "segment", "ClusterRoleBinding": "segment"}
ENUMS = {
    "Service": {"spec.type": ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort"),
                "spec.sessionAffinity": ("ClientIP", "None"),
                "spec.externalTrafficPolicy": ("Cluster", "Local"), "spec.internalTrafficPolicy": ("Cluster", "Local")},
    "Secret": {},
}
PROTOCOLS = ("SCTP", "TCP", "UDP")
RESTART_POLICIES = ("Always", "Never", "OnFailure")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
DNS_POLICIES = ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")
TEMPLATED = {"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"}


class Rules:
    """The checks of one object; each breach is a cause in `found`."""

    def __init__(self, found: Findings, kubernetes_version: str = "v1.32.0"):
        self.found = found
        # apimachinery v0.35 renamed a "qualified name" a "valid label key" in its errors (api/validate/content
        # IsLabelKey, which IsQualifiedName now is): the clusters speak their own Kubernetes release's words
        self.key_words = "a valid label key " if release(kubernetes_version) >= (1, 35) else "a qualified name "

    def invalid(self, path: str, value, message: str) -> None:
        self.found.cause("FieldValueInvalid", path, f"Invalid value: {go_value(value)}: {message}")

    def required(self, path: str) -> None:
        self.found.cause("FieldValueRequired", path, "Required value")

    def supported(self, path: str, value, allowed: tuple[str, ...]) -> None:
        if value is not None and value not in allowed:
            listed = ", ".join(f'"{v}"' for v in allowed)
            self.found.cause("FieldValueNotSupported", path, f"Unsupported value: {go_value(value)}: supported values: {listed}")

    # -- names and labels ---------------------------------------------------------------------
    def name(self, path: str, value, syntax: str = "subdomain") -> None:
        if not isinstance(value, str):
            return
        if syntax == "segment":  # path.IsValidPathSegmentName
            if value in (".", ".."):
                self.invalid(path, value, f"may not be '{value}'")
            for bad in ("/", "%"):
                if bad in value:
                    self.invalid(path, value, f"may not contain '{bad}'")
            return
        pattern, limit, message = NAME_RULES[syntax]
        if len(value) > limit:
            self.invalid(path, value, f"must be no more than {limit} characters")
        if not re.fullmatch(pattern, value):
            self.invalid(path, value, message)

    def labels(self, path: str, labels) -> None:
        """apimachinery v0.32.0 meta/v1/validation ValidateLabels: each key a qualified name, each value
        IsValidLabelValue (its length and its pattern are two errors)."""
        if not isinstance(labels, dict):
            return
        for key, value in labels.items():
            self.qualified_key(path, key)
            if isinstance(value, str):
                if len(value) > 63:
                    self.invalid(path, value, "must be no more than 63 characters")
                if not re.fullmatch(LABEL_VALUE, value):
                    self.invalid(path, value, "a valid label must be an empty string or consist of alphanumeric "
                                 "characters, '-', '_' or '.', and must start and end with an alphanumeric character "
                                 f"(e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '{LABEL_VALUE}')")

    def qualified_key(self, path: str, key: str, shown: str | None = None) -> None:
        """apimachinery v0.32.0 util/validation IsQualifiedName: an optional DNS subdomain prefix and '/', then
        a name of at most 63 characters; its emptiness or length and its pattern are separate errors."""
        shown = key if shown is None else shown
        parts = key.split("/")
        if len(parts) > 2:
            self.invalid(path, shown, self.key_words + QUALIFIED_MESSAGE +
                         " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')")
            return
        name = parts[-1]
        if len(parts) == 2:
            prefix = parts[0]
            if not prefix:
                self.invalid(path, shown, "prefix part must be non-empty")
            else:
                if len(prefix) > 253:
                    self.invalid(path, shown, "prefix part must be no more than 253 characters")
                if not re.fullmatch(SUBDOMAIN, prefix):
                    self.invalid(path, shown, "prefix part " + NAME_RULES["subdomain"][2])
        if not name:
            self.invalid(path, shown, "name part must be non-empty")
        elif len(name) > 63:
            self.invalid(path, shown, "name part must be no more than 63 characters")
        if not re.fullmatch(QUALIFIED, name):
            self.invalid(path, shown, "name part " + QUALIFIED_MESSAGE)

    def metadata(self, kind: str, meta: dict, custom: bool, plural_group: str = "") -> None:
        self.name("metadata.name", meta.get("name"), NAME_SYNTAX.get(kind, "subdomain"))
        if kind == "CustomResourceDefinition" and meta.get("name") and meta["name"] != plural_group:
            self.invalid("metadata.name", meta["name"], "must be spec.names.plural+\".\"+spec.group")
        self.labels("metadata.labels", meta.get("labels"))
        for key in (meta.get("annotations") or {}) if isinstance(meta.get("annotations"), dict) else ():
            # a qualified name whatever its case (apimachinery v0.32.0 api/validation ValidateAnnotations)
            self.qualified_key("metadata.annotations", key.lower(), shown=key)

    # -- ports ----------------------------------------------------------------------------------
    def port(self, path: str, value) -> None:
        if isinstance(value, int) and not 1 <= value <= 65535:
            self.invalid(path, value, PORT_RANGE)

    def port_name_or_number(self, path: str, value) -> None:
        """A targetPort: a number in range, or an IANA service name (validation.IsValidPortName)."""
        if isinstance(value, int):
            self.port(path, value)
        elif isinstance(value, str) and value:
            if len(value) > 15:
                self.invalid(path, value, "must be no more than 15 characters")
            if not re.fullmatch(r"[-a-z0-9]+", value):
                self.invalid(path, value, "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
            elif not re.search(r"[a-z]", value):
                self.invalid(path, value, "must contain at least one letter (a-z)")

    # -- kinds ------------------------------------------------------------------------------------
    def service(self, spec: dict) -> None:
        for path, allowed in ENUMS["Service"].items():
            self.supported(path, spec.get(path.split(".")[1]), allowed)
        ports = spec.get("ports") or []
        if not ports and spec.get("type") != "ExternalName" and spec.get("clusterIP") != "None":
            self.required("spec.ports")
        for i, port in enumerate(p for p in ports if isinstance(p, dict)):
            where = f"spec.ports[{i}]"
            if len(ports) > 1 and not port.get("name"):
                self.required(f"{where}.name")
            elif port.get("name"):
                self.name(f"{where}.name", port["name"], "label")
            self.port(f"{where}.port", port.get("port"))
            self.supported(f"{where}.protocol", port.get("protocol"), PROTOCOLS)
            self.port_name_or_number(f"{where}.targetPort", port.get("targetPort"))
            node_port = port.get("nodePort")
            if isinstance(node_port, int) and node_port and node_port not in NODE_PORTS:
                self.invalid(f"{where}.nodePort", node_port, "provided port is not in the valid range. The range of "
                                                             "valid ports is 30000-32767")

    def pod_spec(self, path: str, spec: dict, template: bool) -> None:
        self.supported(f"{path}.restartPolicy", spec.get("restartPolicy"), ("Always",) if template else RESTART_POLICIES)
        self.supported(f"{path}.dnsPolicy", spec.get("dnsPolicy"), DNS_POLICIES)
        for group in ("initContainers", "containers"):
            for i, c in enumerate(c for c in spec.get(group) or [] if isinstance(c, dict)):
                where = f"{path}.{group}[{i}]"
                if not c.get("name"):
                    self.required(f"{where}.name")
                else:
                    self.name(f"{where}.name", c["name"], "label")
                if not c.get("image"):
                    self.required(f"{where}.image")
                self.supported(f"{where}.imagePullPolicy", c.get("imagePullPolicy"), PULL_POLICIES)
                for j, p in enumerate(p for p in c.get("ports") or [] if isinstance(p, dict)):
                    if not p.get("containerPort"):  # validateContainerPorts: 0 is the port left out
                        self.required(f"{where}.ports[{j}].containerPort")
                    self.port(f"{where}.ports[{j}].containerPort", p.get("containerPort"))
                    self.port(f"{where}.ports[{j}].hostPort", p.get("hostPort"))
                    self.supported(f"{where}.ports[{j}].protocol", p.get("protocol"), PROTOCOLS)

    def workload(self, kind: str, spec: dict) -> None:
        if isinstance(spec.get("replicas"), int) and spec["replicas"] < 0:
            self.invalid("spec.replicas", spec["replicas"], "must be greater than or equal to 0")
        selector = spec.get("selector") or {}
        template = spec.get("template") or {}
        labels = (template.get("metadata") or {}).get("labels") or {}
        match = selector.get("matchLabels") or {}
        if "selector" in spec and not match and not selector.get("matchExpressions"):
            self.invalid("spec.selector", selector, f"empty selector is invalid for {kind.lower()}")
        elif any(labels.get(k) != v for k, v in match.items()):
            self.invalid("spec.template.metadata.labels", labels, "`selector` does not match template `labels`")
        self.labels("spec.selector.matchLabels", match)
        strategy = spec.get("strategy") or {}
        if kind == "Deployment" and strategy.get("type") == "Recreate" and strategy.get("rollingUpdate") is not None:
            self.found.cause("FieldValueForbidden", "spec.strategy.rollingUpdate",
                             "Forbidden: may not be specified when strategy `type` is 'Recreate'")
        if kind == "Deployment" and strategy.get("type") not in (None, "Recreate", "RollingUpdate"):
            # pkg/apis/apps/validation ValidateDeploymentStrategy: NotSupported on spec.strategy with the whole
            # internal struct as its value, which field errors print with Go's %#v (a set pointer as an address)
            rolling = "(nil)" if strategy.get("rollingUpdate") is None else "(0xc000a1c000)"
            self.found.cause("FieldValueNotSupported", "spec.strategy",
                             f"Unsupported value: apps.DeploymentStrategy{{Type:{go_value(strategy['type'])}, "
                             f"RollingUpdate:(*apps.RollingUpdateDeployment){rolling}}}: supported values: "
                             '"Recreate", "RollingUpdate"')
        if isinstance(template.get("spec"), dict):
            self.pod_spec("spec.template.spec", template["spec"], template=kind != "Job")

    def config_keys(self, path: str, data) -> None:
        for key in data if isinstance(data, dict) else ():
            if len(key) > 253 or not re.fullmatch(CONFIG_KEY, key):
                self.invalid(f"{path}[{key}]", key, "a valid config key must consist of alphanumeric characters, '-', "
                             "'_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation "
                             f"is '{CONFIG_KEY}')")


def check(kind: str, obj: dict, found: Findings, custom: bool, plural_group: str = "",
          kubernetes_version: str = "v1.32.0") -> None:
    rules = Rules(found, kubernetes_version)
    if isinstance(obj.get("metadata"), dict):
        rules.metadata(kind, obj["metadata"], custom, plural_group)
    if custom:
        return
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    if kind == "Service":
        rules.service(spec)
    elif kind == "Pod":
        rules.pod_spec("spec", spec, template=False)
    elif kind in TEMPLATED:
        rules.workload(kind, spec)
    elif kind in ("ConfigMap", "Secret"):
        rules.config_keys("data", obj.get("data"))
        rules.config_keys("binaryData" if kind == "ConfigMap" else "stringData",
                          obj.get("binaryData" if kind == "ConfigMap" else "stringData"))


def immutable(kind: str, obj: dict, current: dict, found: Findings) -> None:
    """What an update may not change (ValidateDeploymentUpdate and its siblings, ValidateServiceUpdate,
    ValidateSecretUpdate, ValidateConfigMapUpdate): a workload's selector, a Service's cluster IP once
    allocated, a Secret's type, and the data of a Secret or ConfigMap marked `immutable`."""
    rules = Rules(found)
    spec, was = obj.get("spec") or {}, current.get("spec") or {}
    if kind in TEMPLATED and "selector" in was and spec.get("selector") != was["selector"]:
        rules.invalid("spec.selector", spec.get("selector"), "field is immutable")
    if kind == "Service" and was.get("clusterIP") and spec.get("clusterIP") not in (None, "", was["clusterIP"]):
        rules.invalid("spec.clusterIP", spec["clusterIP"], "field is immutable")
    if kind == "Secret" and current.get("type") and obj.get("type") != current["type"]:
        rules.invalid("type", obj.get("type"), "field is immutable")
    if kind in ("Secret", "ConfigMap") and current.get("immutable"):
        if not obj.get("immutable"):
            rules.found.cause("FieldValueForbidden", "immutable", "Forbidden: field is immutable when `immutable` is set")
        for field in ("data", "binaryData"):
            if (obj.get(field) or {}) != (current.get(field) or {}):
                rules.found.cause("FieldValueForbidden", field, "Forbidden: field is immutable when `immutable` is set")


def decode_secret_data(obj: dict, found: Findings) -> None:
    """Secret `data` values are bytes in JSON: base64, refused at decoding when they are not (with Go's
    encoding/base64 CorruptInputError, which names the first byte it could not read)."""
    for value in (obj.get("data") or {}).values() if isinstance(obj.get("data"), dict) else ():
        if isinstance(value, str):
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                bad = next((i for i, ch in enumerate(value) if not re.fullmatch(r"[A-Za-z0-9+/=]", ch)), len(value))
                found.decode.append(f"illegal base64 data at input byte {bad}")
                return
