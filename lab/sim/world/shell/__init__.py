"""A POSIX shell subset, interpreted in the lab process, for `kubectl exec` into simulated pods.

Why an interpreter and not a real /bin/sh: a real shell started by the lab process would run on the
host, seeing the host's files, processes and network, with the lab's user's rights; confining it (a
container, a namespace, seccomp) needs privileges and tools the lab does not assume. The pods here are
themselves in-process simulations, so their shell is too: every command is a coroutine that sees only
the pod's view (podview.PodView: its environment, a small filesystem, its network through its proxy).
Nothing of the host is reachable from it, and a command the image would not have is `not found`.

Layout, bottom to top: syntax (the tree), lexer and parser (text to tree), streams (pipes), podview (the
pod as the shell sees it), expand (word expansion), commands/ (builtins and applets), interp (runs a
tree). The terminal (a pty's line discipline for `kubectl exec -it`) and the binding to a simulated
pod live beside this package, in lab.sim.world.podexec.
"""
