"""The real tools on this machine: how they run (run), how they are installed and verified (install), what
they need (doctor, docker_probe)."""
