"""Pods, Jobs, ReplicationControllers and the node of a simulated cluster, as real kubectl and the official
Python client see them: a pod's command decides whether it runs, succeeds or fails; a pod without an owner
stays; a Job's pods are counted to Complete or Failed; the node's status deserializes in the client."""
import json
import os
import shutil
import subprocess

import pytest
from kubernetes import client, config, watch

from lab import steps
from lab.backends.base import wait_until
from lab.sim.process import daemon
from lab_process import kill_lab_process


def _up_to_clusters(lab):
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed on this machine")
    steps.up(lab, until="clusters")


@pytest.fixture(scope="module")
def clusters(module_sim_lab):
    """One simulated lab up to its clusters for this file's tests, each in a namespace of its own."""
    _up_to_clusters(module_sim_lab)
    return module_sim_lab


def _east(lab, namespace: str):
    """Cluster `east` of `lab` as a user in `namespace` sees it: (kubectl runner, official client ApiClient)."""
    kubeconfig = str(lab.backend.provider.kubeconfig_path())

    def kubectl(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(["kubectl", "--context=kind-east", f"--namespace={namespace}", *args], capture_output=True,
                                text=True, timeout=60, env={**os.environ, "KUBECONFIG": kubeconfig})
        assert not check or result.returncode == 0, result.stderr
        return result

    return kubectl, config.new_client_from_config(config_file=kubeconfig, context="kind-east")


@pytest.fixture
def east(clusters, test_namespace):
    """(kubectl, ApiClient, lab, namespace): the shared lab's `east`, in a new namespace this test's objects go
    to, deleted with them afterwards."""
    namespace = test_namespace
    kubectl, api = _east(clusters, namespace)
    kubectl("create", "namespace", namespace)
    yield kubectl, api, clusters, namespace
    api.close()
    kubectl("delete", "namespace", namespace, "--wait=false")


@pytest.fixture
def own_east(sim_lab):
    """`east` of a lab of this test's own, up to its clusters, in `default`: for a test that stops its lab process."""
    _up_to_clusters(sim_lab)
    kubectl, api = _east(sim_lab, "default")
    yield kubectl, api, sim_lab
    api.close()


def _pod(kubectl, name: str) -> dict:
    return json.loads(kubectl("get", "pod", name, "-o", "json").stdout)


def _statuses(kubectl) -> dict[str, str]:
    """NAME -> STATUS of `kubectl get pods`."""
    rows = [row.split() for row in kubectl("get", "pods").stdout.splitlines()]
    assert rows[0][:3] == ["NAME", "READY", "STATUS"], rows
    return {row[0]: row[2] for row in rows[1:]}


def _poll(lab, predicate, timeout: float, what: str):
    """wait_until, looking again after each reconcile pass of the lab process (what makes the awaited change),
    a second at most after the last look, rather than every 0.1 s: each look here is a kubectl process."""
    return wait_until(predicate, timeout, what, interval=1.0, pause=lab.backend.provider.pause)


def test_kubectl_run_pods_run_succeed_or_fail_as_their_command_says_and_stay(east):
    kubectl, _, lab, _ = east
    kubectl("run", "sleeper", "--image=busybox", "--restart=Never", "--", "sleep", "3600")
    kubectl("run", "talker", "--image=busybox:1.36", "--restart=Never", "--command", "--", "sh", "-c", "echo hi; sleep 3600")
    kubectl("run", "done", "--image=busybox", "--restart=Never", "--", "sh", "-c", "exit 0")
    kubectl("run", "broken", "--image=busybox", "--restart=Never", "--", "sh", "-c", "echo bye; exit 3")
    kubectl("run", "curler", "--image=curlimages/curl:8.10.1", "--", "sleep", "3600")
    kubectl("wait", "--for=condition=Ready", "pod/sleeper", "pod/talker", "pod/curler", "--timeout=20s")
    kubectl("wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/done", "--timeout=20s")
    kubectl("wait", "--for=jsonpath={.status.phase}=Failed", "pod/broken", "--timeout=20s")
    lab.backend.provider.settle()  # the controllers have had their pass: the pods without an owner are still there
    assert _statuses(kubectl) == {"sleeper": "Running", "talker": "Running", "curler": "Running", "done": "Completed",
                                  "broken": "Error"}

    talker = _pod(kubectl, "talker")
    status = talker["status"]
    assert [c["type"] for c in status["conditions"]] == ["PodReadyToStartContainers", "Initialized", "Ready",
                                                         "ContainersReady", "PodScheduled"]
    assert all(c["status"] == "True" and c["lastTransitionTime"] for c in status["conditions"]), status["conditions"]
    assert status["podIP"].startswith("10.244.") and status["podIPs"] == [{"ip": status["podIP"]}]
    node_ip = kubectl("get", "node", "east-control-plane", "-o",
                      "jsonpath={.status.addresses[?(@.type=='InternalIP')].address}").stdout
    assert status["hostIP"] == node_ip and status["hostIPs"] == [{"ip": node_ip}] and node_ip.startswith("172.18.0.")
    assert status["startTime"] and status["qosClass"] == "BestEffort"
    assert talker["spec"]["nodeName"] == "east-control-plane"
    (container,) = status["containerStatuses"]
    assert container["image"] == "docker.io/library/busybox:1.36" and container["imageID"].startswith(
        "docker.io/library/busybox@sha256:")
    assert (container["ready"], container["started"], container["restartCount"]) == (True, True, 0)
    assert container["state"]["running"]["startedAt"] and container["containerID"].startswith("containerd://")
    assert kubectl("logs", "talker").stdout == "hi\n"

    broken = _pod(kubectl, "broken")["status"]
    ended = broken["containerStatuses"][0]["state"]["terminated"]
    assert (ended["exitCode"], ended["reason"]) == (3, "Error") and ended["finishedAt"]
    ready = {c["type"]: c for c in broken["conditions"]}["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "PodFailed")
    assert kubectl("logs", "broken").stdout == "bye\n"
    done = {c["type"]: c for c in _pod(kubectl, "done")["status"]["conditions"]}
    assert (done["Ready"]["status"], done["Ready"]["reason"]) == ("False", "PodCompleted")

    kubectl("delete", "pod", "sleeper", "--wait=false")
    assert "sleeper" not in _statuses(kubectl)


def test_a_pod_whose_command_exits_under_restart_policy_always_crash_loops(east):
    kubectl, _, lab, _ = east
    kubectl("run", "crasher", "--image=busybox", "--", "sh", "-c", "exit 1")
    pod = _poll(lab, lambda: (p := _pod(kubectl, "crasher"))["status"].get("containerStatuses") and p, 10, "a status")
    container = pod["status"]["containerStatuses"][0]
    assert pod["status"]["phase"] == "Running"
    assert container["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert container["lastState"]["terminated"]["exitCode"] == 1 and not container["ready"]
    assert _statuses(kubectl)["crasher"] == "CrashLoopBackOff"
    events = kubectl("get", "events", "--field-selector=involvedObject.name=crasher").stdout
    assert "Back-off restarting failed container crasher" in events, events
    ready = {c["type"]: c for c in pod["status"]["conditions"]}["Ready"]
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "False", "ContainersNotReady", "containers with unready status: [crasher]")
    # The kubelet starts it again when its first back-off (10 s) ends: the kubelet's own wake, since nothing is
    # written meanwhile and the lab process's resync is longer than this wait.
    assert daemon.RESYNC_SECONDS > 20 + 5, "a resync could restart it within the wait: this would test nothing"
    restarted = _poll(lab, lambda: (p := _pod(kubectl, "crasher"))["status"]["containerStatuses"][0]["restartCount"] and p,
                      20, "the first restart")
    assert restarted["status"]["containerStatuses"][0]["restartCount"] == 1


def test_what_the_simulation_cannot_run_fails_the_pod_saying_so(east):
    kubectl, _, lab, _ = east
    kubectl("run", "reader", "--image=busybox", "--restart=Never", "--", "cat", "/etc/hosts")
    kubectl("run", "piper", "--image=alpine", "--restart=Never", "--", "sh", "-c", "echo a | grep a")
    kubectl("run", "web", "--image=nginx:1.27", "--restart=Never")
    for name, reason, said in (("reader", "CommandNotSupported", "cannot run 'cat'"),
                               ("piper", "CommandNotSupported", "echo a | grep a"),
                               ("web", "ImageNotSupported", "cannot run image 'nginx:1.27'")):
        status = _poll(lab, lambda: (s := _pod(kubectl, name)["status"]).get("phase") == "Failed" and s, 10, f"{name} to fail")
        assert status["reason"] == reason and said in status["message"], status
    assert _statuses(kubectl) == {"reader": "CommandNotSupported", "piper": "CommandNotSupported", "web": "ImageNotSupported"}


def test_a_deployments_pod_with_an_image_the_sim_cannot_run_fails_with_the_reason(east):
    _, _, lab, ns = east
    kube = lab.backend.kube
    kube.apply("east", [{
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": ns},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}}}])
    pod = wait_until(lambda: next(iter(kube.list("east", "Pod", ns)), None), 5, "the pod")
    pod = wait_until(lambda: (p := kube.get("east", "Pod", ns, pod["metadata"]["name"]))
                     and p["status"].get("phase") == "Failed" and p, 5, "the pod to fail")
    assert "cannot run image 'nginx:1.27'" in pod["status"]["message"]


def test_the_official_client_creates_a_pod_and_watches_it_become_ready_and_reads_the_node(east):
    _, api, _, ns = east
    core = client.CoreV1Api(api)
    body = client.V1Pod(metadata=client.V1ObjectMeta(name="typed", labels={"app": "typed"}),
                        spec=client.V1PodSpec(containers=[client.V1Container(
                            name="main", image="busybox", command=["sh", "-c", "echo hi; sleep 3600"],
                            resources=client.V1ResourceRequirements(limits={"cpu": "100m", "memory": "64Mi"}))]))
    core.create_namespaced_pod(ns, body)
    seen = []
    stream = watch.Watch()
    for event in stream.stream(core.list_namespaced_pod, ns, label_selector="app=typed", timeout_seconds=20):
        pod = event["object"]
        seen.append(pod.status.phase if pod.status else None)
        if pod.status and pod.status.phase == "Running" and any(
                c.type == "Ready" and c.status == "True" for c in pod.status.conditions or []):
            stream.stop()
    assert seen[-1] == "Running", seen
    assert pod.status.qos_class == "Guaranteed" and pod.status.container_statuses[0].state.running.started_at

    (node,) = core.list_node().items
    info = node.status.node_info
    assert info.kubelet_version.startswith("v1.") and info.operating_system == "linux" and info.machine_id
    assert info.system_uuid and info.boot_id and info.container_runtime_version.startswith("containerd://")
    assert int(node.status.capacity["pods"]) == 110 and node.status.allocatable["cpu"]
    assert {a.type for a in node.status.addresses} == {"InternalIP", "Hostname"}
    assert {c.type: c.status for c in node.status.conditions} == {
        "MemoryPressure": "False", "DiskPressure": "False", "PIDPressure": "False", "Ready": "True"}


def test_kubectl_create_job_completes_and_wait_for_complete_returns(east):
    kubectl, _, lab, _ = east
    assert kubectl("auth", "can-i", "list", "jobs").stdout.strip() == "yes"
    resources = kubectl("api-resources", "-o", "name").stdout.split()
    assert "jobs.batch" in resources and "replicationcontrollers" in resources
    kubectl("create", "job", "hello", "--image=busybox", "--", "echo", "hi")
    kubectl("wait", "--for=condition=complete", "job/hello", "--timeout=20s")
    job = json.loads(kubectl("get", "job", "hello", "-o", "json").stdout)
    uid = job["metadata"]["uid"]
    assert job["status"]["succeeded"] == 1 and job["status"]["completionTime"] and "active" not in job["status"]
    assert [c["type"] for c in job["status"]["conditions"]] == ["SuccessCriteriaMet", "Complete"]
    assert job["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    (pod,) = json.loads(kubectl("get", "pods", "-l", "job-name=hello", "-o", "json").stdout)["items"]
    assert pod["metadata"]["labels"]["batch.kubernetes.io/job-name"] == "hello"
    assert pod["metadata"]["labels"]["controller-uid"] == uid
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "Job" and pod["status"]["phase"] == "Succeeded"
    assert kubectl("logs", pod["metadata"]["name"]).stdout == "hi\n"
    row = kubectl("get", "jobs").stdout.splitlines()[1].split()
    assert row[:3] == ["hello", "Complete", "1/1"], row
    kubectl("delete", "job", "hello")
    _poll(lab, lambda: not kubectl("get", "pods", "-l", "job-name=hello", "-o", "name").stdout.strip(), 10,
               "the job's pod to go with it")


def test_a_job_whose_pods_fail_past_its_backoff_limit_fails(east):
    _, api, lab, ns = east
    batch = client.BatchV1Api(api)
    template = client.V1PodTemplateSpec(spec=client.V1PodSpec(restart_policy="Never", containers=[
        client.V1Container(name="main", image="busybox", command=["sh", "-c", "exit 3"])]))
    batch.create_namespaced_job(ns, client.V1Job(metadata=client.V1ObjectMeta(name="doomed"),
                                                        spec=client.V1JobSpec(backoff_limit=0, template=template)))
    job = _poll(lab, lambda: (j := batch.read_namespaced_job("doomed", ns)).status and j.status.conditions and j, 20,
                     "the job to end")
    assert [(c.type, c.reason) for c in job.status.conditions] == [("FailureTarget", "BackoffLimitExceeded"),
                                                                    ("Failed", "BackoffLimitExceeded")]
    assert job.status.failed == 1 and not job.status.succeeded and job.status.completion_time is None
    (pod,) = client.CoreV1Api(api).list_namespaced_pod(ns, label_selector="job-name=doomed").items
    assert pod.status.phase == "Failed" and pod.status.container_statuses[0].state.terminated.exit_code == 3


def test_deleting_a_running_jobs_pod_counts_a_failure_and_replaces_it(east):
    kubectl, api, lab, ns = east
    kubectl("create", "job", "long", "--image=busybox", "--", "sleep", "3600")
    kubectl("wait", "--for=condition=Ready", "pod", "-l", "job-name=long", "--timeout=20s")
    first = kubectl("get", "pods", "-l", "job-name=long", "-o", "name").stdout.split()
    assert len(first) == 1
    kubectl("delete", first[0], "--wait=false")
    batch = client.BatchV1Api(api)
    _poll(lab, lambda: (batch.read_namespaced_job("long", ns).status or client.V1JobStatus()).failed == 1, 10,
               "the failure to count")
    # the replacement waits the controller's back-off of 10 s after the first failure
    names = _poll(lab, lambda: (n := kubectl("get", "pods", "-l", "job-name=long", "-o", "name").stdout.split()) and n,
                       20, "a replacement pod")
    assert names != first and len(names) == 1
    status = batch.read_namespaced_job("long", ns).status
    assert status.active == 1 and not status.conditions


def test_a_replication_controller_keeps_its_replicas(east):
    kubectl, api, lab, ns = east
    core = client.CoreV1Api(api)
    template = client.V1PodTemplateSpec(metadata=client.V1ObjectMeta(labels={"app": "kept"}), spec=client.V1PodSpec(
        containers=[client.V1Container(name="main", image="busybox", command=["sleep", "infinity"])]))
    core.create_namespaced_replication_controller(ns, client.V1ReplicationController(
        metadata=client.V1ObjectMeta(name="kept"),
        spec=client.V1ReplicationControllerSpec(replicas=2, selector={"app": "kept"}, template=template)))

    def pods() -> list[str]:
        return kubectl("get", "pods", "-l", "app=kept", "-o", "name").stdout.split()

    _poll(lab, lambda: ((core.read_namespaced_replication_controller("kept", ns).status or
                         client.V1ReplicationControllerStatus(replicas=0)).ready_replicas or 0) == 2, 10, "two ready replicas")
    before = pods()
    kubectl("delete", before[0], "--wait=false")
    _poll(lab, lambda: len(p := pods()) == 2 and before[0] not in p, 10, "a replacement")
    kubectl("scale", "rc", "kept", "--replicas=1")
    _poll(lab, lambda: len(pods()) == 1, 10, "the scale-down")
    assert kubectl("get", "rc").stdout.splitlines()[1].split()[:4] == ["kept", "1", "1", "1"]
    kubectl("delete", "rc", "kept")
    _poll(lab, lambda: not pods(), 10, "its pods to go with it")


def test_after_a_crash_of_the_lab_process_ended_pods_stay_ended_and_running_ones_run_again(own_east):
    kubectl, _, lab = own_east
    kubectl("create", "job", "once", "--image=busybox", "--", "echo", "hi")
    kubectl("run", "sleeper", "--image=busybox", "--restart=Never", "--", "sh", "-c", "echo hi; sleep 3600")
    kubectl("wait", "--for=condition=complete", "job/once", "--timeout=20s")
    kubectl("wait", "--for=condition=Ready", "pod/sleeper", "--timeout=20s")
    provider = lab.backend.provider
    provider.settle()  # the controllers' writes are in the lab process's journal as they happen
    before = {name: status for name, status in _statuses(kubectl).items()}
    pid = kill_lab_process(provider)
    steps.up(lab, until="clusters")
    kubectl("wait", "--for=condition=Ready", "pod/sleeper", "--timeout=20s")
    provider.settle()
    assert _statuses(kubectl) == before == {"sleeper": "Running", **{n: "Completed" for n in before if n != "sleeper"}}
    assert kubectl("logs", "sleeper").stdout == "hi\n"  # its command ran again (logs live in the lab process)
    job = json.loads(kubectl("get", "job", "once", "-o", "json").stdout)["status"]
    assert job["succeeded"] == 1 and "failed" not in job
