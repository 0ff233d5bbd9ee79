"""The lab process (daemon: `python -m lab.sim.process.daemon STATE_DIR`), which holds the simulated
clusters and serves their APIs, and its record on disk (labprocess: the PID file, the proof that a PID is
the lab's, the API token), which the sim backend (lab/backends/sim.py) reads to find and stop it.

May import every other package of lab.sim; nothing in lab.sim imports it.
"""
