"""The real tools on this machine: how they run (run), how they are installed and verified (install), what
they need (doctor, docker_probe); and the project's own tools for its tests: mutation testing (mutation) and the
order of the parallel test run (testorder)."""
