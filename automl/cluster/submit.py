"""Submit AutoML jobs to a Ray cluster through the Ray Jobs API, and follow them.

The job runs `automl run` on the cluster. Its runtime environment carries the spec and,
when they are small, the local data files it names; larger data must be at a URI the
cluster reads (s3://, gs://, hdfs://). The run directory is the spec's `output`, which
must outlive the job's working directory: an absolute path the cluster can write.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from automl.errors import AutoMLError, SpecError
from automl.spec import JobSpec

MAX_UPLOAD_BYTES = 50 * 2**20  # Ray's working_dir upload limit is larger; keep jobs light


class ClusterError(AutoMLError):
    """The cluster cannot be reached, refused us, or does not know the job."""


def _client(address: str) -> Any:
    _send_token_when_there_is_one()  # before Ray is imported: it reads the mode once
    from ray.exceptions import AuthenticationError
    from ray.job_submission import JobSubmissionClient

    try:
        return JobSubmissionClient(address)
    except AuthenticationError as exc:
        raise ClusterError(f"the cluster at {address} refused our token: {_first_line(exc)}") from None
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ClusterError(f"cannot reach the Ray Jobs API at {address}: {_first_line(exc)}") from None


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
                entrypoint="python -m automl.cli run job.yaml --quiet",
                submission_id=job_id,
                runtime_env={"working_dir": str(staging)},
                metadata={"automl_spec": spec.name, "output": str(spec.output)},
            )
        except RuntimeError as exc:
            raise ClusterError(f"the cluster refused the job: {_first_line(exc)}") from None
        return job_id
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def status(job_id: str, address: str) -> tuple[str, str | None]:
    """The job's state (PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED) and, when it failed, why."""
    client = _client(address)
    info = _call(address, job_id, "get_job_info", client=client)
    state = str(info.status).rsplit(".", 1)[-1]
    if state != "FAILED":
        return state, None
    text = str(_call(address, job_id, "get_job_logs", client=client))
    errors = [line for line in text.splitlines() if line.startswith("error: ")]  # our CLI's one-line errors
    return state, (errors[-1] if errors else _first_line(Exception(info.message or "no reason given")))


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
        raise ClusterError(f"the cluster at {address} refused our token: {_first_line(exc)}") from None
    except RuntimeError as exc:
        text = str(exc)
        if "404" in text or "does not exist" in text or "not found" in text.lower():
            raise ClusterError(f"no job {job_id!r} on the cluster at {address}") from None
        raise ClusterError(f"{method.replace('_', ' ')} failed: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0][:300] if lines else type(exc).__name__
