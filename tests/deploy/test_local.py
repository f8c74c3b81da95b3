"""Local deployments (`pier deploy`): the lifecycle the issue asks for.

create -> score -> kill the server and it comes back -> update to version 2
under continuous load with zero failed requests -> delete: the port is free
and no process is left. Also replicas, a supervisor that dies, a deployment
that cannot start, bad inputs, and an old workspace migrated to schema 2."""
import http.client
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
import unittest

from common import PIER, Workspace, close, free_port, pier, port_free, score


def show(ws, name):
    return json.loads(ws.run("deploy", "show", name, "--json").stdout)


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def processes_of(workspace_dir):
    """pids of processes whose command line names the workspace."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().decode(errors="replace")
        except OSError:
            continue
        if workspace_dir in cmd and alive(int(d)):
            out.append((int(d), cmd.replace("\0", " ")))
    return out


def wait_for(cond, timeout=30, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(step)
    return cond()


class Load:
    """Scoring requests in a loop from several threads until stopped: half
    of the threads keep their connection alive, half open one per request.
    Every response that is not a 200 with an output of version 1 or 2, and
    every connection error, is a failure."""

    def __init__(self, port, key, expected, threads=4, max_seconds=90):
        self.port, self.key, self.expected = port, key, expected
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ok = {1: 0, 2: 0}
        self.failures = []
        self.last = {}
        self.deadline = time.monotonic() + max_seconds
        self.threads = [threading.Thread(target=self.loop, args=(i, i % 2 == 0)) for i in range(threads)]

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join()

    def version_of(self, result):
        for v, e in self.expected.items():
            if close(result, e):
                return v
        return None

    def loop(self, i, keep_alive):
        body = json.dumps({"data": [[0.1, 0.2, 0.3, 0.4]]})
        hdrs = {"Content-Type": "application/json", "Authorization": "Bearer " + self.key}
        conn = None
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                conn.request("POST", "/score", body, hdrs)
                r = conn.getresponse()
                data = r.read()
                if r.status != 200:
                    raise RuntimeError(f"HTTP {r.status}: {data[:200]!r}")
                v = self.version_of(json.loads(data)["result"])
                if v is None:
                    raise RuntimeError(f"unexpected output {data[:200]!r}")
                with self.lock:
                    self.ok[v] += 1
                    self.last[i] = v
                if not keep_alive or r.will_close:
                    conn.close()
                    conn = None
            except Exception as e:  # noqa: BLE001 - every failure counts
                with self.lock:
                    self.failures.append(f"thread {i}: {type(e).__name__}: {e}")
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()


class LocalDeploymentTest(unittest.TestCase):
    def setUp(self):
        self.ws = Workspace()
        self.created = []

    def tearDown(self):
        for name in self.created:
            self.ws.run("deploy", "delete", name, check=False)
        left = processes_of(self.ws.dir)
        for pid, _ in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.ws.cleanup()
        self.assertEqual(left, [], "processes left running")

    def create(self, name, *args):
        self.created.append(name)
        return self.ws.run("deploy", "create", name, *args, check=False)

    def test_lifecycle(self):
        ws = self.ws
        # 1. create
        p = self.create("mlp-svc", "--model", "mlp:1", "--port", "0", "--api-key", "auto")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("is Healthy", p.stdout)
        d = show(ws, "mlp-svc")
        self.assertEqual(d["state"], "Healthy")
        self.assertEqual(d["models"], [{"name": "mlp", "version": 1}])
        port = d["port"]
        self.assertEqual(d["scoring_uri"], f"http://127.0.0.1:{port}/score")
        keys = ws.run("deploy", "keys", "mlp-svc").stdout.split()
        self.assertEqual(len(keys), 2)
        self.assertNotEqual(keys[0], keys[1])
        listed = json.loads(ws.run("deploy", "list", "--json").stdout)
        self.assertEqual([x["name"] for x in listed], ["mlp-svc"])
        self.assertNotIn("keys", listed[0])  # keys only through `pier deploy keys`

        # 2. score (both keys work, no key is refused)
        for k in keys:
            status, out = score(port, key=k)
            self.assertEqual(status, 200, out)
            self.assertTrue(close(out["result"], ws.expected[1]), out)
        self.assertEqual(score(port)[0], 401)

        # 3. kill the server: it comes back. The supervisor holds the socket,
        # so a request sent while no server runs waits and is answered.
        old = d["servers"][0]["pid"]
        os.kill(old, signal.SIGKILL)
        self.assertTrue(wait_for(lambda: not alive(old), timeout=10))
        status, out = score(port, key=keys[0])
        self.assertEqual(status, 200, out)
        d = wait_for(lambda: (lambda x: x if x["servers"] and x["servers"][0]["pid"] != old and
                              x["servers"][0]["ready"] else None)(show(ws, "mlp-svc")))
        self.assertTrue(d, "no new server")
        self.assertEqual(d["state"], "Healthy")
        self.assertEqual(d["restarts"], 1)
        self.assertFalse(alive(old))
        self.assertIn(f"server pid {old} was killed by signal 9", ws.run("deploy", "logs", "mlp-svc").stdout)

        # 4. update to version 2 under continuous load: no request fails.
        with Load(port, keys[0], ws.expected) as load:
            time.sleep(1.0)
            before = dict(load.ok)
            p = ws.run("deploy", "update", "mlp-svc", "--model", "mlp:2", check=False)
            time.sleep(1.5)
        self.assertEqual(p.returncode, 0, p.stderr)
        print(f"\nload during the update: {load.ok[1]} answers from version 1, {load.ok[2]} from version 2, "
              f"{len(load.failures)} failed", flush=True)
        self.assertEqual(load.failures, [], "failed requests during the update")
        self.assertGreater(before[1], 20, "the load did not run before the update")
        self.assertGreater(load.ok[2], 20, "version 2 was not served")
        self.assertEqual(set(load.last.values()), {2}, "a client still gets version 1 after the update")
        d = show(ws, "mlp-svc")
        self.assertEqual((d["state"], d["models"], d["generation"]), ("Healthy", [{"name": "mlp", "version": 2}], 2))
        self.assertEqual(len(d["servers"]), 1)
        status, out = score(port, key=keys[0])
        self.assertTrue(close(out["result"], ws.expected[2]), out)
        # Version 1 is no longer deployed: it may be deleted now; version 2 may not.
        p = ws.run("model", "delete", "mlp:2", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn('served by the deployment "mlp-svc"', p.stderr)

        # 5. delete: the port is free and nothing is left running.
        pids = [d["supervisor_pid"]] + [s["pid"] for s in d["servers"]]
        p = ws.run("deploy", "delete", "mlp-svc")
        self.created.remove("mlp-svc")
        self.assertIn("deleted deployment mlp-svc", p.stdout)
        for pid in pids:
            self.assertFalse(alive(pid), f"pid {pid} still runs")
        self.assertEqual(processes_of(ws.dir), [])
        self.assertTrue(port_free(port), "the port is still taken")
        self.assertEqual(json.loads(ws.run("deploy", "list", "--json").stdout), [])
        self.assertFalse(os.path.exists(os.path.join(ws.dir, "pier-workspace", "deployments", "mlp-svc")))
        ws.run("model", "delete", "mlp:2")  # no longer served
        self.assertIn("ok:", ws.run("workspace", "check").stdout)

    def test_replicas_and_a_dead_supervisor(self):
        ws = self.ws
        port = free_port()
        p = self.create("two", "--model", "mlp", "--port", str(port), "--replicas", "2")
        self.assertEqual(p.returncode, 0, p.stderr)
        d = show(ws, "two")
        self.assertEqual(d["models"], [{"name": "mlp", "version": 2}])  # NAME: the latest version
        self.assertEqual(len(d["servers"]), 2)
        self.assertTrue(all(s["ready"] for s in d["servers"]))
        self.assertEqual(score(port)[0], 200)  # no keys
        # Both replicas answer on the one port: kill one, the other serves.
        os.kill(d["servers"][0]["pid"], signal.SIGKILL)
        self.assertTrue(wait_for(lambda: not alive(d["servers"][0]["pid"]), timeout=10))
        for _ in range(20):
            self.assertEqual(score(port)[0], 200)
        d2 = wait_for(lambda: (lambda x: x if len(x["servers"]) == 2 and all(s["ready"] for s in x["servers"])
                               and x["restarts"] == 1 else None)(show(ws, "two")))
        self.assertTrue(d2)
        # Update with replicas 1 and keys.
        ws.run("deploy", "update", "two", "--model", "mlp:1", "--replicas", "1", "--api-key", "k1", "--api-key", "k2")
        d3 = show(ws, "two")
        self.assertEqual((len(d3["servers"]), d3["models"][0]["version"], d3["auth"]), (1, 1, True))
        self.assertEqual(score(port)[0], 401)
        self.assertEqual(score(port, key="k2")[0], 200)
        # A supervisor killed with SIGKILL takes its servers with it.
        servers = [s["pid"] for s in d3["servers"]]
        os.kill(d3["supervisor_pid"], signal.SIGKILL)
        self.assertTrue(wait_for(lambda: not any(alive(p) for p in servers), timeout=10), "servers outlived the supervisor")
        d4 = show(ws, "two")
        self.assertEqual(d4["state"], "Failed")
        self.assertIn("supervisor is not running", d4["error"])
        p = ws.run("deploy", "update", "two", "--model", "mlp:2", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no running supervisor", p.stderr)
        ws.run("deploy", "delete", "two")
        self.created.remove("two")
        self.assertTrue(port_free(port))

    def test_a_deployment_that_cannot_start_fails_cleanly(self):
        ws = self.ws
        rec = json.loads(ws.run("model", "show", "mlp:1", "--json").stdout)
        blob = os.path.join(ws.dir, "pier-workspace", "blobs", "sha256", rec["sha256"][:2], rec["sha256"][2:])
        with open(blob, "rb") as f:
            good = f.read()
        os.chmod(blob, 0o644)
        with open(blob, "r+b") as f:  # damage the stored model
            f.seek(len(good) // 2)
            f.write(b"\xff\xff\xff\xff")
        try:
            port = free_port()
            p = self.create("broken", "--model", "mlp:1", "--port", str(port))
            self.assertEqual(p.returncode, 1)
            self.assertIn("deployment broken Failed", p.stderr)
            self.assertIn("sha256", p.stderr)  # the server's own error, from the log
            d = show(ws, "broken")
            self.assertEqual((d["state"], d["servers"]), ("Failed", []))
            self.assertTrue(wait_for(lambda: port_free(port), timeout=10))
            # An update to a good version cannot start without a supervisor.
            self.assertEqual(ws.run("deploy", "update", "broken", "--model", "mlp:2", check=False).returncode, 1)
        finally:
            with open(blob, "wb") as f:
                f.write(good)
        ws.run("deploy", "delete", "broken")
        self.created.remove("broken")
        self.assertIn("ok:", ws.run("workspace", "check").stdout)

    def test_a_failed_update_keeps_the_old_version_serving(self):
        ws = self.ws
        p = self.create("keep", "--model", "mlp:1", "--port", "0")
        self.assertEqual(p.returncode, 0, p.stderr)
        port = show(ws, "keep")["port"]
        rec = json.loads(ws.run("model", "show", "mlp:2", "--json").stdout)
        blob = os.path.join(ws.dir, "pier-workspace", "blobs", "sha256", rec["sha256"][:2], rec["sha256"][2:])
        os.rename(blob, blob + ".away")  # version 2 cannot be loaded
        try:
            p = ws.run("deploy", "update", "keep", "--model", "mlp:2", check=False)
            self.assertEqual(p.returncode, 1)
            self.assertIn("update to generation 2 failed", p.stderr)
            self.assertIn("still serves mlp:1", p.stderr)
        finally:
            os.rename(blob + ".away", blob)
        d = show(ws, "keep")
        self.assertEqual((d["state"], d["models"][0]["version"], d["generation"]), ("Healthy", 1, 1))
        status, out = score(port)
        self.assertTrue(close(out["result"], ws.expected[1]))
        ws.run("deploy", "update", "keep", "--model", "mlp:2")  # works once the file is back
        self.assertTrue(close(score(port)[1]["result"], ws.expected[2]))

    def test_bad_inputs(self):
        ws = self.ws
        taken = free_port()
        import socket
        blocker = socket.socket()
        blocker.bind(("127.0.0.1", taken))
        blocker.listen()
        try:
            cases = [
                (["deploy", "create", "x1", "--model", "nope"], 1, 'no model named "nope"'),
                (["deploy", "create", "x1", "--model", "mlp:9"], 1, "has no version 9"),
                (["deploy", "create", "x1", "--model", "bad name"], 2, "invalid"),
                (["deploy", "create", "Bad_Name", "--model", "mlp"], 2, "invalid deployment name"),
                (["deploy", "create", "-x", "--model", "mlp"], 2, ""),
                (["deploy", "create", "x1", "--model", "mlp", "--port", str(taken)], 1, f"port {taken} on 127.0.0.1 is in use"),
                (["deploy", "create", "x1", "--model", "mlp", "--port", "70000"], 2, "--port"),
                (["deploy", "create", "x1", "--model", "mlp", "--replicas", "0"], 2, "--replicas"),
                (["deploy", "create", "x1", "--model", "mlp", "--host", "example.com"], 2, "not an IPv4 or IPv6 address"),
                (["deploy", "create", "x1", "--model", "mlp", "--host", "10.255.255.1"], 2, "not an address of this machine"),
                (["deploy", "create", "x1", "--model", "mlp", "--api-key", "a b"], 2, "API key"),
                (["deploy", "create", "x1", "--model", "mlp", "--model", "mlp:2"], 2, "named twice"),
                (["deploy", "show", "nope"], 1, 'no deployment named "nope"'),
                (["deploy", "update", "nope", "--model", "mlp"], 1, 'no deployment named "nope"'),
                (["deploy", "delete", "nope"], 1, 'no deployment named "nope"'),
                (["deploy", "logs", "nope"], 1, 'no deployment named "nope"'),
                (["deploy", "keys", "nope"], 1, 'no deployment named "nope"'),
            ]
            for args, code, msg in cases:
                p = ws.run(*args, check=False)
                self.assertEqual(p.returncode, code, f"{args}: {p.stderr}")
                self.assertIn(msg, p.stderr, args)
                self.assertNotIn("terminate", p.stderr)
            self.assertEqual(json.loads(ws.run("deploy", "list", "--json").stdout), [])
            # A name in use.
            self.assertEqual(self.create("dup", "--model", "mlp", "--port", "0").returncode, 0)
            p = ws.run("deploy", "create", "dup", "--model", "mlp", "--port", "0", check=False)
            self.assertEqual(p.returncode, 1)
            self.assertIn('a deployment named "dup" exists already', p.stderr)
            self.assertEqual(len(json.loads(ws.run("deploy", "list", "--json").stdout)), 1)
            p = ws.run("deploy", "keys", "dup", check=False)
            self.assertIn("has no API keys", p.stderr)
            p = ws.run("model", "delete", "mlp", check=False)
            self.assertEqual(p.returncode, 1)
            self.assertIn('served by the deployment "dup"', p.stderr)
        finally:
            blocker.close()
        self.assertIn("ok:", ws.run("workspace", "check").stdout)

    def test_a_record_left_by_an_interrupted_create(self):
        """`pier deploy create` records the deployment, then spawns its
        supervisor; killed in between, it leaves a Creating record with no
        supervisor. Such a record is Failed once create's wait for the
        supervisor is long past (not Creating forever), and can be deleted."""
        ws = self.ws
        self.assertEqual(self.create("real", "--model", "mlp:1", "--port", "0").returncode, 0)
        db = os.path.join(ws.dir, "pier-workspace", "registry.db")
        c = sqlite3.connect(db)
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        for name, created in (("stale", "2020-01-01T00:00:00.000Z"), ("fresh", now)):
            c.execute("INSERT INTO deployments(name, state, host, port, generation, target_generation, spec, target_spec, "
                      "created, updated) SELECT ?, 'Creating', host, port, 1, 1, spec, target_spec, ?, ? "
                      "FROM deployments WHERE name = 'real'", (name, created, created))
            c.execute("INSERT INTO deployment_models SELECT ?, generation, position, name, version FROM deployment_models "
                      "WHERE deployment = 'real'", (name,))
        c.commit()
        c.close()
        self.created += ["stale", "fresh"]
        d = show(ws, "stale")
        self.assertEqual(d["state"], "Failed")
        self.assertIn("supervisor was never started", d["error"])
        self.assertEqual(show(ws, "fresh")["state"], "Creating")  # its create may still be starting it
        states = {x["name"]: x["state"] for x in json.loads(ws.run("deploy", "list", "--json").stdout)}
        self.assertEqual(states, {"real": "Healthy", "stale": "Failed", "fresh": "Creating"})
        p = ws.run("deploy", "update", "stale", "--model", "mlp:2", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no running supervisor", p.stderr)
        for name in ("stale", "fresh"):
            ws.run("deploy", "delete", name)
            self.created.remove(name)
        self.assertEqual(show(ws, "real")["state"], "Healthy")
        self.assertEqual(score(show(ws, "real")["port"])[0], 200)

    def test_a_workspace_from_before_deployments_is_migrated(self):
        ws = self.ws
        db = os.path.join(ws.dir, "pier-workspace", "registry.db")
        c = sqlite3.connect(db)
        c.executescript("DROP TABLE deployment_models; DROP TABLE deployments; PRAGMA user_version = 1;")
        c.close()
        self.assertIn("mlp", ws.run("model", "list").stdout)  # opens and migrates
        c = sqlite3.connect(db)
        self.assertEqual(c.execute("PRAGMA user_version").fetchone()[0], 2)
        tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        c.close()
        self.assertTrue({"deployments", "deployment_models", "models", "versions"} <= tables)
        self.assertEqual(self.create("after", "--model", "mlp", "--port", "0").returncode, 0)
        self.assertIn("ok:", ws.run("workspace", "check").stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
