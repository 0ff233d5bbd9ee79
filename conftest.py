# The scenario fixtures (lab, east, west, cluster) come from the lab's pytest plugin.
pytest_plugins = ["lab.pytest_plugin"]
