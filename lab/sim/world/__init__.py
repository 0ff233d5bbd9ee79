"""The simulated clusters themselves: each cluster (cluster), the network they share (network), the pods
running on them (pods) and what their containers run (images/: apps, podinfo, and a general-purpose
image's command: programs), what `kubectl exec` runs in a pod (podexec: a shell (shell/) seeing the pod's
view (podenv), at a terminal with `-t` (terminal)), the node's scheduler and kubelet (kubelet), and the
in-cluster controllers that reconcile each store (controllers, workloads, jobs).

Imports lab.sim.mesh, lab.sim.kube and lab.sim.wire of the simulation (and lab's modules below the
backends: names, profiles, pki, config), never lab.sim.process: the lab process builds the world, not the
other way round.
"""
