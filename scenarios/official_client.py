"""The official Python client on a lab cluster's context, as a program of the user's would build it."""
import os

import pytest
import yaml


def client_for(cluster):
    """(ApiClient, the kubernetes.client module) for `cluster`, from the lab's kubeconfig."""
    from kubernetes import client, config

    context = f"kind-{cluster.name}"
    for path in cluster.backend.provider.kubeconfig_path().split(os.pathsep):
        with open(path) as f:
            if any(c["name"] == context for c in (yaml.safe_load(f) or {}).get("contexts") or []):
                return config.new_client_from_config(config_file=path, context=context), client
    pytest.fail(f"no kubeconfig holds {context}")
