"""CPU seconds of every process of a command (Linux): the command and its descendants
(for a Spark job in local mode: the Python driver, the JVM, the Python workers), sampled
from /proc every 50 ms, each process counted at its last sample; and the reaped children's
CPU (getrusage), which misses processes whose parent does not wait for them.

    python python/bench/cpu.py [--label NAME] [--stdout FILE] [--threads] -- COMMAND...

Prints one line: label, wall seconds, CPU seconds (sampled, by process group: python
driver / java / python workers / other), getrusage's children CPU, the 1-minute load
average at the start and at the end, the command's exit code. The command's output goes to
FILE (default: nowhere). With ``--threads``, then the JVM's CPU by thread name (digits
dropped: ``C1 CompilerThread0`` and ``1`` count together), largest first: where Spark's
fixed cost goes (JIT, GC, the driver's main thread, the executor's task threads).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from typing import Dict, List, Tuple

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> Tuple[int, float, str]:
    """(parent, CPU seconds, command name) of a process."""
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK, name


def _tree(root: int) -> Dict[int, Tuple[float, str]]:
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stats[int(entry)] = _stat(int(entry))
            except (OSError, ValueError):
                pass
    inside = {root}
    changed = True
    while changed:
        changed = False
        for pid, (parent, _, _) in stats.items():
            if parent in inside and pid not in inside:
                inside.add(pid)
                changed = True
    return {pid: stats[pid][1:] for pid in inside if pid in stats}


def _threads(pid: int) -> Dict[str, float]:
    """CPU seconds of each thread of a process, by thread name with its digits dropped."""
    out: Dict[str, float] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                text = f.read()
        except OSError:
            continue
        name = "".join(c for c in text[text.index("(") + 1 : text.rindex(")")] if not c.isdigit()).strip()
        fields = text[text.rindex(")") + 2 :].split()
        key = f"{name}#{tid}"
        out[key] = (int(fields[11]) + int(fields[12])) / TICK
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--label", default="")
    parser.add_argument("--stdout", default=os.devnull)
    parser.add_argument("--threads", action="store_true", help="also the JVM's CPU by thread name")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command: List[str] = args.command[1:] if args.command[:1] == ["--"] else args.command
    load0 = os.getloadavg()[0]
    start = time.monotonic()
    out = open(args.stdout, "wb")
    proc = subprocess.Popen(command, stdout=out)
    seen: Dict[int, Tuple[float, str]] = {}
    # JVM threads (name#tid) at their last sample.
    threads: Dict[str, float] = {}
    while proc.poll() is None:
        for pid, (cpu, name) in _tree(proc.pid).items():
            if pid not in seen or cpu >= seen[pid][0]:
                seen[pid] = (cpu, name)
            if args.threads and name == "java":
                threads.update(_threads(pid))
        time.sleep(0.05)
    wall = time.monotonic() - start
    out.close()
    rusage = resource.getrusage(resource.RUSAGE_CHILDREN)
    groups: Dict[str, float] = {}
    for pid, (cpu, name) in seen.items():
        kind = "driver" if pid == proc.pid else "java" if name == "java" else "python" if name.startswith("python") else "other"
        groups[kind] = groups.get(kind, 0.0) + cpu
    total = sum(groups.values())
    parts = " ".join(f"{k}={v:.2f}" for k, v in sorted(groups.items()))
    print(
        f"{args.label}\twall={wall:.2f}s\tcpu={total:.2f}s ({parts})\t"
        f"rusage_children={rusage.ru_utime + rusage.ru_stime:.2f}s\tload={load0:.1f}->{os.getloadavg()[0]:.1f}"
        f"\texit={proc.returncode}"
    )
    if args.threads:
        by_name: Dict[str, float] = {}
        for key, cpu in threads.items():
            name = key.rsplit("#", 1)[0]
            by_name[name] = by_name.get(name, 0.0) + cpu
        ranked = sorted(by_name.items(), key=lambda kv: -kv[1])
        print("\tjava threads: " + " ".join(f"{name}={cpu:.2f}" for name, cpu in ranked if cpu >= 0.01))
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
