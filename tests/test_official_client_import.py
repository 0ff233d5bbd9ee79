"""Loading the official client (lab/kubeclient.py): every command that reads a cluster pays for it first. It
loads without kubernetes-validate and the jsonschema it brings (the dynamic client's optional client-side
validation, which the lab never calls), and leaves that package importable as usual afterwards: tests and the
simulated API server's schema reader need it."""
import subprocess
import sys


def _fresh(code: str) -> list[str]:
    """Run `code` in a new interpreter (nothing of this worker's imports in it); its printed words."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_the_client_loads_without_the_validator_which_then_imports_and_validates_as_usual():
    said = _fresh(
        "import sys\n"
        "from lab.kubeclient import load_official_client\n"
        "load_official_client()\n"
        "import kubernetes.dynamic.client as dc\n"
        "print('jsonschema' in sys.modules, 'kubernetes_validate' in sys.modules, dc.HAS_KUBERNETES_VALIDATE)\n"
        "import kubernetes_validate\n"
        "cm = {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'x'}, 'data': {'a': 1}}\n"
        "try:\n"
        "    kubernetes_validate.validate(cm, kubernetes_validate.utils.latest_version(), strict=True)\n"
        "except kubernetes_validate.ValidationError:\n"
        "    print('refused')\n")
    assert said == ["False", "False", "False", "refused"]  # data values are strings: the validator still works


def test_a_validator_imported_before_stays_loaded_and_the_client_uses_it():
    said = _fresh(
        "import sys, kubernetes_validate\n"
        "from lab.kubeclient import load_official_client\n"
        "load_official_client()\n"
        "import kubernetes.dynamic.client as dc\n"
        "print(sys.modules['kubernetes_validate'] is kubernetes_validate, dc.HAS_KUBERNETES_VALIDATE)\n")
    assert said == ["True", "True"]


def test_a_client_import_that_fails_leaves_the_validator_importable():
    said = _fresh(
        "import sys\n"
        "sys.modules['kubernetes.dynamic'] = None  # the client's import fails part way\n"
        "from lab.kubeclient import load_official_client\n"
        "try:\n"
        "    load_official_client()\n"
        "except ImportError:\n"
        "    print('failed')\n"
        "import kubernetes_validate\n"
        "print(kubernetes_validate.__name__)\n")
    assert said == ["failed", "kubernetes_validate"]


def test_threads_loading_it_at_once_all_get_the_client_and_leave_the_validator_importable():
    """The preload thread and a KubeClient made meanwhile load it at once (lab/backends/sim.py)."""
    said = _fresh(
        "import sys, threading\n"
        "sys.setswitchinterval(1e-6)\n"
        "from lab.kubeclient import load_official_client\n"
        "errors = []\n"
        "def load():\n"
        "    try:\n"
        "        load_official_client()\n"
        "        from kubernetes import dynamic\n"
        "        dynamic.DynamicClient\n"
        "    except Exception as exc:\n"
        "        errors.append(repr(exc))\n"
        "workers = [threading.Thread(target=load) for _ in range(8)]\n"
        "for w in workers: w.start()\n"
        "for w in workers: w.join()\n"
        "import kubernetes_validate\n"
        "print(len(errors), kubernetes_validate.__name__)\n")
    assert said == ["0", "kubernetes_validate"]


def test_other_threads_find_the_validator_while_one_thread_loads_the_client():
    """The preload thread imports the client while the command's other threads go on: they are told nothing
    false meanwhile (the simulated API server's schema reader looks the package up with find_spec)."""
    said = _fresh(
        "import importlib.machinery, importlib.util, sys, threading\n"
        "inside, go = threading.Event(), threading.Event()\n"
        "class PauseInsideTheClientImport:  # holds the loader thread while the client's module runs\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name != 'kubernetes.dynamic.discovery' or threading.current_thread().name != 'loader':\n"
        "            return None\n"
        "        spec = importlib.machinery.PathFinder.find_spec(name, path)\n"
        "        real = spec.loader\n"
        "        class Paused:\n"
        "            def create_module(self, spec): return real.create_module(spec)\n"
        "            def exec_module(self, module):  # under the module's lock only, not the import system's\n"
        "                inside.set(); go.wait(30); real.exec_module(module)\n"
        "        spec.loader = Paused()\n"
        "        return spec\n"
        "sys.meta_path.insert(0, PauseInsideTheClientImport())\n"
        "from lab.kubeclient import load_official_client\n"
        "loader = threading.Thread(target=load_official_client, name='loader')\n"
        "loader.start()\n"
        "assert inside.wait(30)\n"
        "print(importlib.util.find_spec('kubernetes_validate') is not None)\n"
        "go.set()\n"
        "loader.join()\n"
        "import kubernetes.dynamic.client\n"
        "print('loaded')\n")
    assert said == ["True", "loaded"]
