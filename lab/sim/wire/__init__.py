"""The simulation's wire protocols: HTTP/1.1 (httpwire), HTTP/2 between proxies (h2conn), TLS contexts and
a TLS server that sends its alerts (tls, tlsserver), Linkerd's transport header, protobuf's wire format
(protowire), and the holder of background asyncio tasks (background).

Imports nothing else of the simulation (lab.sim) and nothing of lab: everything above builds on it.
"""
