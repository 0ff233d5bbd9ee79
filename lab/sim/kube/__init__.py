"""Kubernetes, as each simulated cluster has it: the object store (store), the API server serving it
(apiserver, with apiresources, rbac, patches, protobodies, execstream (`pods/exec`'s websocket channels)
and its certificates, apicerts), and client-go's
machinery the controllers use on another cluster's API: the informer (a reflector and its cache) and the
event recorder; `objects` holds small readings of objects shared by the layers above.

Imports only lab.sim.wire of the simulation (and, of the rest of lab, lab.trust.pki for the certificates); what
it needs of a cluster is declared as a typing.Protocol (apiserver.server.ServedCluster).
"""
