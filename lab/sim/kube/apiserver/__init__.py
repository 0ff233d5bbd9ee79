"""A Kubernetes API server for one simulated cluster, served by the lab process over HTTPS on loopback.

It speaks the subset real `kubectl` and the official Python client use on the lab's objects:
`/version`, discovery (`/api`, `/apis`, each group version, CRDs as they are applied; aggregated
discovery to a client that asks for it), get, list
(label and field selectors, server-side Tables for kubectl's human output), watch (chunked events
from a resourceVersion, bookmarks when asked), create, update (optimistic concurrency), delete,
JSON merge / strategic merge / JSON patch, server-side apply as a strategic merge of the applied
object, the `status` and `scale` subresources, `pods/exec` over kubectl's websocket protocol, and
`pods/log`. Errors are `Status` objects with the API server's codes and reasons.

Authentication as a kind cluster's: the admin's client certificate (verified against the cluster's
CA), or a ServiceAccount token from the cluster's token Secrets. Authorization is RBAC over the
cluster's own Roles and bindings (..rbac).

By job: server.py (serving, dispatch, routing, pods' log and exec, whose websocket channels are
..execstream's), auth.py, discovery.py, rest.py (the
REST verbs and validation), watch.py, tables.py, selectors.py, status.py (errors). Imports only the rest
of lab.sim.kube and lab.sim.wire; what it needs of its cluster beyond the object store is the small
`ServedCluster` protocol in server.py.
"""
