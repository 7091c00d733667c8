"""Run a command once and print what it cost, as JSON:

    python3 measure.py CMD [ARG...]
    {"wall_s": ..., "cpu_s": ..., "maxrss_kib": ..., "returncode": ..., "out_bytes": ..., "out": ...}

wall_s is the wall-clock time of the whole process; cpu_s its user + system
time and that of everything it waited for; maxrss_kib the peak resident
memory of the largest process of the tree (Linux folds the children's peak
into their parent's when they are waited for). out is the command's standard
output if it is at most 16 MiB of JSON text (else null); out_bytes its size.
Bench/status runs it inside the gateway container (python3 of the container)
and on the controller (the venv's python3).
"""

import json
import resource
import subprocess
import sys
import time


def main(argv):
    start = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = None
    if len(proc.stdout) <= 16 << 20:
        try:
            out = json.loads(proc.stdout)
        except ValueError:
            out = None
    print(json.dumps({
        "wall_s": round(wall, 4),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 4),
        "maxrss_kib": usage.ru_maxrss,
        "returncode": proc.returncode,
        "out_bytes": len(proc.stdout),
        "out": out,
        "err_tail": proc.stderr.decode("utf-8", "replace")[-2000:] if proc.returncode else "",
    }))


if __name__ == "__main__":
    main(sys.argv[1:])
