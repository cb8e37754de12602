"""Kills a process with SIGKILL at a chosen moment of a trainer's run, for faults.sh.

  fault_kill.py RUN_DIR step STEP (daemon PID | trainer)
      as soon as RUN_DIR/events.jsonl holds a progress event of step >= STEP
  fault_kill.py RUN_DIR checkpoint STEP (state | weights | renamed) (daemon PID | trainer)
      as soon as the trainer creates the temporary file of a checkpoint of step >= STEP:
      step-N.state.tmp.<pid> (the state file, written first) or step-N.safetensors.tmp.<pid>
      (the weights, written once the state file is in place) — core/base/fileio.c's
      file_write_atomic names it so and renames it into place once written and fsynced —
      or ("renamed") as soon as step-N.safetensors is renamed into place, before the trainer
      has hashed it and written its checkpoint event (core/train/train.c's write_checkpoint).

"trainer" kills the simmim-train of RUN_DIR (for a checkpoint moment, the pid the temporary
file names: the writer itself); "daemon PID" kills that process. The moment is watched with
inotify (checkpoints) or by reading events.jsonl every millisecond (steps), so that the kill
lands within a fraction of a millisecond of it.

Prints one JSON line: what was killed, the last progress step in events.jsonl at the kill, and
for a checkpoint moment the file and whether the kill interrupted its write ("interrupted":
the temporary file is still there 0.2 s later and the file it was for is not, which only a
writer that died between creating and renaming it leaves behind; for "renamed", no
checkpoint event of that step in events.jsonl, the trainer being dead). Exits 1 if the moment never
came (the run finished first) within TIMEOUT seconds (env FAULT_KILL_TIMEOUT, default 120).
"""
import ctypes
import json
import os
import re
import select
import signal
import struct
import sys
import time

IN_CREATE = 0x100
IN_MOVED_TO = 0x80


def trainer_pid(run_dir):
    want = os.path.realpath(run_dir).encode()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"simmim-train") and "--run-dir" in [a.decode(errors="replace") for a in argv]:
            run = argv[argv.index(b"--run-dir") + 1]
            if os.path.realpath(run) == want:
                return int(pid)
    return None


class Events:
    """Follows events.jsonl: the newest progress step, and whether a done event came."""

    def __init__(self, run_dir):
        self.path = os.path.join(run_dir, "events.jsonl")
        self.pos = 0
        self.buf = b""
        self.step = 0
        self.done = False
        self.checkpoints = set()

    def poll(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except FileNotFoundError:
            return
        self.pos += len(data)
        self.buf += data
        *lines, self.buf = self.buf.split(b"\n")
        for line in lines:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("event") == "progress":
                self.step = max(self.step, ev.get("step", 0))
            elif ev.get("event") == "checkpoint":
                self.checkpoints.add(ev.get("step"))
            elif ev.get("event") == "done":
                self.done = True


def kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
        return True
    except ProcessLookupError:
        return False


def at_step(run_dir, step, target, deadline):
    events = Events(run_dir)
    while time.time() < deadline:
        events.poll()
        if events.step >= step:
            pid = target if target else trainer_pid(run_dir)
            killed = pid is not None and kill(pid)
            return {"moment": f"step {step}", "pid": pid, "killed": killed, "step_seen": events.step}
        if events.done:
            break
        time.sleep(0.001)
    return None


def at_checkpoint(run_dir, step, which, target, deadline):
    ckpt = os.path.join(run_dir, "checkpoints")
    while not os.path.isdir(ckpt) and time.time() < deadline:
        time.sleep(0.01)
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    if fd < 0 or libc.inotify_add_watch(fd, ckpt.encode(), IN_CREATE | IN_MOVED_TO) < 0:
        raise OSError(ctypes.get_errno(), "inotify on " + ckpt)
    if which == "renamed":
        name_re = re.compile(r"step-(\d+)\.safetensors()$")
    else:
        ext = "state" if which == "state" else "safetensors"
        name_re = re.compile(rf"step-(\d+)\.{ext}\.tmp\.(\d+)$")
    tmp_re = re.compile(r".*\.tmp\.(\d+)$")
    writer = None  # the pid the newest temporary file names: the trainer
    events = Events(run_dir)
    while time.time() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            events.poll()
            if events.done:
                break
            continue
        data = os.read(fd, 65536)
        off = 0
        while off < len(data):
            _, _, _, length = struct.unpack_from("iIII", data, off)
            name = data[off + 16:off + 16 + length].rstrip(b"\0").decode()
            off += 16 + length
            t = tmp_re.match(name)
            if t:
                writer = int(t.group(1))
            m = name_re.match(name)
            if not m or int(m.group(1)) < step:
                continue
            pid = target if target else (int(m.group(2)) if m.group(2) else writer)
            killed = pid is not None and kill(pid)
            time.sleep(0.2)
            events.poll()
            path = os.path.join(ckpt, name)
            if which == "renamed":
                interrupted = int(m.group(1)) not in events.checkpoints
                moment = f"checkpoint renamed into place, step {m.group(1)}"
            else:
                interrupted = os.path.exists(path) and not os.path.exists(path[:path.rindex(".tmp.")])
                moment = f"checkpoint {which} write, step {m.group(1)}"
            return {"moment": moment, "pid": pid, "killed": killed, "step_seen": events.step,
                    "file": name, "interrupted": interrupted}
    return None


def main():
    argv = sys.argv[1:]
    run_dir, mode = argv[0], argv[1]
    deadline = time.time() + float(os.environ.get("FAULT_KILL_TIMEOUT", "120"))
    if mode == "step":
        step, rest = int(argv[2]), argv[3:]
    else:
        step, which, rest = int(argv[2]), argv[3], argv[4:]
    target = int(rest[1]) if rest[0] == "daemon" else None
    if mode == "step":
        result = at_step(run_dir, step, target, deadline)
    else:
        result = at_checkpoint(run_dir, step, which, target, deadline)
    if result is None:
        print(json.dumps({"moment": f"{mode} {step}", "killed": False, "missed": True}))
        return 1
    result["target"] = rest[0]
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
