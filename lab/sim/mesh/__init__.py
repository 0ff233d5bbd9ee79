"""Linkerd's side of the simulation: the proxy (proxy, proxy_metrics, routes), inbound authorization
policy (policy), what the control plane says (controlplane), the service mirror and its gateway probes
(mirror, gateway), the destination controller's remote clusters and a link's reach into another cluster
(remote), and the multicluster check (checks).

Imports only lab.sim.kube and lab.sim.wire of the simulation (and lab's modules below the backends:
names, profiles, pki, render.readback, cli_output). What it needs of the cluster it runs in and of the network
is declared as typing.Protocols in cluster.py, which lab.sim.world provides.
"""
