#!/usr/bin/env python3
"""A test double of the SLURM commands the Snakemake SLURM executor plugin calls, for machines without SLURM.

Put this folder first on PATH: ``sbatch``, ``squeue``, ``sacct``, ``sinfo``, ``srun``, ``scancel``, ``scontrol``,
``sacctmgr`` and ``sshare`` here are links to this one script, which acts as the command it was called as
(standard library only, so any ``python3`` runs it).

* ``sbatch`` appends one JSON line per call to ``$SLURMDOUBLE_DIR/sbatch.jsonl`` (``jobid``, ``argv`` verbatim,
  the ``options`` as it read them, ``cwd``) before anything else, so every request is on record, refused or not.
  It refuses what a cluster refuses when told what the cluster has: an account not in ``SLURMDOUBLE_ACCOUNTS``,
  a partition not in ``SLURMDOUBLE_PARTITIONS`` or more GPUs than its nodes have. Otherwise it prints a job id
  and runs the job script (``--wrap``, or a script file, ``/dev/stdin`` included) in the background, in the
  ``-D`` folder, output to ``--output`` (``%j`` = the job id), with the environment exported and the ``SLURM_*``
  variables SLURM sets. At most ``SLURMDOUBLE_SLOTS`` jobs run at once (default: the CPU count); the others
  stay PENDING, as on a full cluster. The ``-t`` limit is enforced (TIMEOUT).
* ``sacct`` and ``squeue`` report each job's state from ``$SLURMDOUBLE_DIR/jobs/<id>.json`` (PENDING, RUNNING,
  COMPLETED, FAILED for a non-zero exit status, TIMEOUT, CANCELLED, and NODE_FAIL when its process died without
  a word) in the format asked for (``sacct --parsable2 --format=JobIdRaw,State``, ``squeue --format=%i|%T``).
  The plugin fails the Snakemake job of a FAILED, TIMEOUT, CANCELLED or NODE_FAIL one.
* ``srun`` (run inside each job by the slurm-jobstep executor) appends its argv to ``srun.jsonl`` and becomes its
  command: there is one node, this machine.
* ``sinfo`` lists the partitions, ``scancel`` stops jobs, ``scontrol show config`` gives the array size limit,
  ``sacctmgr`` and ``sshare`` list the accounts the plugin checks ``-A`` against.

Environment: ``SLURMDOUBLE_DIR`` (state and records; default ``.snakemake/slurm_double`` in the current folder,
made absolute and passed on to jobs), ``SLURMDOUBLE_SLOTS``, ``SLURMDOUBLE_ACCOUNTS`` (e.g. ``myaccount``) and
``SLURMDOUBLE_PARTITIONS`` (e.g. ``cpu,gpu:4``, a name and its GPUs per node; the first is the default). They do
not start with ``SLURM_``: the jobstep executor removes such variables before it calls srun.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FINAL_STATES = {"COMPLETED", "FAILED", "TIMEOUT", "CANCELLED", "NODE_FAIL"}


def state_dir() -> Path:
    folder = Path(os.environ.get("SLURMDOUBLE_DIR") or ".snakemake/slurm_double").absolute()
    (folder / "jobs").mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def locked(path: Path) -> Iterator[int]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)


def append_record(path: Path, record: dict) -> None:
    with locked(path.with_name(path.name + ".lock")), open(path, "a") as log:
        log.write(json.dumps(record) + "\n")


def write_state(job: dict) -> None:
    path = state_dir() / "jobs" / f"{job['jobid']}.json"
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(job))
    tmp.replace(path)  # atomic: sacct never reads half a file


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def read_jobs() -> list[dict]:
    jobs = []
    for path in (state_dir() / "jobs").glob("*.json"):
        try:
            job = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # replaced while being read: the next poll sees it
        if job["state"] in ("PENDING", "RUNNING") and job.get("pid") and not alive(job["pid"]):
            job["state"] = "NODE_FAIL"  # its runner died without a word (killed, machine restarted)
        jobs.append(job)
    return sorted(jobs, key=lambda job: int(job["jobid"]))


def next_jobid() -> str:
    counter = state_dir() / "next_jobid"
    with locked(counter.with_name("next_jobid.lock")):
        jobid = int(counter.read_text()) if counter.exists() else 1000
        counter.write_text(str(jobid + 1))
    return str(jobid)


def fail(command: str, message: str) -> int:
    print(f"{command}: error: {message}", file=sys.stderr)
    return 1


def parse_options(argv: list[str], flags: set[str], stop_at_positional: bool) -> tuple[dict[str, list[str]], list[str]]:
    """Options as getopt sees them: ``--name=value``, ``--name value``, ``-xvalue``, ``-x value`` and bundled
    one-letter flags (``-nu user``). ``flags`` are the options that take no value. With ``stop_at_positional``
    (sbatch, srun), the first non-option and everything after it are the command."""
    options: dict[str, list[str]] = {}
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest.extend(argv[i + 1 :])
            break
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            if not eq and name not in flags:
                i += 1
                value = argv[i] if i < len(argv) else ""
            options.setdefault(name, []).append(value)
        elif arg.startswith("-") and len(arg) > 1:
            letters = arg[1:]
            while letters:
                letter, letters = letters[0], letters[1:]
                if letter in flags:
                    options.setdefault(letter, []).append("")
                    continue
                if not letters:
                    i += 1
                    letters = argv[i] if i < len(argv) else ""
                options.setdefault(letter, []).append(letters)
                break
        elif stop_at_positional:
            rest.extend(argv[i:])
            break
        else:
            rest.append(arg)
        i += 1
    return options, rest


def last(options: dict[str, list[str]], *names: str) -> str | None:
    for name in names:
        if name in options:
            return options[name][-1]
    return None


def minutes(limit: str) -> float:
    """SLURM's time formats: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S."""
    days, _, clock = limit.rpartition("-")
    parts = [float(p) for p in clock.split(":")]
    if days:
        parts += [0.0] * (3 - len(parts))
        h, m, s = parts
        return float(days) * 1440 + h * 60 + m + s / 60
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        return parts[0] + parts[1] / 60
    return parts[0] * 60 + parts[1] + parts[2] / 60


def gpu_count(gpus: str | None, gres: str | None) -> int:
    """GPUs asked for: ``--gpus`` (``2``, ``a100:2``) or the gpu entries of ``--gres`` (``gpu``, ``gpu:a100:2``)."""
    if gpus:
        count = gpus.split(":")[-1]
        return int(count) if count.isdigit() else 1
    total = 0
    for entry in (gres or "").split(","):
        fields = entry.split(":")
        if fields[0] == "gpu":
            total += int(fields[-1]) if len(fields) > 1 and fields[-1].isdigit() else 1
    return total


def known_partitions() -> dict[str, int] | None:
    """``SLURMDOUBLE_PARTITIONS`` as {name: GPUs per node}, in order (the first is the default)."""
    spec = os.environ.get("SLURMDOUBLE_PARTITIONS")
    if not spec:
        return None
    partitions = {}
    for item in spec.replace(" ", ",").split(","):
        if item:
            name, _, gpus = item.partition(":")
            partitions[name] = int(gpus or 0)
    return partitions


def known_accounts() -> list[str]:
    return [a for a in os.environ.get("SLURMDOUBLE_ACCOUNTS", "").replace(",", " ").split() if a]


SBATCH_FLAGS = {
    "parsable",
    "requeue",
    "no-requeue",
    "exclusive",
    "H",
    "hold",
    "Q",
    "quiet",
    "v",
    "verbose",
    "W",
    "wait",
}


def sbatch(argv: list[str]) -> int:
    folder = state_dir()
    jobid = next_jobid()
    options, command = parse_options(argv, SBATCH_FLAGS, stop_at_positional=True)
    # Recorded first, verbatim and as parsed here: tests assert on what the plugin asked for, refused or not.
    record = {"jobid": jobid, "argv": argv, "options": options, "cwd": os.getcwd(), "time": time.time()}
    append_record(folder / "sbatch.jsonl", record)
    if "array" in options or "a" in options:
        return fail("sbatch", "job arrays are not supported by this test double")
    wrap = last(options, "wrap")
    if wrap is not None and command:
        return fail("sbatch", "script arguments not permitted with --wrap option")
    if wrap is None and not command:
        return fail("sbatch", "no job script and no --wrap given")
    if wrap is not None:
        script = "#!/bin/sh\n" + wrap + "\n"
    elif command[0] in ("-", "/dev/stdin"):
        script = sys.stdin.read()
    else:
        script = Path(command[0]).read_text()
    account = last(options, "account", "A")
    accounts = known_accounts()
    if accounts and account not in accounts:
        return fail("sbatch", f"Batch job submission failed: Invalid account {account!r} (known: {accounts})")
    partitions = known_partitions()
    partition = last(options, "partition", "p")
    gpus = gpu_count(last(options, "gpus", "G"), last(options, "gres"))
    if partitions is not None:
        if partition is None:
            partition = next(iter(partitions))
        if partition not in partitions:
            return fail("sbatch", f"Batch job submission failed: invalid partition specified: {partition}")
        if gpus > partitions[partition]:
            return fail(
                "sbatch",
                f"Batch job submission failed: Requested node configuration is not available "
                f"({gpus} GPUs on partition {partition}, which has {partitions[partition]})",
            )
    workdir = Path(last(options, "chdir", "D") or os.getcwd())
    output = last(options, "output", "o") or f"slurm-{jobid}.out"
    output_path = workdir / output.replace("%j", jobid).replace("%x", last(options, "job-name", "J") or "")
    limit = last(options, "time", "t")
    job = {
        "jobid": jobid,
        "name": last(options, "job-name", "J") or "sbatch",
        "account": account or "",
        "partition": partition or "",
        "state": "PENDING",
        "exit_code": None,
        "pid": None,
        "output": str(output_path),
        "time_limit_min": minutes(limit) if limit else None,
        "gpus": gpus,
    }
    (folder / "jobs" / f"{jobid}.sh").write_text(script)
    write_state(job)
    env = dict(os.environ)
    env.update(
        SLURMDOUBLE_DIR=str(folder),
        SLURM_JOB_ID=jobid,
        SLURM_JOBID=jobid,
        SLURM_JOB_NAME=job["name"],
        SLURM_JOB_PARTITION=job["partition"],
        SLURM_JOB_ACCOUNT=job["account"],
        SLURM_SUBMIT_DIR=os.getcwd(),
        SLURM_JOB_NODELIST="localhost",
        SLURMD_NODENAME="localhost",
        SLURM_NTASKS=last(options, "ntasks", "n") or "1",
    )
    for option, variable in [
        (("cpus-per-task", "c"), "SLURM_CPUS_PER_TASK"),
        (("cpus-per-gpu",), "SLURM_CPUS_PER_GPU"),
        (("mem",), "SLURM_MEM_PER_NODE"),
        (("mem-per-cpu",), "SLURM_MEM_PER_CPU"),
    ]:
        if (value := last(options, *option)) is not None:
            env[variable] = value
    if gpus:
        env["SLURM_GPUS"] = str(gpus)  # set by SLURM for --gpus; the jobstep executor reads it
    sys.stdout.flush()
    if os.fork() == 0:  # the job: detached from the caller, who waits for sbatch's output to end
        try:
            run_job(job, folder / "jobs" / f"{jobid}.sh", workdir, env, output_path)
        except BaseException:  # a broken double must fail the job, not leave it RUNNING for ever
            traceback.print_exc()
            job.update(state="FAILED", exit_code=1)
            write_state(job)
        finally:
            os._exit(0)
    print(jobid if "parsable" in options else f"Submitted batch job {jobid}")
    return 0


def run_job(job: dict, script: Path, workdir: Path, env: dict, output: Path) -> None:
    os.setsid()  # its own process group, which scancel signals
    output.parent.mkdir(parents=True, exist_ok=True)
    out = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    job.update(pid=os.getpid())  # from now on scancel can stop it, pending or running
    write_state(job)
    slots = int(os.environ.get("SLURMDOUBLE_SLOTS") or os.cpu_count() or 1)
    slot = None
    while slot is None:  # PENDING until one of the node's slots is free (the lock goes with this process)
        for k in range(slots):
            fd = os.open(state_dir() / f"slot{k}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                slot = fd
                break
            except BlockingIOError:
                os.close(fd)
        if slot is None:
            time.sleep(0.2)
    if json.loads((state_dir() / "jobs" / f"{job['jobid']}.json").read_text())["state"] == "CANCELLED":
        return  # cancelled while pending
    job.update(state="RUNNING", start=time.time())
    write_state(job)
    proc = subprocess.Popen(["/bin/sh", str(script)], cwd=workdir, env=env)
    limit = job["time_limit_min"]
    try:
        code = proc.wait(timeout=limit * 60 if limit else None)
        state = "COMPLETED" if code == 0 else "FAILED"
    except subprocess.TimeoutExpired:
        print(f"slurmstepd: error: *** JOB {job['jobid']} CANCELLED DUE TO TIME LIMIT ***", flush=True)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the whole job but this process, as slurmstepd does
        os.killpg(0, signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)  # SLURM's default KillWait, then SIGKILL
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        state = "TIMEOUT"
    job.update(state=state, exit_code=code, end=time.time())
    write_state(job)


def job_field(job: dict, name: str) -> str:
    name = name.split("%")[0].lower()
    code = job.get("exit_code")
    values = {
        "jobidraw": job["jobid"],
        "jobid": job["jobid"],
        "state": job["state"],
        "jobname": job["name"],
        "account": job["account"],
        "partition": job["partition"],
        "nodelist": "localhost",
        "exitcode": f"{code if code is not None and code >= 0 else 0}:{-code if code is not None and code < 0 else 0}",
        "reason": "None",
    }
    return values.get(name, "")


SACCT_FLAGS = {
    "X",
    "allocations",
    "parsable2",
    "P",
    "parsable",
    "p",
    "noheader",
    "n",
    "a",
    "allusers",
    "D",
    "duplicates",
}


def sacct(argv: list[str]) -> int:
    options, _ = parse_options(argv, SACCT_FLAGS, stop_at_positional=False)
    fields = (last(options, "format", "o") or "JobID,JobName,Partition,Account,State,ExitCode").split(",")
    jobs = read_jobs()
    if (name := last(options, "name")) is not None:
        jobs = [job for job in jobs if job["name"] in name.split(",")]
    step = None
    if (ids := last(options, "jobs", "j")) is not None:
        wanted = {i.split(".")[0] for i in ids.split(",")}
        steps = {i.partition(".")[2] for i in ids.split(",")}
        step = steps.pop() if len(steps) == 1 else None
        jobs = [job for job in jobs if job["jobid"] in wanted]
    if step:
        # `sacct -j <id>.<step> --format=Reason`: the plugin asks this of steps 0-9 of a failed job. Step 0 is the
        # job's srun; answer there only, with the exit status and where the output went.
        if step != "0":
            return 0
        for job in jobs:
            if job["state"] in FINAL_STATES - {"COMPLETED"}:
                print(f"{job['state']}, exit status {job['exit_code']} (output: {job['output']})")
        return 0
    if any(f.split("%")[0].lower() == "account" for f in fields) and not jobs:
        jobs = [{"jobid": "0", "name": "", "account": a, "partition": "", "state": ""} for a in known_accounts()]
    separator = "|" if {"parsable2", "P", "parsable", "p"} & options.keys() else " "
    if not {"noheader", "n"} & options.keys():
        print(separator.join(f.split("%")[0] for f in fields))
    for job in jobs:
        print(separator.join(job_field(job, f) for f in fields))
    return 0


def squeue(argv: list[str]) -> int:
    options, _ = parse_options(argv, {"h", "noheader", "l", "long", "a", "all"}, stop_at_positional=False)
    template = last(options, "format", "o") or "%i|%j|%P|%T"
    jobs = read_jobs()
    if (name := last(options, "name", "n")) is not None:
        jobs = [job for job in jobs if job["name"] in name.split(",")]
    if (ids := last(options, "jobs", "j")) is not None:
        jobs = [job for job in jobs if job["jobid"] in ids.split(",")]
    states = (last(options, "states", "t") or "").lower()
    if states != "all":  # like squeue: finished jobs only with --states=all
        jobs = [job for job in jobs if job["state"] not in FINAL_STATES]
    codes = {"%i": "jobid", "%T": "state", "%j": "jobname", "%P": "partition", "%a": "account"}
    if not {"h", "noheader"} & options.keys():
        print(template.replace("%i", "JOBID").replace("%T", "STATE").replace("%j", "NAME").replace("%P", "PARTITION"))
    for job in jobs:
        line = template
        for code, field in codes.items():
            line = line.replace(code, job_field(job, field))
        print(line)
    return 0


def sinfo(argv: list[str]) -> int:
    partitions = known_partitions() or {"debug": 0}
    print("PARTITION")
    for k, name in enumerate(partitions):
        print(name + ("*" if k == 0 else ""))
    return 0


def scancel(argv: list[str]) -> int:
    options, ids = parse_options(argv, {"Q", "quiet", "v", "verbose"}, stop_at_positional=False)
    for job in read_jobs():
        if job["jobid"] in ids and job["state"] not in FINAL_STATES:
            if job.get("pid"):
                try:
                    os.killpg(job["pid"], signal.SIGTERM)
                except ProcessLookupError:
                    pass
            job["state"] = "CANCELLED"
            write_state(job)
    return 0


def scontrol(argv: list[str]) -> int:
    if argv[:2] == ["show", "config"]:
        # MaxArraySize only: the plugin sizes array jobs by it. No MinJobAge, so the plugin keeps sacct for status.
        print("Configuration data as of the SLURM test double\nClusterName             = slurm-double")
        print("MaxArraySize            = 1001")
        return 0
    return fail("scontrol", f"{' '.join(argv)!r} is not supported by this test double")


def accounts_command(argv: list[str]) -> int:
    """sacctmgr -n -s list user <user> format=account%256 / sshare -U --format Account%256 --noheader."""
    for account in known_accounts():
        print(account)
    return 0


def srun(argv: list[str]) -> int:
    flags = {"exclusive", "overlap", "pty", "overcommit", "O", "l", "label", "u", "unbuffered", "K", "X", "Q", "v"}
    options, command = parse_options(argv, flags, stop_at_positional=True)
    append_record(state_dir() / "srun.jsonl", {"jobid": os.environ.get("SLURM_JOB_ID"), "argv": argv})
    if not command:
        return fail("srun", "no command given")
    sys.stdout.flush()
    os.execvp(command[0], command)  # one node, this machine: the step is the command itself


COMMANDS = {
    "sbatch": sbatch,
    "sacct": sacct,
    "squeue": squeue,
    "sinfo": sinfo,
    "scancel": scancel,
    "scontrol": scontrol,
    "sacctmgr": accounts_command,
    "sshare": accounts_command,
    "srun": srun,
}


def main() -> int:
    command = Path(sys.argv[0]).name
    if command not in COMMANDS:
        return fail("slurm_double", f"call me as one of {sorted(COMMANDS)} (a link), not {command}")
    return COMMANDS[command](sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
