"""A model registry on MLflow: each saved model a version of a named model, `champion` and
`challenger` as MLflow aliases, a record of what served when.

MLflow keeps the registry (its Model Registry, in a SQLite database by default: no server
to start) and a copy of every version's artifact directory (a run's artifacts). The
registry location is `AUTOML_REGISTRY`, else `~/.automl/registry`; a location with a URI
scheme (`http://`, `sqlite:///`, `postgresql://`...) is a user's own MLflow tracking
server or database instead. Each version records its manifest's digest
(`artifacts.signing.manifest_digest`), and a version whose files no longer match it is
refused when it is resolved, as an artifact whose signature does not match is.

MLflow is imported only here and in `registry.pyfunc` (each version's `model` is an MLflow
pyfunc model holding the artifact), and only when a registry is opened.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from automl.artifacts.signing import manifest_digest
from automl.artifacts.store import read_manifest, verify
from automl.errors import ArtifactError, SpecError

REGISTRY_ENV = "AUTOML_REGISTRY"
DEFAULT_ROOT = Path("~/.automl/registry")
EXPERIMENT = "automl"
CHAMPION, CHALLENGER = "champion", "challenger"
DIGEST_TAG = "automl.manifest_sha256"
#: a registered model's tag: the champion versions before the current one, newest last
HISTORY_TAG = "automl.champion_history"
#: a registered model's tag: how its challenger is rolled out (`Rollout.as_dict()`)
ROLLOUT_TAG = "automl.rollout"
#: a version's tag set by a retrain: "true" when it beat the champion on held-out rows
BETTER_TAG = "automl.holdout_better"
ROLLOUT_MODES = ("off", "canary", "shadow")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")


@dataclass(frozen=True)
class RegisteredVersion:
    """One version of a registered model, as `automl models show` lists it."""

    name: str
    version: int
    run_id: str | None
    source: str
    digest: str | None
    aliases: list[str] = field(default_factory=list)
    created_ms: int | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class RolloutPlan:
    """What a registered model's deployment serves: its champion and, while one is rolled
    out, its challenger as a canary (a share of the requests) or a shadow."""

    name: str
    champion: int
    champion_dir: Path
    challenger: int | None = None
    challenger_dir: Path | None = None
    mode: str = "off"
    share: float = 0.0

    def describe(self) -> str:
        if self.challenger is None or self.mode == "off":
            return f"{self.name} v{self.champion}"
        share = f" {self.share:.0%}" if self.mode == "canary" else ""
        return f"{self.name} v{self.champion}, v{self.challenger} as {self.mode}{share}"


def registry_location(location: str | None = None) -> str:
    """The registry's location: `location`, else `AUTOML_REGISTRY`, else `~/.automl/registry`."""
    return location or os.environ.get(REGISTRY_ENV) or str(DEFAULT_ROOT.expanduser())


class ModelRegistry:
    """Named models and their versions in MLflow's Model Registry."""

    def __init__(self, location: str | None = None) -> None:
        import mlflow
        from mlflow import MlflowClient

        for name in ("mlflow", "alembic"):  # schema migrations and store set-up are not the user's news
            logging.getLogger(name).setLevel(logging.WARNING)
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        self.location = registry_location(location)
        if _SCHEME.match(self.location) and not self.location.startswith("file://"):
            self.uri, self.artifacts = self.location, None
        else:
            root = Path(self.location.removeprefix("file://")).expanduser().resolve()
            root.mkdir(parents=True, exist_ok=True)
            self.uri = f"sqlite:///{root / 'mlflow.db'}"  # MLflow 3 refuses a plain file store for the registry
            self.artifacts = (root / "artifacts").as_uri()
        self._mlflow = mlflow
        self.client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    # writing -------------------------------------------------------------------------
    def register(
        self,
        model_dir: str | Path,
        name: str,
        *,
        params: dict[str, Any] | None = None,
        metrics: dict[str, float] | None = None,
        files: list[Path] | None = None,
    ) -> RegisteredVersion:
        """Log `model_dir` (verified first: checksums, and the signature when a key is set)
        as an MLflow run with `params`, `metrics` and `files` (the leaderboard, the report),
        and register it as the next version of `name`. The first version becomes the
        champion; later ones are challengers until promoted.

        Raises:
            SpecError: a name MLflow would not take.
            ArtifactError: the model directory cannot be trusted.
        """
        check_name(name)
        model_dir = Path(model_dir)
        manifest = verify(model_dir)
        digest = manifest_digest(manifest)
        run_id = self._log_run(model_dir, name, manifest, params or {}, metrics or {}, files or [])
        if not self._exists(name):
            self.client.create_registered_model(name, tags={"automl.task": str(manifest.get("task"))})
        created = self.client.create_model_version(
            name, source=f"runs:/{run_id}/model", run_id=run_id,
            tags={DIGEST_TAG: digest, "automl.model_version": str(manifest.get("model_version"))},
        )  # fmt: skip
        version = int(created.version)
        alias = CHALLENGER if self._alias_version(name, CHAMPION) is not None else CHAMPION
        self.client.set_registered_model_alias(name, alias, str(version))
        if alias == CHALLENGER:  # a rollout was of the challenger before this one
            self.set_rollout(name, "off")
        return self.version(name, version)

    def promote(self, name: str, version: int | None = None, *, force: bool = False) -> RegisteredVersion:
        """Make `version` (default: the challenger) the champion; the champion it replaces
        is kept in the history that `rollback` reads, and a rollout of it ends.

        Raises:
            SpecError: no such version; or a retrain found it no better than the champion
                on held-out rows (unless `force`).
        """
        target = version if version is not None else self._alias_version(name, CHALLENGER)
        if target is None:
            raise SpecError(f"{name}: no challenger to promote; name a version (automl models show {name})")
        entry = self.version(name, target)
        if entry.tags.get(BETTER_TAG) == "false" and not force:
            raise SpecError(
                f"{name} v{target} was no better than the champion on the held-out rows of its retrain "
                "(--force promotes it anyway)"
            )
        current = self._alias_version(name, CHAMPION)
        if current == target:
            return self.version(name, target)
        if current is not None:
            self._set_history(name, [*self._history(name), current])
        self.client.set_registered_model_alias(name, CHAMPION, str(target))
        if self._alias_version(name, CHALLENGER) == target:
            self.client.delete_registered_model_alias(name, CHALLENGER)
            self.set_rollout(name, "off")
        return self.version(name, target)

    def set_rollout(self, name: str, mode: str, share: float = 0.0) -> None:
        """Roll the challenger out as `mode` (`canary` with `share` of the requests,
        `shadow`), or end its rollout (`off`). `automl serve NAME` follows it.

        Raises:
            SpecError: an unknown mode, a share outside (0, 1] for a canary, or no challenger.
        """
        if mode not in ROLLOUT_MODES:
            raise SpecError(f"rollout mode {mode!r}: use one of {', '.join(ROLLOUT_MODES)}")
        if mode == "canary" and not 0 < share <= 1:
            raise SpecError(f"a canary's share must be in (0, 1], got {share}")
        if mode != "off" and self._alias_version(name, CHALLENGER) is None:
            raise SpecError(f"{name} has no challenger to roll out (retrain it, or register a version)")
        value = {"mode": mode, "share": share if mode == "canary" else 0.0}
        self.client.set_registered_model_tag(name, ROLLOUT_TAG, json.dumps(value))

    def rollout_plan(self, name: str) -> RolloutPlan:
        """What `automl serve NAME` serves now: the champion, and the challenger as its
        rollout says (each directory checked against its registered digest).

        Raises:
            SpecError: no such model, or no champion.
            ArtifactError: a version's files no longer match what was registered.
        """
        champion = self.version(name, CHAMPION)
        plan = RolloutPlan(name, champion.version, self.model_dir(name, champion.version))
        tags = self.client.get_registered_model(name).tags or {}
        rollout = json.loads(tags.get(ROLLOUT_TAG, '{"mode": "off"}'))
        challenger = self._alias_version(name, CHALLENGER)
        if challenger is None or rollout.get("mode", "off") == "off" or challenger == champion.version:
            return plan
        return replace(
            plan,
            challenger=challenger,
            challenger_dir=self.model_dir(name, challenger),
            mode=str(rollout["mode"]),
            share=float(rollout.get("share", 0.0)),
        )

    def rollback(self, name: str) -> RegisteredVersion:
        """Make the champion before the current one the champion again."""
        history = self._history(name)
        if not history:
            raise SpecError(f"{name}: no earlier champion to roll back to")
        previous = history[-1]
        self.client.set_registered_model_alias(name, CHAMPION, str(previous))
        self._set_history(name, history[:-1])
        return self.version(name, previous)

    # reading -------------------------------------------------------------------------
    def names(self) -> list[str]:
        return sorted(m.name for m in self.client.search_registered_models())

    def versions(self, name: str) -> list[RegisteredVersion]:
        """Every version of `name`, oldest first.

        Raises:
            SpecError: no model of that name.
        """
        if not self._exists(name):
            raise SpecError(f"no registered model {name!r}; known: {', '.join(self.names()) or 'none'}")
        # a search's versions come without their aliases: the registered model holds them
        aliases = dict(self.client.get_registered_model(name).aliases or {})
        found = [self._read(v) for v in self.client.search_model_versions(f"name = '{name}'")]
        found = [replace(e, aliases=sorted(a for a, v in aliases.items() if int(v) == e.version)) for e in found]
        return sorted(found, key=lambda v: v.version)

    def version(self, name: str, ref: int | str = CHAMPION) -> RegisteredVersion:
        """A version by number, or by alias (`champion`, `challenger`).

        Raises:
            SpecError: no such model, version or alias.
        """
        if not self._exists(name):
            raise SpecError(f"no registered model {name!r}; known: {', '.join(self.names()) or 'none'}")
        number = int(ref) if str(ref).isdigit() else self._alias_version(name, str(ref))
        if number is None:
            raise SpecError(f"{name} has no {ref} version")
        try:
            return self._read(self.client.get_model_version(name, str(number)))
        except self._mlflow.exceptions.MlflowException:
            raise SpecError(f"{name} has no version {number}") from None

    def model_dir(self, name: str, ref: int | str = CHAMPION) -> Path:
        """The local directory of a version's artifact, its files checked against the
        digest recorded when it was registered.

        Raises:
            ArtifactError: the version's files no longer match what was registered.
        """
        entry = self.version(name, ref)
        local = self._local(entry)
        manifest = read_manifest(local)
        if entry.digest is None or manifest_digest(manifest) != entry.digest:
            raise ArtifactError(f"{name} version {entry.version}: its manifest no longer matches the registry's record")
        verify(local)  # and its files their checksums (and the signature, with a key)
        return local

    def run_directory(self, run_id: str) -> Path:
        """The local root of a run's artifacts (the model, the job, the report...).

        Raises:
            SpecError: the run's artifacts are not on a local file system.
        """
        root = self._local_root(run_id)
        if root is None:
            raise SpecError(f"run {run_id}'s artifacts are not on a local file system: only a local store is read here")
        return root

    # parts ---------------------------------------------------------------------------
    def _local(self, entry: RegisteredVersion) -> Path:
        """The version's files where they are, for a local artifact store; else a copy
        downloaded once under the registry's cache."""
        if entry.run_id is None:
            raise ArtifactError(f"{entry.name} version {entry.version} has no run holding its files")
        from automl.registry.pyfunc import artifact_in  # mlflow: only once a registry is read

        root = self._local_root(entry.run_id)
        if root is not None:
            return artifact_in(root / "model")
        cache = DEFAULT_ROOT.expanduser() / "cache" / entry.name / str(entry.version)  # a remote store's copies
        if not (cache / "model").is_dir():
            uri = f"{self.client.get_run(entry.run_id).info.artifact_uri}/model"
            self._mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(cache), tracking_uri=self.uri)
        return artifact_in(cache / "model")

    def _local_root(self, run_id: str) -> Path | None:
        """The run's artifact root when it is on a local file system, else None."""
        parsed = urlparse(self.client.get_run(run_id).info.artifact_uri)
        return Path(unquote(parsed.path)) if parsed.scheme in ("", "file") else None

    def _log_run(
        self,
        model_dir: Path,
        name: str,
        manifest: dict[str, Any],
        params: dict[str, Any],
        metrics: dict[str, float],
        files: list[Path],
    ) -> str:
        experiment = self.client.get_experiment_by_name(EXPERIMENT)
        experiment_id = (
            experiment.experiment_id
            if experiment is not None
            else self.client.create_experiment(EXPERIMENT, artifact_location=self.artifacts)
        )
        run = self.client.create_run(experiment_id, tags={"automl.model": name}, run_name=name)
        run_id = run.info.run_id
        try:
            described = {"task": manifest.get("task"), "metric": manifest.get("metric"), **params}
            for key, value in described.items():
                self.client.log_param(run_id, key, str(value)[:500])
            for key, value in metrics.items():
                if value is not None:
                    self.client.log_metric(run_id, key, float(value))
            from automl.registry.pyfunc import save_pyfunc  # mlflow: only once a registry is written

            with tempfile.TemporaryDirectory(prefix="automl-pyfunc-") as staging:
                pyfunc = save_pyfunc(model_dir, Path(staging) / "model")
                self.client.log_artifacts(run_id, str(pyfunc), artifact_path="model")
            for path in files:
                if Path(path).is_file():
                    self.client.log_artifact(run_id, str(path))
        except BaseException:
            self.client.set_terminated(run_id, status="FAILED")
            raise
        self.client.set_terminated(run_id)
        return run_id

    def _exists(self, name: str) -> bool:
        try:
            self.client.get_registered_model(name)
        except self._mlflow.exceptions.MlflowException:
            return False
        return True

    def _alias_version(self, name: str, alias: str) -> int | None:
        try:
            return int(self.client.get_model_version_by_alias(name, alias).version)
        except self._mlflow.exceptions.MlflowException:
            return None

    def _history(self, name: str) -> list[int]:
        tags = self.client.get_registered_model(name).tags or {}
        return [int(v) for v in json.loads(tags.get(HISTORY_TAG, "[]"))]

    def _set_history(self, name: str, history: list[int]) -> None:
        self.client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))

    def _read(self, found: Any) -> RegisteredVersion:
        tags = dict(found.tags or {})
        return RegisteredVersion(
            name=found.name,
            version=int(found.version),
            run_id=found.run_id,
            source=found.source,
            digest=tags.get(DIGEST_TAG),
            aliases=sorted(found.aliases or []),
            created_ms=found.creation_timestamp,
            tags=tags,
        )


def check_name(name: str) -> None:
    """Raise SpecError for a name MLflow would not take."""
    if not _NAME.match(name):
        raise SpecError(f"model name {name!r}: use letters, digits, '_', '.' and '-' (at most 100), starting with one")


__all__ = [
    "BETTER_TAG",
    "CHALLENGER",
    "CHAMPION",
    "REGISTRY_ENV",
    "ROLLOUT_MODES",
    "ModelRegistry",
    "RegisteredVersion",
    "RolloutPlan",
    "registry_location",
]
