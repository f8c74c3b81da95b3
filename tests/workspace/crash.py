#!/usr/bin/python3
"""Crash safety: `pier model register` is killed with SIGKILL at each of
its steps (PIER_CRASH_AT fault injection), then at random moments in a loop,
and `pier workspace check` stays clean after every kill. Each register is either fully there (its record, tags and intact
blob) or absent; `gc` then removes what the killed ones left behind.

A few deletes are killed the same way. Environment: PIER (the binary),
ROUNDS (default 40), SEED.
"""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

PIER = os.environ["PIER"]
ROUNDS = int(os.environ.get("ROUNDS", "40"))
SEED = int(os.environ.get("SEED", str(int(time.time()))))
HERE = os.path.dirname(os.path.abspath(__file__))


def pier(*args, check=True):
    r = subprocess.run([PIER, *args], capture_output=True, text=True)
    if check and r.returncode != 0:
        sys.exit(f"FAIL: pier {' '.join(args)} exited {r.returncode}: {r.stderr}")
    return r


def check_clean(label):
    r = pier("workspace", "check", "--json", check=False)
    try:
        report = json.loads(r.stdout)
    except ValueError:
        sys.exit(f"FAIL ({label}): check printed no JSON: {r.stdout} {r.stderr}")
    if r.returncode != 0 or not report["ok"]:
        sys.exit(f"FAIL ({label}): workspace check failed: {json.dumps(report, indent=1)}")
    return report


def versions():
    return {(m["name"], m["version"]): m for m in json.loads(pier("model", "list", "--json").stdout)}


def killed_run(args, delay):
    """Starts pier, kills it with SIGKILL after `delay` seconds unless it has
    finished; returns (finished, returncode)."""
    p = subprocess.Popen([PIER, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        p.wait(timeout=delay)
        return True, p.returncode
    except subprocess.TimeoutExpired:
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        return False, -9


def main():
    rng = random.Random(SEED)
    print(f"seed {SEED}, {ROUNDS} rounds")
    tmp = tempfile.mkdtemp(prefix="pier_ws_crash_")
    try:
        models = os.path.join(tmp, "models")
        subprocess.run(["/usr/bin/python3", os.path.join(HERE, "make_models.py"), models], check=True)
        # Variants of the big model, so that kills also land while new blobs
        # are written (the same content is stored only once).
        big = open(os.path.join(models, "big.onnx"), "rb").read()
        variants = []
        for k in range(3):
            path = os.path.join(models, f"big{k}.onnx")
            with open(path, "wb") as f:
                mid = len(big) // 2  # inside the 16 MB of weight data
                f.write(big[:mid] + bytes([k + 1]) * 8 + big[mid + 8:])
            variants.append(path)
        variants.append(os.path.join(models, "add.onnx"))
        os.environ["PIER_WORKSPACE"] = os.path.join(tmp, "ws")
        pier("workspace", "init", os.environ["PIER_WORKSPACE"], "--no-config")

        # How long an uninterrupted register takes, to spread the kills over it.
        t0 = time.monotonic()
        pier("model", "register", variants[0], "--name", "crash", "--tag", "round=timing")
        full = time.monotonic() - t0
        print(f"an uninterrupted register of the 16 MB model takes {full * 1000:.0f} ms")

        # Deterministic kills at each step (PIER_CRASH_AT, see registry.cc),
        # with new content each time so that every step does real work.
        points = [("staged", False), ("validated", False), ("blob-stored", False), ("before-commit", False),
                  ("committed", True)]
        for k, (point, present) in enumerate(points):
            before = versions()
            r = subprocess.run([PIER, "model", "register", variants[1 + k % 2], "--name", f"point-{point}"],
                               env={**os.environ, "PIER_CRASH_AT": point}, capture_output=True)
            if r.returncode != -signal.SIGKILL:
                sys.exit(f"FAIL: the register did not die at {point}: {r.returncode} {r.stderr}")
            report = check_clean(f"killed at {point}")
            new = set(versions()) - set(before)
            if bool(new) != present:
                sys.exit(f"FAIL: killed at {point}: the version is {'there' if new else 'absent'}")
            print(f"killed at {point:13s} -> {'committed' if new else 'absent'}; info: {report['info']}")
            if point == "blob-stored" and not any("orphan blob" in i for i in report["info"]):
                sys.exit("FAIL: a kill after storing the blob should leave an orphan blob")
            pier("workspace", "gc")
        pier("model", "delete", "point-committed")
        subprocess.run([PIER, "model", "register", variants[0], "--name", "point-delete"], check=True,
                       capture_output=True)
        r = subprocess.run([PIER, "model", "delete", "point-delete"], env={**os.environ, "PIER_CRASH_AT": "rows-deleted"},
                           capture_output=True)
        if r.returncode != -signal.SIGKILL:
            sys.exit(f"FAIL: the delete did not die at rows-deleted: {r.returncode}")
        check_clean("delete killed between the rows and the blobs")
        pier("workspace", "gc")

        outcomes = {"committed": 0, "absent": 0}
        for i in range(ROUNDS):
            before = versions()
            model = rng.choice(variants)
            delay = rng.uniform(0.0, full * 1.3)
            finished, rc = killed_run(["model", "register", model, "--name", "crash", "--tag", f"round={i}"], delay)
            if finished and rc != 0:
                sys.exit(f"FAIL: round {i}: an unkilled register failed with {rc}")
            report = check_clean(f"round {i}, killed after {delay * 1000:.0f} ms")
            after = versions()
            new = set(after) - set(before)
            if set(before) - set(after):
                sys.exit(f"FAIL: round {i}: versions vanished: {set(before) - set(after)}")
            if len(new) > 1:
                sys.exit(f"FAIL: round {i}: one register made {len(new)} versions")
            if new:
                rec = after[next(iter(new))]
                if rec["tags"] != {"round": str(i)} or rec["size"] != os.path.getsize(model):
                    sys.exit(f"FAIL: round {i}: partial record {rec}")
                out = os.path.join(tmp, "download.onnx")
                pier("model", "download", f"crash:{rec['version']}", "-o", out)
                if open(out, "rb").read() != open(model, "rb").read():
                    sys.exit(f"FAIL: round {i}: the stored model differs from the registered one")
                outcomes["committed"] += 1
            else:
                outcomes["absent"] += 1
            if finished and not new:
                sys.exit(f"FAIL: round {i}: a register that finished (exit {rc}) left no version: {before.keys()} {after.keys()}")
            # Now and then kill a delete, too.
            if after and rng.random() < 0.25:
                name, version = rng.choice(sorted(after))
                killed_run(["model", "delete", f"{name}:{version}"], rng.uniform(0.0, 0.05))
                check_clean(f"round {i}, killed delete")
            print(f"round {i:2d}: killed after {delay * 1000:4.0f} ms -> "
                  f"{'committed' if after.keys() - before.keys() else 'absent'}; info lines: {len(report['info'])}")

        print(f"outcomes: {outcomes}")
        gc = json.loads(pier("workspace", "gc", "--json").stdout)
        print(f"gc removed {len(gc['blobs_removed'])} orphan blobs and {len(gc['staging_removed'])} leftovers")
        report = check_clean("after gc")
        if report["info"]:
            sys.exit(f"FAIL: gc left: {report['info']}")
        print(f"PASS: {ROUNDS} killed registers, the workspace stayed consistent")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
