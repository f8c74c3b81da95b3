"""`pier deploy k8s`: the manifests are valid YAML (read the same by a YAML
1.1 and a YAML 1.2 parser), valid Kubernetes objects (k8s/validate.mjs:
Kubernetes' OpenAPI schemas through kubernetes-models, unknown fields
through TypeScript, and the API server's name and reference rules), and say
what the issue asks: probes on /v2/health/*, resources, replicas, a grace
period covering the drain, a Service, an HPA with a CPU target and bounds, a
Secret with the keys, a KServe InferenceService. The validator itself is
shown to reject broken manifests."""
import json
import os
import shutil
import stat
import subprocess
import tempfile
import unittest

import yaml

from common import Workspace

HERE = os.path.dirname(os.path.abspath(__file__))
VALIDATOR = os.path.join(HERE, "k8s", "validate.mjs")
NODE_MODULES = os.path.join(HERE, "k8s", "node_modules")


def load(path):
    with open(path) as f:
        return yaml.safe_load(f)


def validate(*files):
    return subprocess.run(["node", VALIDATOR, "--json", *files], capture_output=True, text=True, timeout=120)


class K8sManifestTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.isdir(os.path.join(NODE_MODULES, "kubernetes-models")):
            raise AssertionError(f"{NODE_MODULES} is missing: run `make deps` (npm ci in tests/deploy/k8s)")
        cls.ws = Workspace()
        cls.out = tempfile.mkdtemp(prefix="pier-k8s-")
        cls.dir = os.path.join(cls.out, "manifests")
        p = cls.ws.run("deploy", "k8s", "mlp-svc", "--model", "mlp:2", "--image", "registry.example.com/ml/mlp:2",
                       "-o", cls.dir, "--replicas", "2", "--min-replicas", "2", "--max-replicas", "6",
                       "--cpu-target", "60", "--cpu", "250m", "--memory", "256Mi", "--cpu-limit", "2",
                       "--memory-limit", "1Gi", "--drain-timeout", "20", "--api-key", "key-one", "--api-key", "key-two",
                       "--kserve", "--namespace", "scoring")
        cls.files = sorted(os.path.join(cls.dir, f) for f in os.listdir(cls.dir))
        cls.objs = {os.path.basename(f): load(f) for f in cls.files}
        cls.record = json.loads(cls.ws.run("model", "show", "mlp:2", "--json").stdout)
        cls.stdout = p.stdout

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.out, ignore_errors=True)
        cls.ws.cleanup()

    def test_files_and_schemas(self):
        self.assertEqual(sorted(self.objs), ["deployment.yaml", "hpa.yaml", "inferenceservice.yaml", "secret.yaml", "service.yaml"])
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(self.dir, "secret.yaml")).st_mode), 0o600)
        p = validate(*self.files)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr.count("\nok ") + p.stderr.startswith("ok "), 5, p.stderr)
        # YAML 1.2 (the validator's `yaml`) and YAML 1.1 (PyYAML, as
        # Kubernetes' go-yaml reads) give the same objects.
        parsed = json.loads(p.stdout)
        for f in self.files:
            self.assertEqual(parsed[f], self.objs[os.path.basename(f)], f)

    def test_deployment(self):
        d = self.objs["deployment.yaml"]
        self.assertEqual((d["apiVersion"], d["kind"]), ("apps/v1", "Deployment"))
        self.assertEqual(d["metadata"]["namespace"], "scoring")
        self.assertEqual(d["spec"]["replicas"], 2)
        pod = d["spec"]["template"]["spec"]
        self.assertEqual(pod["terminationGracePeriodSeconds"], 35)  # stop delay (5 s), drain (20 s) and a margin
        self.assertEqual(pod["securityContext"]["runAsUser"], 65532)
        c = pod["containers"][0]
        self.assertEqual(c["image"], "registry.example.com/ml/mlp:2")
        self.assertEqual(c["args"], ["--host", "0.0.0.0", "--port", "8080", "--stop-delay", "5", "--drain-timeout", "20"])
        self.assertEqual(c["livenessProbe"]["httpGet"], {"path": "/v2/health/live", "port": "http"})
        self.assertEqual(c["readinessProbe"]["httpGet"], {"path": "/v2/health/ready", "port": "http"})
        self.assertEqual(c["resources"], {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "2", "memory": "1Gi"}})
        self.assertEqual(c["env"][0]["valueFrom"]["secretKeyRef"], {"name": "mlp-svc-keys", "key": "PIER_API_KEYS"})
        ann = d["spec"]["template"]["metadata"]["annotations"]
        self.assertEqual((ann["pier.io/model.0.name"], ann["pier.io/model.0.version"], ann["pier.io/model.0.sha256"]),
                         ("mlp", "2", self.record["sha256"]))

    def test_service_hpa_secret_and_kserve(self):
        s = self.objs["service.yaml"]
        self.assertEqual(s["spec"]["selector"], {"app.kubernetes.io/name": "mlp-svc"})
        self.assertEqual(s["spec"]["ports"][0]["targetPort"], "http")
        h = self.objs["hpa.yaml"]
        self.assertEqual(h["apiVersion"], "autoscaling/v2")
        self.assertEqual((h["spec"]["minReplicas"], h["spec"]["maxReplicas"]), (2, 6))
        self.assertEqual(h["spec"]["metrics"][0]["resource"], {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}})
        self.assertEqual(h["spec"]["scaleTargetRef"], {"apiVersion": "apps/v1", "kind": "Deployment", "name": "mlp-svc"})
        sec = self.objs["secret.yaml"]
        self.assertEqual(sec["stringData"], {"PIER_API_KEYS": "key-one,key-two"})
        i = self.objs["inferenceservice.yaml"]
        self.assertEqual((i["apiVersion"], i["kind"]), ("serving.kserve.io/v1beta1", "InferenceService"))
        pred = i["spec"]["predictor"]
        self.assertEqual((pred["minReplicas"], pred["maxReplicas"], pred["scaleMetric"], pred["scaleTarget"]), (2, 6, "cpu", 60))
        self.assertEqual(pred["containers"][0]["name"], "kserve-container")

    def test_auto_keys_and_no_keys(self):
        d = os.path.join(self.out, "auto")
        self.ws.run("deploy", "k8s", "svc", "--model", "mlp", "--image", "mlp:1", "-o", d)
        keys = load(os.path.join(d, "secret.yaml"))["stringData"]["PIER_API_KEYS"].split(",")
        self.assertEqual(len(keys), 2)
        self.assertTrue(all(len(k) >= 40 for k in keys))
        self.assertFalse(os.path.exists(os.path.join(d, "inferenceservice.yaml")))
        n = os.path.join(self.out, "nokeys")
        self.ws.run("deploy", "k8s", "svc", "--model", "mlp", "--image", "mlp:1", "-o", n, "--no-api-key")
        self.assertEqual(sorted(os.listdir(n)), ["deployment.yaml", "hpa.yaml", "service.yaml"])
        self.assertNotIn("env", load(os.path.join(n, "deployment.yaml"))["spec"]["template"]["spec"]["containers"][0])
        for folder in (d, n):
            p = validate(*[os.path.join(folder, f) for f in sorted(os.listdir(folder))])
            self.assertEqual(p.returncode, 0, p.stderr)

    def test_the_validator_rejects_broken_manifests(self):
        dep = self.objs["deployment.yaml"]
        broken = os.path.join(self.out, "broken")
        os.makedirs(broken, exist_ok=True)

        def mutated(name, fn, expect):
            obj = json.loads(json.dumps(dep))
            fn(obj)
            path = os.path.join(broken, name + ".yaml")
            with open(path, "w") as f:
                yaml.safe_dump(obj, f)
            p = validate(path)
            self.assertNotEqual(p.returncode, 0, f"{name} passed")
            self.assertIn(expect, p.stderr, name)

        c = lambda o: o["spec"]["template"]["spec"]["containers"][0]  # noqa: E731
        mutated("unknown-field", lambda o: c(o).update(readinessprobe={}), "readinessprobe")
        mutated("wrong-type", lambda o: o["spec"].update(replicas="two"), "replicas")
        mutated("bad-quantity", lambda o: c(o)["resources"]["requests"].update(memory="lots"), "quantity")
        mutated("missing-required", lambda o: o["spec"].pop("selector"), "selector")
        mutated("bad-port-name", lambda o: c(o)["livenessProbe"]["httpGet"].update(port="metrics"), "unknown port name")
        mutated("bad-name", lambda o: o["metadata"].update(name="Bad_Name"), "metadata.name")
        mutated("bad-selector", lambda o: o["spec"]["selector"]["matchLabels"].update({"x": "y"}), "selector does not match")
        with open(os.path.join(broken, "dup.yaml"), "w") as f:
            f.write("apiVersion: v1\nkind: Secret\nkind: Secret\nmetadata:\n  name: x\n")
        p = validate(os.path.join(broken, "dup.yaml"))
        self.assertNotEqual(p.returncode, 0)

    def test_pier_serve_keeps_serving_during_the_stop_delay(self):
        """What the Deployment's args rely on: after SIGTERM, readiness is 503
        while requests are still served, then the server stops."""
        import signal
        import time
        from common import PIER, free_port, score
        import http.client
        port = free_port()
        p = subprocess.Popen([PIER, "serve", "--model-file", os.path.join(self.ws.dir, "model1.onnx"), "--name", "mlp",
                              "--port", str(port), "--stop-delay", "1.5", "--no-access-log"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.assertIn("serving 1 model", p.stdout.readline())

            def ready():
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/v2/health/ready")
                status = c.getresponse().status
                c.close()
                return status
            self.assertEqual(ready(), 200)
            t0 = time.monotonic()
            p.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            self.assertEqual(ready(), 503)
            self.assertEqual(score(port)[0], 200)  # still serving
            self.assertEqual(p.wait(timeout=30), 0)
            self.assertGreaterEqual(time.monotonic() - t0, 1.4)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()
            p.stderr.close()

    def test_bad_inputs(self):
        d = os.path.join(self.out, "bad")
        blocker = os.path.join(self.out, "a-file")
        open(blocker, "w").close()
        base = ["deploy", "k8s", "svc", "--model", "mlp", "--image", "mlp:1", "-o", d]
        cases = [
            (["deploy", "k8s", "Svc", "--model", "mlp", "--image", "x:1", "-o", d], 2, "invalid deployment name"),
            (["deploy", "k8s", "svc", "--model", "nope", "--image", "x:1", "-o", d], 1, 'no model named "nope"'),
            (["deploy", "k8s", "svc", "--model", "mlp", "-o", d], 2, "--image is required"),
            (base + ["--cpu", "lots"], 2, "not a Kubernetes quantity"),
            (base + ["--min-replicas", "5", "--max-replicas", "2"], 2, "--min-replicas"),
            (base + ["--namespace", "Bad"], 2, "not a DNS label"),
            (base + ["--service-type", "Magic"], 2, "--service-type"),
            (base + ["--stop-delay", "-1"], 2, "--stop-delay"),
            (base + ["--api-key", "a b"], 2, "API key"),
            (base + ["--no-api-key", "--api-key", "k"], 2, "contradict"),
            (["deploy", "k8s", "svc", "--model", "mlp", "--image", "x:1", "-o", os.path.join(blocker, "sub")], 1, "cannot create the folder"),
        ]
        for args, code, msg in cases:
            p = self.ws.run(*args, check=False)
            self.assertEqual(p.returncode, code, f"{args}: {p.stderr}")
            self.assertIn(msg, p.stderr, args)
        self.assertFalse(os.path.exists(d))


if __name__ == "__main__":
    unittest.main(verbosity=2)
