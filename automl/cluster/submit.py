"""Submit AutoML jobs to a Ray cluster through the Ray Jobs API, and follow them.

The job runs `automl run` on the cluster. Its runtime environment carries the spec and,
when they are small, the local data files it names; larger data must be at a URI the
cluster reads (s3://, gs://, hdfs://). The run directory is the spec's `output`, which
must outlive the job's working directory: an absolute path the cluster can write.

Ray runs a job's entrypoint with `/bin/sh` and the PATH the cluster was started with, so a
bare `python` there may be one that cannot import automl (a head started as
`~/venv/bin/ray start`, by a service unit, has no venv on its PATH). The entrypoint
therefore runs a small stdlib-only launcher with the job supervisor's own interpreter; it
finds the interpreter the node's Ray workers use (the raylet's `--python_worker_command`)
and runs `automl run` with it, or fails the job with one `error:` line saying how to fix
the cluster.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from automl.errors import AutoMLError, SpecError, first_line
from automl.spec import JobSpec

#: a cluster's error is quoted up to this many characters (its tracebacks run to pages)
ERROR_CHARS = 300

MAX_UPLOAD_BYTES = 50 * 2**20  # Ray's working_dir upload limit is larger; keep jobs light
LAUNCHER = "_automl_launch.py"
NO_PYTHON = "error: no Python found on the node running the job; start Ray with its environment's bin directory on PATH"
# /bin/sh, run by the job supervisor (a Ray worker, so a Python process): its interpreter
# first (on Linux), then PATH's. `-I`: the launcher needs the standard library only.
ENTRYPOINT = (
    'for py in "$(readlink /proc/$PPID/exe 2>/dev/null)" python3 python; do '
    f'if command -v "$py" >/dev/null 2>&1; then exec "$py" -I {LAUNCHER}; fi; done; '
    f'echo "{NO_PYTHON}" >&2; exit 1'
)
# Runs under any Python 3 (the supervisor's base interpreter, outside its venv, or PATH's):
# standard library only, and no newer syntax than 3.6.
LAUNCHER_SOURCE = r'''"""Run `automl run job.yaml` with the Python the cluster's Ray workers use."""
import os
import shlex
import shutil
import subprocess
import sys

ARGS = ["-m", "automl.cli", "run", "job.yaml", "--quiet"]
IMPORTS_AUTOML = "import importlib.util, sys; sys.exit(importlib.util.find_spec('automl') is None)"


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def raylets(supervisor):
    """The supervisor's raylet: named in its environment, and its parent process."""
    pids = []
    for item in read("/proc/%d/environ" % supervisor).split(b"\0"):
        if item.startswith(b"RAY_RAYLET_PID=") and item[15:].isdigit():
            pids.append(int(item[15:]))
    fields = read("/proc/%d/stat" % supervisor).rpartition(b")")[2].split()
    if len(fields) > 1 and fields[1].isdigit():
        pids.append(int(fields[1]))
    return pids


def workers_python(supervisor):
    for pid in raylets(supervisor):
        for arg in read("/proc/%d/cmdline" % pid).split(b"\0"):
            if arg.startswith(b"--python_worker_command="):
                words = shlex.split(arg.split(b"=", 1)[1].decode(errors="replace"))
                if words:
                    return words[0]
    return None


def main():
    candidates = [workers_python(os.getppid()), sys.executable, shutil.which("python3"), shutil.which("python")]
    tried = []
    for python in candidates:
        if not python or python in tried:
            continue
        tried.append(python)
        try:
            usable = subprocess.run([python, "-c", IMPORTS_AUTOML], stdin=subprocess.DEVNULL).returncode == 0
        except OSError:
            usable = False
        if usable:
            sys.stdout.flush()
            os.execv(python, [python] + ARGS)
    print(
        "error: no Python on the node running the job can import automl (tried %s); install automl in the "
        "environment Ray runs from, or start Ray with that environment's bin directory on PATH"
        % ", ".join(tried or ["none"]),
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
'''


class ClusterError(AutoMLError):
    """The cluster cannot be reached, refused us, or does not know the job."""


def _client(address: str) -> Any:
    _send_token_when_there_is_one()  # before Ray is imported: it reads the mode once
    from ray.exceptions import AuthenticationError
    from ray.job_submission import JobSubmissionClient

    try:
        return JobSubmissionClient(address)
    except AuthenticationError as exc:
        raise ClusterError(f"the cluster at {address} refused our token: {first_line(exc, ERROR_CHARS)}") from None
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ClusterError(f"cannot reach the Ray Jobs API at {address}: {first_line(exc, ERROR_CHARS)}") from None


def _send_token_when_there_is_one() -> None:
    """Ray's SDK sends the cluster token only in token mode; be in it whenever we hold one."""
    if os.environ.get("RAY_AUTH_MODE"):
        return  # the user decided
    token_file = Path(os.environ.get("RAY_AUTH_TOKEN_PATH", Path.home() / ".ray" / "auth_token"))
    if os.environ.get("RAY_AUTH_TOKEN") or token_file.is_file():
        os.environ["RAY_AUTH_MODE"] = "token"


def _staged_spec(spec_path: Path, staging: Path) -> JobSpec:
    """Copy small local data files next to the spec in `staging`; return the rewritten spec."""
    spec = JobSpec.from_yaml(spec_path)
    raw = spec.model_dump()
    if "cv_folds" not in spec.search.model_fields_set:  # unset, the job may validate on a holdout
        raw["search"].pop("cv_folds")
    for key in ("train", "test"):
        location = raw["data"].get(key)
        if not location or "://" in location:
            continue
        path = Path(location)
        if not path.is_file():
            raise SpecError(f"data.{key}: {location} is not a file here; use a URI the cluster can read")
        size = path.stat().st_size
        if size > MAX_UPLOAD_BYTES:
            raise SpecError(
                f"data.{key}: {location} is {size / 2**20:.0f} MiB, too large to upload with the job; "
                "put it at a URI the cluster can read (s3://, gs://, hdfs://)"
            )
        target = f"data_{key}{path.suffix}"
        shutil.copy(path, staging / target)
        raw["data"][key] = target
    raw["resources"]["address"] = None  # the job joins the cluster it runs on (Ray Jobs sets RAY_ADDRESS)
    output = raw.get("output")
    if not output or not ("://" in output or Path(output).is_absolute()):
        raise SpecError("output: set an absolute path or URI the cluster can write; the job's folder is temporary")
    (staging / "job.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    (staging / LAUNCHER).write_text(LAUNCHER_SOURCE)
    return JobSpec.from_dict(raw)


def submit(spec_path: str | Path, address: str) -> str:
    """Submit the job; return its id."""
    client = _client(address)
    staging = Path(tempfile.mkdtemp(prefix="automl-submit-"))
    try:
        spec = _staged_spec(Path(spec_path), staging)
        job_id = f"automl-{spec.name}-{uuid.uuid4().hex[:8]}"
        try:
            client.submit_job(
                entrypoint=ENTRYPOINT,
                submission_id=job_id,
                runtime_env={"working_dir": str(staging)},
                metadata={"automl_spec": spec.name, "output": str(spec.output)},
            )
        except RuntimeError as exc:
            raise ClusterError(f"the cluster refused the job: {first_line(exc, ERROR_CHARS)}") from None
        return job_id
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def submit_entrypoint(entrypoint: str, address: str, *, prefix: str, metadata: dict[str, str]) -> str:
    """Submit a command line as a Ray job (no working directory: it runs where the
    cluster's Python and files are, as `automl retrain` does); return its id.

    Raises:
        ClusterError: the cluster cannot be reached or refuses the job.
    """
    client = _client(address)
    job_id = f"automl-{prefix}-{uuid.uuid4().hex[:8]}"
    try:
        client.submit_job(entrypoint=entrypoint, submission_id=job_id, metadata=metadata)
    except RuntimeError as exc:
        raise ClusterError(f"the cluster refused the job: {first_line(exc, ERROR_CHARS)}") from None
    return job_id


def status(job_id: str, address: str) -> tuple[str, str | None]:
    """The job's state (PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED) and, when it failed, why."""
    client = _client(address)
    info = _call(address, job_id, "get_job_info", client=client)
    state = str(info.status).rsplit(".", 1)[-1]
    if state != "FAILED":
        return state, None
    text = str(_call(address, job_id, "get_job_logs", client=client))
    lines = [line.strip() for line in text.splitlines() if line.strip() and not _ray_says(line)]
    errors = [line for line in lines if line.startswith("error: ")]  # our CLI's and launcher's one-line errors
    if errors:
        return state, errors[-1]
    code = getattr(info, "driver_exit_code", None)
    if code is not None and lines:  # the entrypoint ran and failed: its last words say why
        return state, f"{lines[-1][:300]} (the entrypoint exited with code {code})"
    return state, first_line(info.message or "no reason given", ERROR_CHARS)


def _ray_says(line: str) -> bool:
    """Ray's own lines in a job's log: its entrypoint echo (written whenever Ray flushes it) and INFO notes."""
    return line.startswith("Running entrypoint for job ") or bool(_RAY_NOTE.match(line))


_RAY_NOTE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\s+(DEBUG|INFO)\s")


def logs(job_id: str, address: str) -> str:
    return str(_call(address, job_id, "get_job_logs"))


def follow(job_id: str, address: str, write: Callable[[str], None]) -> None:
    """Pass log chunks to `write` as they come, until the job ends."""
    import asyncio

    client = _client(address)
    _call(address, job_id, "get_job_status", client=client)  # unknown id: one clear error

    async def tail() -> None:
        async for chunk in client.tail_job_logs(job_id):
            write(chunk)

    asyncio.run(tail())


def stop(job_id: str, address: str) -> bool:
    return bool(_call(address, job_id, "stop_job"))


def _call(address: str, job_id: str, method: str, client: Any = None) -> Any:
    client = client or _client(address)  # first: it decides the auth mode before Ray is imported
    from ray.exceptions import AuthenticationError

    try:
        return getattr(client, method)(job_id)
    except AuthenticationError as exc:
        raise ClusterError(f"the cluster at {address} refused our token: {first_line(exc, ERROR_CHARS)}") from None
    except RuntimeError as exc:
        text = str(exc)
        if "404" in text or "does not exist" in text or "not found" in text.lower():
            raise ClusterError(f"no job {job_id!r} on the cluster at {address}") from None
        raise ClusterError(f"{method.replace('_', ' ')} failed: {first_line(exc, ERROR_CHARS)}") from None
