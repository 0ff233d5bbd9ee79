"""`kubectl exec` into the client pod, as a workshop types it: a shell (`sh -c`, a script on stdin, `-it`
at a terminal), the image's tools, the pod's own view (hostname, resolv.conf, service-account files),
exit codes carried back to kubectl, and RBAC's `pods/exec` refusal. Real kubectl, the lab's kubeconfig."""
from __future__ import annotations

import base64
import ipaddress
import os
import shutil
import time

import pytest
import yaml


def _exec(cluster, lab, *command: str, stdin: str | None = None, flags: tuple = (), kubeconfig: str | None = None):
    return cluster.kubectl("-n", lab.cfg.namespace, "exec", *flags, "deploy/client", "-c", "client", "--", *command,
                           stdin=stdin, kubeconfig=kubeconfig)


def _ok(result) -> str:
    assert result.returncode == 0, (result.returncode, result.stderr)
    return result.stdout


def test_a_for_loop_of_curls_through_a_pipe_counts_every_answer(lab, west, east):
    url = f"http://foobar-{east.name}.{lab.cfg.namespace}.svc.cluster.local:9898"
    script = f"for i in $(seq 3); do curl -s -o /dev/null -w '%{{http_code}}\\n' {url}; done | sort | uniq -c"
    assert _ok(_exec(west, lab, "sh", "-c", script)).split() == ["3", "200"]
    loop = f"for i in 1 2; do curl -s {url}; echo; done | grep message | grep -c {east.name}"
    counted = _ok(_exec(west, lab, "sh", "-c", loop))
    assert counted.strip() == "2"


def test_short_names_and_cluster_ips_reach_the_service_through_the_search_path(lab, west, east):
    """`curl foobar-east:9898` from a pod of the same namespace: the name goes through resolv.conf's search
    domains, as does busybox wget's; the cluster IP nslookup gives answers too; a missing name is curl's 6."""
    mirror = f"foobar-{east.name}"
    script = (f"curl -s {mirror}:9898 | grep message; wget -qO- http://{mirror}:9898/ | grep message; "
              f"curl -s $(nslookup {mirror} | grep '^Address: ' | cut -d' ' -f2):9898 | grep message; "
              f"curl -s no-such-service:9898; echo \"curl=$?\"")
    lines = _ok(_exec(west, lab, "sh", "-c", script)).splitlines()
    assert len(lines) == 4 and all(east.name in line for line in lines[:3]), lines
    assert lines[3] == "curl=6", lines


def test_the_shell_sees_the_pods_hostname_resolv_conf_and_service_account(lab, west):
    ns = lab.cfg.namespace
    pod = _ok(west.kubectl("-n", ns, "get", "pods", "-l", "app=client", "-o", "jsonpath={.items[0].metadata.name}"))
    out = _ok(_exec(west, lab, "sh", "-c", 'echo "$HOSTNAME"; cat /etc/hostname; '
                                            "cat /var/run/secrets/kubernetes.io/serviceaccount/namespace; echo; "
                                            'echo "k8s=$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT"')).splitlines()
    assert out[:3] == [pod, pod, ns], out
    host, _, port = out[3].removeprefix("k8s=").partition(":")
    assert ipaddress.ip_address(host) and port == "443", out
    resolv = _ok(_exec(west, lab, "cat", "/etc/resolv.conf")).splitlines()
    # the kubelet appends the node's own search domains (kind's node passes on the host's), so only the start
    # is the cluster's (pkg/kubelet/network/dns/dns.go generateSearchesForDNSClusterFirst)
    search = next(line for line in resolv if line.startswith("search "))
    assert search.split()[1:4] == [f"{ns}.svc.cluster.local", "svc.cluster.local", "cluster.local"], resolv
    assert "options ndots:5" in resolv, resolv
    nameserver = next(line.split()[1] for line in resolv if line.startswith("nameserver "))
    assert ipaddress.ip_address(nameserver), resolv


def test_nslookup_finds_the_mirror_by_its_short_name_and_not_a_missing_one(lab, west, east):
    """busybox's nslookup asks a short name under every search domain and prints every answer: the mirror's
    full name and address among them. The other domains' NXDOMAIN make its exit status 1 all the same
    (networking/nslookup.c at busybox 1_36_1, send_queries), unlike curl's resolver, which stops at the first."""
    ns, mirror = lab.cfg.namespace, f"foobar-{east.name}"
    ip = _ok(west.kubectl("-n", ns, "get", "svc", mirror, "-o", "jsonpath={.spec.clusterIP}"))
    found = _exec(west, lab, "nslookup", mirror)
    assert f"Name:\t{mirror}.{ns}.svc.cluster.local\nAddress: {ip}\n" in found.stdout, found
    assert f"** server can't find {mirror}.svc.cluster.local: NXDOMAIN" in found.stdout, found.stdout
    assert found.returncode == 1, found
    missing = _exec(west, lab, "sh", "-c", "nslookup no-such-service >/dev/null 2>&1; echo $?")
    assert _ok(missing).strip() == "1"


def test_exit_codes_come_back_to_kubectl(lab, west):
    exited = _exec(west, lab, "sh", "-c", "exit 3")
    assert exited.returncode == 3 and "command terminated with exit code 3" in exited.stderr, exited
    assert _ok(_exec(west, lab, "sh", "-c", "false || true; false; echo $?")).strip() == "1"


def test_a_script_on_stdin_runs_line_by_line(lab, west):
    assert _ok(_exec(west, lab, "sh", stdin="echo hi\n", flags=("-i",))) == "hi\n"
    script = "x=4\nfor i in a b; do\n  echo \"$i$x\"\ndone\nexit 7\necho never\n"
    result = _exec(west, lab, "sh", stdin=script, flags=("-i",))
    assert (result.returncode, result.stdout) == (7, "a4\nb4\n"), result


def test_a_command_the_image_lacks_is_not_found_and_bad_syntax_is_a_syntax_error(lab, west):
    missing = _exec(west, lab, "sh", "-c", "nosuchtool --help")
    assert missing.returncode == 127 and "sh: nosuchtool: not found" in missing.stderr, missing
    broken = _exec(west, lab, "sh", "-c", "if then")
    assert broken.returncode == 2 and 'syntax error: unexpected "then"' in broken.stderr, broken
    unstarted = _exec(west, lab, "nosuchtool")
    assert unstarted.returncode == 1 and 'exec: "nosuchtool": executable file not found in $PATH' in unstarted.stderr, unstarted


def test_a_service_account_without_pods_exec_is_forbidden_and_nothing_runs(lab, west, tmp_path):
    """The account may find the pod (get deployments, list pods) but not create pods/exec: 403, and the
    command it sent left no trace."""
    ns, name = lab.cfg.namespace, "exec-shell-viewer"
    objects = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": ns}},
        {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
         "metadata": {"name": name, "namespace": ns, "annotations": {"kubernetes.io/service-account.name": name}}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": name, "namespace": ns},
         "rules": [{"apiGroups": ["", "apps"], "resources": ["pods", "deployments"], "verbs": ["get", "list"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": name, "namespace": ns},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
         "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}]},
    ]
    _ok(west.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(objects)))
    try:
        lab.wait_for(lambda: west.kubectl("-n", ns, "get", "secret", name, "-o", "jsonpath={.data.token}").stdout, 30,
                     "the token controller to fill the token")
        token = base64.b64decode(_ok(west.kubectl("-n", ns, "get", "secret", name, "-o", "jsonpath={.data.token}"))).decode()
        config = yaml.safe_load(_ok(west.kubectl("config", "view", "--minify", "--raw", "-o", "yaml")))
        config["users"] = [{"name": name, "user": {"token": token}}]
        config["contexts"][0]["context"]["user"] = name
        kubeconfig = tmp_path / "viewer.kubeconfig"
        kubeconfig.write_text(yaml.safe_dump(config))
        marker = f"/tmp/exec-shell-{os.getpid()}"
        refused = _exec(west, lab, "sh", "-c", f"echo ran > {marker}", kubeconfig=str(kubeconfig))
        assert refused.returncode == 1 and "Forbidden" in refused.stderr, refused
        assert 'cannot create resource "pods/exec"' in refused.stderr, refused.stderr
        left = _exec(west, lab, "sh", "-c", f"test -e {marker}; echo $?")
        assert _ok(left).strip() == "1", "the refused command ran"
    finally:
        west.kubectl("delete", "-f", "-", "--ignore-not-found", stdin=yaml.safe_dump_all(objects))


def test_exec_it_sh_at_a_terminal_prompts_echoes_interrupts_and_exits(lab, west):
    """`kubectl exec -it ... -- sh` driven through a pseudo-terminal: the prompt, typed lines echoed,
    Ctrl-C ending the command in the foreground (status 130) but not the shell, `exit 5` ending both."""
    import pty
    import select

    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed on this machine")
    env = {**os.environ, "KUBECONFIG": lab.backend.provider.kubeconfig_path()}
    argv = ["kubectl", f"--context=kind-{west.name}", "-n", lab.cfg.namespace, "exec", "-it", "deploy/client",
            "-c", "client", "--", "sh"]
    pid, fd = pty.fork()
    if pid == 0:  # the child: kubectl, its stdin a terminal
        os.execvpe("kubectl", argv, env)
    seen = bytearray()

    def until(token: bytes, timeout: float = 20) -> bytes:
        deadline = time.monotonic() + timeout
        while token not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    seen.extend(os.read(fd, 4096))
                except OSError:
                    break
        assert token in seen, (token, bytes(seen))
        return bytes(seen)

    try:
        until(b"$ ")
        os.write(fd, b"echo hello $((6 * 7))\r")
        until(b"hello 42\r\n")
        os.write(fd, b"cat\r")
        os.write(fd, b"typed\r")
        until(b"typed\r\ntyped\r\n")  # the echo, then cat's copy: cat is running
        os.write(fd, b"\x03")
        os.write(fd, b"echo status=$?\r")
        until(b"status=130")
        os.write(fd, b"exit 5\r")
        until(b"command terminated with exit code 5")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 5


def test_the_official_python_clients_stream_runs_a_script_sent_on_stdin(lab, west):
    """kubernetes.stream.stream (websocket v4, stdin as text frames): the output and the exit code."""
    from kubernetes import client, config
    from kubernetes.stream import stream

    ns = lab.cfg.namespace
    pod = _ok(west.kubectl("-n", ns, "get", "pods", "-l", "app=client", "-o", "jsonpath={.items[0].metadata.name}"))
    api = client.CoreV1Api(config.new_client_from_config(lab.backend.provider.kubeconfig_path(), context=f"kind-{west.name}"))
    assert stream(api.connect_get_namespaced_pod_exec, pod, ns, container="client", command=["sh", "-c", "seq 2"],
                  stderr=True, stdin=False, stdout=True, tty=False) == "1\n2\n"
    session = stream(api.connect_get_namespaced_pod_exec, pod, ns, container="client", command=["sh"],
                     stderr=True, stdin=True, stdout=True, tty=False, _preload_content=False)
    try:
        session.write_stdin("echo from-stdin\nexit 4\n")
        session.run_forever(timeout=20)
        assert session.read_stdout() == "from-stdin\n"
        assert session.returncode == 4
    finally:
        session.close()
