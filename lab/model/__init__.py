"""The lab as data: lab.yaml (config), its clusters and links (topology), the pinned profiles, the gateway
types, and where the sample files live. Nothing here talks to a cluster or runs a tool."""
