"""What a simulated container runs, by its image: the apps that answer on the wire (apps: podinfo's
endpoints in podinfo, the multicluster gateways), and a general-purpose image's own command (programs)."""
