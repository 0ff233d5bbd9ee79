"""The simulated clusters: what the `sim` backend (lab/backends/sim.py) starts as the lab process.

Five packages, bottom to top; a module imports only from its own package or lower ones, and none
of them imports lab.backends or anything above it (tests/test_import_structure.py holds them to it):

- `wire`: the protocols on the wire (HTTP/1.1, HTTP/2, TLS, Linkerd's transport header, protobuf).
- `kube`: the Kubernetes API server of each cluster, its object store, and client-go's machinery.
- `mesh`: Linkerd's side: the proxy, inbound policy, the service mirror, the destination's remote
  clusters, the multicluster check.
- `world`: the clusters themselves: their network, pods, apps and in-cluster controllers.
- `process`: the lab process that holds the clusters, and its record on disk.
"""
