"""The Kubernetes objects and Helm values the steps apply, rendered once for every backend."""
