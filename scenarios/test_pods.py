"""A workshop's first commands beside the lab's workloads: `kubectl run` a pod that stays, `kubectl create job`
and wait for it. The same commands run against kind's clusters and the simulated ones."""
import json


def test_kubectl_run_and_create_job_beside_the_labs_workloads(lab, east):
    ns = "default"  # not meshed: the pods' containers alone decide their phase
    try:
        for args in (("run", "sleeper", "--image=busybox:1.36", "--restart=Never", "--", "sleep", "3600"),
                     ("run", "oneshot", "--image=busybox:1.36", "--restart=Never", "--", "sh", "-c", "exit 3"),
                     ("create", "job", "hello", "--image=busybox:1.36", "--", "echo", "hi")):
            result = east.kubectl("-n", ns, *args)
            assert result.returncode == 0, result.stderr
        waits = (("--for=condition=Ready", "pod/sleeper"), ("--for=jsonpath={.status.phase}=Failed", "pod/oneshot"),
                 ("--for=condition=complete", "job/hello"))
        for condition, target in waits:
            result = east.kubectl("-n", ns, "wait", condition, target, "--timeout=120s", timeout=150)
            assert result.returncode == 0, result.stderr
        oneshot = json.loads(east.kubectl("-n", ns, "get", "pod", "oneshot", "-o", "json").stdout)
        assert oneshot["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3
        rows = {row.split()[0]: row.split()[2] for row in east.kubectl("-n", ns, "get", "pods").stdout.splitlines()[1:]}
        assert rows["sleeper"] == "Running" and rows["oneshot"] == "Error", rows
        assert any(name.startswith("hello-") and status == "Completed" for name, status in rows.items()), rows
        # the lab's own workloads are untouched by the pods beside them
        deployments = json.loads(east.kubectl("-n", lab.cfg.namespace, "get", "deploy", "-o", "json").stdout)["items"]
        assert deployments and all(d["status"].get("availableReplicas") == d["spec"]["replicas"] for d in deployments)
        assert east.kubectl("-n", ns, "get", "pod", "sleeper", "-o", "name").stdout.strip() == "pod/sleeper"
    finally:
        east.kubectl("-n", ns, "delete", "pod", "sleeper", "oneshot", "--ignore-not-found", "--wait=false")
        east.kubectl("-n", ns, "delete", "job", "hello", "--ignore-not-found", "--wait=false")
