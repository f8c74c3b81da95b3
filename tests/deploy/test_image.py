"""`pier image build`: an image built from a registered model is read by
skopeo and umoci, its root filesystem runs the entrypoint under chroot (as
its non-root user, on a loopback port) and scores; two builds are
byte-identical; the docker format; bad inputs."""
import gzip
import hashlib
import io
import json
import os
import select
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
import unittest

from common import PIER, Workspace, close, free_port, pier, score

REF = "pier-test/mlp:1"


def sh(*args, **kw):
    p = subprocess.run(args, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return p.stdout


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class ImageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ws = Workspace()
        cls.out = tempfile.mkdtemp(prefix="pier-image-")
        cls.image = os.path.join(cls.out, "mlp.tar")
        p = cls.ws.run("image", "build", "--model", "mlp:1", "--tag", REF, "-o", cls.image, "--json")
        cls.result = json.loads(p.stdout)
        cls.record = json.loads(cls.ws.run("model", "show", "mlp:1", "--json").stdout)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.out, ignore_errors=True)
        cls.ws.cleanup()

    def test_skopeo_reads_the_archive_and_its_config(self):
        info = json.loads(sh("skopeo", "inspect", "oci-archive:" + self.image))
        self.assertEqual(info["Digest"], self.result["manifest_digest"])
        self.assertEqual(info["Architecture"], "amd64")
        self.assertEqual(info["Os"], "linux")
        self.assertEqual(info["Created"], "1970-01-01T00:00:00Z")
        labels = info["Labels"]
        self.assertEqual(labels["io.pier.model.0.name"], "mlp")
        self.assertEqual(labels["io.pier.model.0.version"], "1")
        self.assertEqual(labels["io.pier.model.0.sha256"], self.record["sha256"])
        self.assertEqual(labels["io.pier.version"], pier("--version").stdout.split()[-1])
        self.assertEqual(len(info["Layers"]), 4)
        # By its reference name, as in index.json.
        by_ref = json.loads(sh("skopeo", "inspect", f"oci-archive:{self.image}:{REF}"))
        self.assertEqual(by_ref["Digest"], info["Digest"])
        cfg = json.loads(sh("skopeo", "inspect", "--config", "oci-archive:" + self.image))
        c = cfg["config"]
        self.assertEqual(c["User"], "65532:65532")
        self.assertEqual(c["Entrypoint"], ["/usr/local/bin/pier", "serve", "--model-file", "/models/mlp-1.onnx",
                                           "--name", "mlp", "--model-version", "1"])
        self.assertEqual(c["Cmd"], ["--host", "0.0.0.0", "--port", "8080"])
        self.assertEqual(c["ExposedPorts"], {"8080/tcp": {}})
        self.assertIn("PATH=/usr/local/bin:/usr/bin:/bin", c["Env"])
        self.assertEqual(c["StopSignal"], "SIGTERM")
        self.assertEqual(len(cfg["rootfs"]["diff_ids"]), 4)
        # What docker load and podman load read: manifest.json (c/image's
        # docker-archive reader, used by podman, checks every digest).
        sh("skopeo", "inspect", "docker-archive:" + self.image)
        dst = os.path.join(self.out, "copied")
        sh("skopeo", "copy", "--quiet", "docker-archive:" + self.image, f"oci:{dst}:x")
        sh("skopeo", "copy", "--quiet", "oci-archive:" + self.image, f"oci:{dst}:y")

    def test_podman_loads_both_formats(self):
        if not shutil.which("podman"):
            self.skipTest("podman is not installed (make deps installs it)")
        docker_fmt = os.path.join(self.out, "for-podman.tar")
        self.ws.run("image", "build", "--model", "mlp:1", "--tag", "pier-test/docker:1", "-o", docker_fmt, "--format", "docker")
        store = tempfile.mkdtemp(prefix="pier-podman-")
        podman = ["podman", "--root", os.path.join(store, "root"), "--runroot", os.path.join(store, "run"),
                  "--storage-driver", "vfs", "--events-backend", "none", "--cgroup-manager", "cgroupfs"]
        try:
            for archive, ref in ((self.image, REF), (docker_fmt, "pier-test/docker:1")):
                out = sh(*podman, "load", "-i", archive)
                self.assertIn("Loaded image: docker.io/" + ref, out)
                info = json.loads(sh(*podman, "image", "inspect", ref))[0]
                self.assertEqual(info["Config"]["User"], "65532:65532")
                self.assertEqual(info["Config"]["Entrypoint"][:2], ["/usr/local/bin/pier", "serve"])
                self.assertEqual(info["Config"]["Labels"]["io.pier.model.0.sha256"], self.record["sha256"])
        finally:
            subprocess.run(["chmod", "-R", "u+w", store], capture_output=True)
            shutil.rmtree(store, ignore_errors=True)

    def test_the_archive_layout(self):
        with tarfile.open(self.image) as t:
            names = t.getnames()
            self.assertEqual(names, sorted(names))
            for m in t.getmembers():
                self.assertEqual((m.mtime, m.uid, m.gid), (0, 0, 0), m.name)
            index = json.load(t.extractfile("index.json"))
            manifest_json = json.load(t.extractfile("manifest.json"))
            self.assertEqual(json.load(t.extractfile("oci-layout")), {"imageLayoutVersion": "1.0.0"})
            self.assertEqual(index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"], REF)
            self.assertEqual(index["manifests"][0]["annotations"]["io.containerd.image.name"], "docker.io/" + REF)
            self.assertEqual(manifest_json[0]["RepoTags"], [REF])
            self.assertEqual(json.load(t.extractfile("repositories")), {"pier-test/mlp": {"1": manifest_json[0]["Layers"][-1].split("/")[-1]}})
            digest = index["manifests"][0]["digest"].split(":")[1]
            manifest = json.load(t.extractfile("blobs/sha256/" + digest))
            for layer in manifest["layers"]:
                self.assertEqual(layer["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip")
                blob = t.extractfile("blobs/sha256/" + layer["digest"].split(":")[1]).read()
                self.assertEqual(hashlib.sha256(blob).hexdigest(), layer["digest"].split(":")[1])
                self.assertEqual(blob[4:8], b"\0\0\0\0", "gzip header has a timestamp")
                with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as lt:
                    ln = lt.getnames()
                    self.assertEqual(ln, sorted(ln))
                    for m in lt.getmembers():
                        self.assertEqual((m.mtime, m.uname, m.gname), (0, "", ""), m.name)

    def test_umoci_unpacks_it_and_the_entrypoint_scores_under_chroot(self):
        layout = os.path.join(self.out, "layout")
        bundle = os.path.join(self.out, "bundle")
        os.makedirs(layout)
        with tarfile.open(self.image) as t:
            t.extractall(layout)
        sh("umoci", "unpack", "--image", f"{layout}:{REF}", bundle)
        rootfs = os.path.join(bundle, "rootfs")
        with open(os.path.join(bundle, "config.json")) as f:
            spec = json.load(f)
        self.assertEqual((spec["process"]["user"]["uid"], spec["process"]["user"]["gid"]), (65532, 65532))
        args = spec["process"]["args"]
        self.assertEqual(args[:2], ["/usr/local/bin/pier", "serve"])
        with open(os.path.join(rootfs, "etc/passwd")) as f:
            self.assertIn("pier:x:65532:65532:", f.read())
        self.assertEqual(os.stat(os.path.join(rootfs, "tmp")).st_mode & 0o7777, 0o1777)
        self.assertEqual(sha256_file(os.path.join(rootfs, "models/mlp-1.onnx")), self.record["sha256"])
        self.assertTrue(os.path.exists(os.path.join(rootfs, "lib64/ld-linux-x86-64.so.2")))
        if os.geteuid() != 0:
            self.skipTest("chroot needs root: the image's entrypoint was not run (run the deploy tests as root)")
        # The image's command as `docker run IMAGE --host 127.0.0.1 --port P` gives it.
        port = free_port()
        cmd = args[:args.index("--host")] + ["--host", "127.0.0.1", "--port", str(port)]
        chroot = shutil.which("chroot") or "/usr/sbin/chroot"
        proc = subprocess.Popen([chroot, "--userspec=65532:65532", rootfs, *cmd], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env={k: v for k, v in (e.split("=", 1) for e in spec["process"]["env"])})
        try:
            ready, _, _ = select.select([proc.stdout], [], [], 60)
            line = proc.stdout.readline().decode() if ready else ""
            self.assertIn(f"serving 1 model on http://127.0.0.1:{port}", line, proc.stderr.read1().decode() if proc.poll() is not None else "")
            status, out = score(port)
            self.assertEqual(status, 200, out)
            self.assertTrue(close(out["result"], self.ws.expected[1]), out)
            import http.client
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/v2/models/mlp")
            meta = json.loads(c.getresponse().read())
            self.assertEqual(meta["versions"], ["1"])
            with open(f"/proc/{proc.pid}/status") as f:
                uid_line = [l for l in f if l.startswith("Uid:")][0]
            self.assertEqual(uid_line.split()[1], "65532", "the server does not run as the image's user")
        finally:
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(timeout=30), 0)
            proc.stdout.close()
            proc.stderr.close()

    def test_two_builds_are_byte_identical(self):
        again = os.path.join(self.out, "again.tar")
        self.ws.run("image", "build", "--model", "mlp:1", "--tag", REF, "-o", again)
        with open(self.image, "rb") as a, open(again, "rb") as b:
            self.assertTrue(a.read() == b.read(), "two builds differ")
        # SOURCE_DATE_EPOCH sets every timestamp; still reproducible.
        env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000")
        e1, e2 = os.path.join(self.out, "e1.tar"), os.path.join(self.out, "e2.tar")
        for e in (e1, e2):
            pier("image", "build", "--model", "mlp:1", "--tag", REF, "-o", e, cwd=self.ws.dir, env=env)
        self.assertEqual(sha256_file(e1), sha256_file(e2))
        self.assertNotEqual(sha256_file(e1), sha256_file(self.image))
        info = json.loads(sh("skopeo", "inspect", "oci-archive:" + e1))
        self.assertEqual(info["Created"], "2023-11-14T22:13:20Z")

    def test_docker_format_and_several_models(self):
        out = os.path.join(self.out, "docker.tar")
        p = self.ws.run("image", "build", "--model", "mlp:1", "--model", "mlp:2", "-o", out, "--format", "docker", "--json")
        res = json.loads(p.stdout)
        self.assertEqual(res["ref"], "mlp:1")  # default: the first model's name and version
        self.assertEqual(len(res["layers"]), 5)
        for layer in res["layers"]:
            self.assertEqual(layer["digest"], layer["diff_id"])  # uncompressed
        with tarfile.open(out) as t:
            m = json.load(t.extractfile("manifest.json"))
            self.assertEqual(m[0]["RepoTags"], ["mlp:1"])
            for layer in m[0]["Layers"]:
                t.extractfile(layer).read(512)  # a plain tar
        info = json.loads(sh("skopeo", "inspect", "docker-archive:" + out))
        self.assertEqual(info["Labels"]["io.pier.model.1.version"], "2")
        cfg = json.loads(sh("skopeo", "inspect", "--config", "oci-archive:" + out))
        ep = cfg["config"]["Entrypoint"]
        self.assertEqual(ep.count("--model-file"), 2)
        self.assertIn("/models/mlp-2.onnx", ep)
        # The same files give the same uncompressed layers in both formats.
        oci_cfg = json.loads(sh("skopeo", "inspect", "--config", "oci-archive:" + self.image))
        self.assertEqual(cfg["rootfs"]["diff_ids"][:4], oci_cfg["rootfs"]["diff_ids"])

    def test_progress_only_on_a_terminal(self):
        out = os.path.join(self.out, "p.tar")
        p = self.ws.run("image", "build", "--model", "mlp:1", "-o", out)
        self.assertEqual(p.stderr, "")
        if shutil.which("script"):
            t = subprocess.run(["script", "-qec", f"{PIER} image build --model mlp:1 -o {out}", "/dev/null"],
                               cwd=self.ws.dir, capture_output=True, timeout=120)
            self.assertEqual(t.returncode, 0, t.stdout)
            self.assertIn(b"\r\x1b[Kpier: shared libraries and the dynamic loader", t.stdout)

    def test_bad_inputs(self):
        d = tempfile.mkdtemp(prefix="pier-image-bad-")
        try:
            cases = [
                (["--model", "nope", "-o", f"{d}/x.tar"], 1, 'no model named "nope"'),
                (["--model", "mlp:7", "-o", f"{d}/x.tar"], 1, "has no version 7"),
                (["--model", "mlp", "--tag", "Upper/Case:1", "-o", f"{d}/x.tar"], 2, "not an image reference"),
                (["--model", "mlp", "--tag", "notag", "-o", f"{d}/x.tar"], 2, "not an image reference"),
                (["--model", "mlp", "-o", f"{d}/missing/x.tar"], 1, "does not exist"),
                (["--model", "mlp", "-o", d], 2, "is a folder"),
                (["--model", "mlp", "-o", "/proc/x.tar"], 1, "cannot write /proc/x.tar"),
                (["--model", "mlp", "-o", f"{d}/x.tar", "--format", "zip"], 2, "--format must be oci or docker"),
                (["--model", "mlp", "-o", f"{d}/x.tar", "--port", "0"], 2, "--port"),
                (["-o", f"{d}/x.tar"], 2, "--model is required"),
            ]
            for args, code, msg in cases:
                p = self.ws.run("image", "build", *args, check=False)
                self.assertEqual(p.returncode, code, f"{args}: {p.stderr}")
                self.assertIn(msg, p.stderr, args)
            env = dict(os.environ, SOURCE_DATE_EPOCH="yesterday")
            p = pier("image", "build", "--model", "mlp", "-o", f"{d}/x.tar", cwd=self.ws.dir, env=env, check=False)
            self.assertEqual(p.returncode, 2)
            self.assertIn("SOURCE_DATE_EPOCH", p.stderr)
            self.assertEqual(os.listdir(d), [], "a failed build left files behind")
        finally:
            shutil.rmtree(d)


if __name__ == "__main__":
    unittest.main(verbosity=2)
