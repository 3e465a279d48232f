"""The `automl` command. Thin: parse arguments, call the library, print.

Exit codes: 0 success; 2 bad input or usage (one line on stderr, no traceback);
1 internal error (a bug: the traceback is printed to help report it); 3 drift found by
`monitor --fail-on-drift`.
"""

from __future__ import annotations

import time

_STARTED = time.monotonic()  # the command's start: the job's budget counts from here

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

from automl.budget import Budget  # noqa: E402
from automl.errors import AutoMLError, DataError, SpecError, first_line  # noqa: E402
from automl.files import json_text  # noqa: E402
from automl.spec import OPTIONS, JobSpec, spec_from_options  # noqa: E402

if TYPE_CHECKING:
    from automl.job.run import FitResult

    Commands = argparse._SubParsersAction[argparse.ArgumentParser]  # what add_subparsers returns
    import threading

    from serve.config import ServeConfig

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT, EXIT_DRIFT = 0, 1, 2, 3


def _cmd_fit(args: argparse.Namespace) -> int:
    options = {option.name: getattr(args, option.name) for option in OPTIONS}
    spec = spec_from_options(
        train=args.data, target=args.target, test=args.test, name=Path(args.data).stem, output=args.output, **options
    )
    return _run(spec, args)


def _cmd_run(args: argparse.Namespace) -> int:
    return _run(JobSpec.from_yaml(args.spec), args)


def _run(spec: JobSpec, args: argparse.Namespace) -> int:
    from automl.job import run_job

    registry = None
    if args.register is not None:  # opened, and the name checked, before the search spends its budget
        from automl.registry import ModelRegistry
        from automl.registry.store import check_name

        check_name(args.register)
        registry = ModelRegistry(args.registry)
    budget = Budget(spec.budget.time_s, started=_STARTED)
    result, directory = run_job(spec, args.output, show_progress=not args.quiet, budget=budget)
    code = _print_result(result, directory, quiet=args.quiet)
    if registry is not None:
        from automl.job.registration import register_run

        print(f"registered: {_version_line(register_run(registry, directory, args.register))}")
    return code


def _cmd_resume(args: argparse.Namespace) -> int:
    from automl.job import resume_job

    return _print_result(
        *resume_job(args.run_dir, address=args.address, show_progress=not args.quiet), quiet=args.quiet
    )


def _print_result(result: FitResult, directory: str, *, quiet: bool) -> int:
    s = result.summary
    best = "n/a" if s.best_cv_score is None else f"{s.best_cv_score:.5g}"
    final = "n/a" if s.ensemble_cv_score is None else f"{s.ensemble_cv_score:.5g}"
    trials = f"{s.n_trials} trials ({s.n_failed} failed)"
    print(f"best trial: {s.best_model} | cv {s.metric} {best} | {trials} | {s.wall_s:.1f}s")
    members = ", ".join(f"{m.model} {m.weight:.2f}" for m in s.ensemble_members)
    print(f"final model: {s.ensemble_method} ({members}) | {s.ensemble_score_kind} {s.metric} {final}")
    if s.test_score is not None:
        print(f"test {s.metric}: {s.test_score:.5g}")
    for note in result.notes:
        print(f"note: {note}")
    if not quiet:
        shown = result.leaderboard.head(5)[["rank", "model", "status", "cv_score", "cv_std", "fit_s"]]
        print(shown.to_string(index=False))
    print(f"run directory: {directory}")
    return EXIT_OK


def _cmd_predict(args: argparse.Namespace) -> int:
    from automl.artifacts import load_model
    from automl.data import read_table, write_table

    if Path(args.output).suffix.lower() not in (".csv", ".parquet", ".pq"):
        raise DataError(f"--output {args.output}: use a .csv or .parquet file name")
    model = load_model(args.model_dir)
    frame = read_table(args.data)
    predictions = model.prediction_frame(frame)
    write_table(predictions, args.output)
    print(f"wrote {len(predictions)} predictions to {args.output}")
    return EXIT_OK


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from automl.artifacts import load_model
    from automl.data import read_table
    from automl.job import score_table

    model = load_model(args.model_dir)
    frame = read_table(args.data)
    scores = score_table(model, frame)
    print(
        json_text({"metric": model.metric, "score": scores.get(model.metric), "n_rows": len(frame), "metrics": scores})
    )
    return EXIT_OK


def serve_config(args: argparse.Namespace) -> ServeConfig:
    """The serving config of `automl serve`: its --config file, with the flags given on top."""
    from serve import load_config

    return load_config(
        args.config,
        name=args.name,
        host=args.host,
        port=args.port,
        min_replicas=args.min_replicas,
        max_replicas=args.max_replicas,
        target_ongoing_requests=args.target_ongoing_requests,
        cpus_per_replica=args.cpus_per_replica,
        max_batch_size=args.max_batch_size,
        batch_wait_timeout_s=args.batch_wait_timeout_s,
        token_file=args.token_file,
        log_dir=args.log_dir,
        access_log=args.access_log,
        ingress=args.ingress,
    )


def _cmd_serve(args: argparse.Namespace) -> int:
    import signal
    import threading

    from automl.compat import running_ray
    from automl.job import ray_session
    from serve import HAPROXY_PRELOAD, chosen_ingress, deploy, ingress_environment

    if (args.canary is not None or args.shadow) and not args.challenger:
        raise SpecError("--canary and --shadow roll out a --challenger model directory")
    mode = "shadow" if args.shadow else "canary"
    address, requested = args.address, serve_config(args)
    if not Path(args.model_dir).is_dir() and args.name is None and requested.name == "automl":
        requested = requested.model_copy(update={"name": args.model_dir})  # the registered model's name
    # auto also looks for a Ray that `ray start` left here; an explicit haproxy starts its own
    found = bool(address or os.environ.get("RAY_ADDRESS")) or (requested.ingress == "auto" and running_ray())
    config = chosen_ingress(requested, joins_cluster=address != "local" and found)
    preload: tuple[str, ...] = ()
    if config.ingress == "haproxy":
        os.environ.update(ingress_environment(config))
        address, preload = "local", HAPROXY_PRELOAD  # a new Ray that reads these settings, not one `ray start` left
        print(
            f"ingress: HAProxy (its stats page and Prometheus exporter on {config.host}, "
            f"ports {os.environ['RAY_SERVE_HAPROXY_STATS_PORT']} and {os.environ['RAY_SERVE_HAPROXY_METRICS_PORT']})",
            file=sys.stderr,
        )
    stop = threading.Event()
    with ray_session(address, preload=preload):
        from ray import serve as ray_serve

        signal.signal(signal.SIGTERM, lambda *_: stop.set())  # after Ray, which installs its own
        auth = "bearer token required" if config.token_sha256() else "no auth"
        if Path(args.model_dir).is_dir():
            url = deploy(args.model_dir, config, challenger=args.challenger, mode=mode, share=args.canary or 0.0)
            print(f"serving {args.model_dir} at {url} ({auth}); Ctrl-C to stop", flush=True)
            wait = lambda: stop.wait(1.0)  # noqa: E731
        else:
            wait = _follow_registry(args, config, stop, auth)
        try:
            while not wait():
                pass
        except KeyboardInterrupt:
            pass
        ray_serve.delete(config.name)
        ray_serve.shutdown()
    print("stopped")
    return EXIT_OK


def _follow_registry(
    args: argparse.Namespace, config: ServeConfig, stop: threading.Event, auth: str
) -> Callable[[], bool]:
    """Serve a registered model's champion (and challenger, as its rollout says); return the
    wait of the serving loop, which redeploys whenever the registry's plan changes: a
    promotion, rollback or rollout then reaches the running replicas in place."""
    from automl.registry import ModelRegistry
    from serve import deploy

    registry = ModelRegistry(args.registry)
    name = args.model_dir
    plan = registry.rollout_plan(name)

    def apply(plan: Any) -> str:
        mode = "canary" if plan.mode == "off" else plan.mode  # off: the plan has no challenger
        return deploy(plan.champion_dir, config, challenger=plan.challenger_dir, mode=mode, share=plan.share)

    url = apply(plan)
    print(f"serving {plan.describe()} at {url} ({auth}); following {registry.location}; Ctrl-C to stop", flush=True)
    current = [plan]

    def wait() -> bool:
        if stop.wait(args.follow_s):
            return True
        try:
            latest = registry.rollout_plan(name)
            if latest != current[0]:
                apply(latest)
                current[0] = latest
                print(f"now serving {latest.describe()}", flush=True)
        except AutoMLError as exc:  # a version that no longer verifies: keep serving what runs
            print(f"warning: {exc}; still serving {current[0].describe()}", file=sys.stderr, flush=True)
        except Exception as exc:  # the registry unreadable for a moment (a write holds its lock)
            print(f"warning: registry not read ({first_line(exc)}); retrying", file=sys.stderr, flush=True)
        return False

    return wait


def _cmd_monitor(args: argparse.Namespace) -> int:
    from automl.job.monitor import monitor_model, parse_since
    from automl.job.watching import thresholds_of

    registry, name = None, None
    if not Path(args.model).is_dir():  # a registered model's name: its champion
        from automl.registry import ModelRegistry

        registry, name = ModelRegistry(args.registry), args.model
    thresholds = thresholds_of(registry, name)
    updates = {k: v for k, v in (("p_value", args.p_value), ("window", args.window)) if v is not None}
    thresholds = thresholds.model_copy(update=updates)
    if args.watch:
        if registry is None or name is None:
            raise SpecError("--watch follows a registered model: give its name, not a directory")
        return _watch(args, registry, name, thresholds)
    if args.retrain:
        raise SpecError("--retrain applies to --watch")
    model_dir = args.model if registry is None else registry.model_dir(args.model)
    result = monitor_model(
        model_dir, args.log_dir, since=parse_since(args.since), p_value=thresholds.p_value, window=thresholds.window,
        output=args.output,
    )  # fmt: skip
    _print_monitor(result)
    if result.report["drifted"]:
        print("drift: " + ", ".join(result.report["drifted"]))
        return EXIT_DRIFT if args.fail_on_drift else EXIT_OK
    return EXIT_OK


def _watch(args: argparse.Namespace, registry: Any, name: str, thresholds: Any) -> int:
    """Check `name`'s log every --interval seconds; on a trip, submit a retrain (--retrain)."""
    from automl.monitoring.gauges import MonitorGauges

    if args.canary is not None and not 0 < args.canary <= 1:
        raise SpecError(f"--canary: a share in (0, 1], got {args.canary}")
    gauges = MonitorGauges(name, args.metrics_port) if args.metrics_port is not None else None
    if gauges is not None:
        print(f"Prometheus gauges at http://127.0.0.1:{gauges.port}/metrics", flush=True)
    output = Path(args.output or f"runs/{name}-watch")
    try:
        return _watch_loop(args, registry, name, thresholds, output, gauges)
    finally:
        if gauges is not None:
            gauges.close()


def _watch_loop(args: argparse.Namespace, registry: Any, name: str, thresholds: Any, output: Path, gauges: Any) -> int:
    from automl.job.monitor import monitor_model, parse_since
    from automl.job.watching import check_and_retrain, retrain_command, start_local_retrain

    def submit() -> str:
        python = args.job_python or sys.executable
        command = retrain_command(name, registry, args.log_dir, thresholds, output=output, promote=args.promote,
                                  canary=args.canary, python=python)  # fmt: skip
        if args.address is None:
            return start_local_retrain(command, output)
        import shlex

        from automl.cluster.submit import submit_entrypoint

        return submit_entrypoint(shlex.join(command), args.address, prefix=f"retrain-{name}",
                                 metadata={"automl_retrain": name})  # fmt: skip

    checks = 0
    while True:
        checks += 1
        result = monitor_model(registry.model_dir(name), args.log_dir, since=parse_since(args.since),
                               p_value=thresholds.p_value, window=thresholds.window, output=output)  # fmt: skip
        check = check_and_retrain(registry, name, result, thresholds, submit if args.retrain else None)
        if gauges is not None:
            gauges.update(result.report, result.metric, bool(check.reasons), bool(check.submitted))
        stamp = time.strftime("%H:%M:%S", time.localtime(check.checked_at))
        state = "; ".join(check.reasons) or "no alarm"
        action = ""
        if check.submitted:
            action = f"; retrain submitted: {check.submitted}"
        elif check.held_back:
            action = f"; no retrain: {check.held_back}"
        print(f"{stamp} {name}: {check.rows} rows, {state}{action}", flush=True)
        if args.max_checks is not None and checks >= args.max_checks:
            return EXIT_OK
        time.sleep(args.interval)


def _print_monitor(result: Any) -> None:
    report = result.report
    level = f"{report['threshold']:.2g}"
    print(f"{report['rows']} logged rows in {report['log_files']} file(s); test level {level} per feature")
    for item in [*report["features"], *([report["prediction"]] if report["prediction"] else [])]:
        psi_text = "n/a" if item["psi"] is None else f"{item['psi']:.3f}"
        p_text = "n/a" if item["p_value"] is None else f"{item['p_value']:.2g}"
        flag = "DRIFT" if item["drifted"] else ("" if item["note"] is None else item["note"])
        print(
            f"  {item['name']:<24} {item['kind']:<11} {item['test'] or '-':<4} p={p_text:<8} psi={psi_text:<7} {flag}"
        )
    if result.metric is not None:
        points = result.metric["points"]
        name = result.metric["metric"]
        print(
            f"live {name} over {sum(p['rows'] for p in points)} labelled rows: "
            + ", ".join(f"{p[name]:.3f}" for p in points)
        )
    for path in result.files:
        print(f"wrote {path}")


def _cmd_models(args: argparse.Namespace) -> int:
    from automl.job.registration import register_run
    from automl.registry import ModelRegistry

    registry = ModelRegistry(args.registry)
    if args.models_command == "register":
        print(_version_line(register_run(registry, args.directory, args.name)))
    elif args.models_command == "list":
        for name in registry.names():
            champion = next((v for v in registry.versions(name) if "champion" in v.aliases), None)
            print(
                f"{name}: {len(registry.versions(name))} version(s), champion v{champion.version if champion else '-'}"
            )
    elif args.models_command == "show":
        for entry in registry.versions(args.name):
            print(_version_line(entry))
    elif args.models_command == "promote":
        print("champion: " + _version_line(registry.promote(args.name, args.version, force=args.force)))
    elif args.models_command == "rollout":
        mode = "canary" if args.canary is not None else ("shadow" if args.shadow else "off")
        registry.set_rollout(args.name, mode, args.canary or 0.0)
        print("serving: " + registry.rollout_plan(args.name).describe())
    elif args.models_command == "rollback":
        print("champion: " + _version_line(registry.rollback(args.name)))
    elif args.models_command == "path":
        print(registry.model_dir(args.name, args.version if args.version is not None else args.alias))
    return EXIT_OK


def _cmd_retrain(args: argparse.Namespace) -> int:
    from automl.job.retraining import retrain
    from automl.registry import ModelRegistry

    result = retrain(
        ModelRegistry(args.registry), args.name, log_dir=args.log_dir, output=args.output, promote=args.promote,
        canary=args.canary,
        force=args.force, cooldown_s=args.cooldown_s, time_budget_s=args.time_budget, show_progress=not args.quiet,
    )  # fmt: skip
    print(f"challenger: {_version_line(result.challenger)} (run directory {result.run_dir})")
    print(f"{result.added_rows} logged row(s) added to training, {result.held_out_rows} held out")
    if result.held_out_rows:
        scores = {"champion": result.champion_score, "challenger": result.challenger_score}
        shown = ", ".join(f"{who} {'n/a' if v is None else f'{v:.5f}'}" for who, v in scores.items())
        print(f"held-out {result.metric}: {shown}")
    print(f"champion: {_version_line(result.champion)}" + (" (promoted)" if result.promoted else ""))
    for note in result.notes:
        print(f"note: {note}")
    return EXIT_OK


def _version_line(entry: Any) -> str:
    aliases = f" [{', '.join(entry.aliases)}]" if entry.aliases else ""
    return f"{entry.name} v{entry.version}{aliases} run {entry.run_id} sha256 {str(entry.digest)[:12]}"


def _cmd_sign(args: argparse.Namespace) -> int:
    from automl.artifacts.store import sign_model

    print(f"signed {sign_model(args.model_dir)}")
    return EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    from automl.evaluation.report import rebuild_report

    print(rebuild_report(Path(args.run_dir)))
    return EXIT_OK


def _cmd_submit(args: argparse.Namespace) -> int:
    from automl.cluster import submit

    job_id = submit.submit(args.spec, args.address)
    print(f"submitted; follow it with: automl logs {job_id} --address {args.address} --follow", file=sys.stderr)
    print(job_id)
    return EXIT_OK


def _cmd_status(args: argparse.Namespace) -> int:
    from automl.cluster import submit

    state, reason = submit.status(args.job_id, args.address)
    print(state)
    if reason:
        print(f"reason: {reason}", file=sys.stderr)
    return EXIT_OK


def _cmd_logs(args: argparse.Namespace) -> int:
    from automl.cluster import submit

    if args.follow:
        submit.follow(args.job_id, args.address, lambda chunk: print(chunk, end="", flush=True))
    else:
        print(submit.logs(args.job_id, args.address), end="")
    return EXIT_OK


def _cmd_stop(args: argparse.Namespace) -> int:
    from automl.cluster import submit

    stopped = submit.stop(args.job_id, args.address)
    print(f"stopping {args.job_id}" if stopped else f"{args.job_id} had already ended")
    return EXIT_OK


def _cmd_benchmark(args: argparse.Namespace) -> int:
    from automl.benchmark import RunSettings, load_suite, run_benchmark
    from automl.search.strategies import get_strategy, strategy_names

    if args.list:
        for name in strategy_names():
            strategy = get_strategy(name)
            missing = strategy.missing()
            print(f"{name}: {strategy.space}" + (f" [unavailable: {missing}]" if missing else ""))
        return EXIT_OK
    strategies = args.strategies or None
    if args.replay:
        from automl.benchmark.replay import run_replay

        seeds, trials = args.seeds or 30, args.max_trials or 100
        report = run_replay(
            args.replay, strategies=strategies, seeds=seeds, max_trials=trials, time_budget_s=args.time_budget
        )
        print(report)
        return EXIT_OK
    if not args.suite or not args.output:
        raise DataError("automl benchmark needs a SUITE and --output DIR (or --replay DIR, or --list)")
    if not strategies:
        raise DataError("name the strategies to compare: --strategies A,B,... (automl benchmark --list shows them)")
    settings = RunSettings(
        time_budget_s=args.time_budget,
        max_trials=args.max_trials,
        cv_folds=args.cv_folds,
        cpus_per_run=args.cpus_per_run,
        portfolio=args.portfolio,
        early_stopping=args.early_stopping,
        models=tuple(args.models) if args.models else None,
    )
    suite = load_suite(args.suite).select(args.tables)
    result = run_benchmark(suite, strategies, settings, seeds=args.seeds or 1, output=args.output)
    if result.report is not None:
        print(result.report)
    return EXIT_INTERNAL if result.failed else EXIT_OK  # a run that raised is not the user's input


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="automl", description="Distributed AutoML on Ray.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_fit, _add_job_commands, _add_model_commands, _add_serve, _add_cluster_commands, _add_benchmark):
        add(commands)
    return parser


def _add_fit(commands: Commands) -> None:
    fit = commands.add_parser("fit", help="search models for a table and save the best")
    fit.add_argument("data", help="training table (.csv or .parquet; a path or a URI)")
    fit.add_argument("--target", required=True, help="column to predict")
    for option in OPTIONS:  # every flag that sets a job setting comes from the one list
        if option.is_switch:
            fit.add_argument(option.cli_flag, dest=option.name, action="store_true", default=None, help=option.help)
        else:
            fit.add_argument(
                option.cli_flag,
                dest=option.name,
                type=_comma_list if option.is_list else option.type,
                choices=option.choices,
                metavar="A,B,..." if option.is_list else None,
                help=option.help,
            )
    fit.add_argument("--test", metavar="DATA", help="held-out table to score the final model on")
    fit.add_argument("--output", metavar="DIR", help="run directory (default runs/<name>-<time>)")
    fit.add_argument("--quiet", action="store_true", help="no progress display")
    _add_register(fit)
    fit.set_defaults(handler=_cmd_fit)


def _add_register(command: argparse.ArgumentParser) -> None:
    command.add_argument("--register", metavar="NAME", help="log the run to MLflow and register its model as NAME")
    command.add_argument("--registry", help="registry root or MLflow URI (default: $AUTOML_REGISTRY)")


def _add_job_commands(commands: Commands) -> None:
    run = commands.add_parser("run", help="run a job from a YAML spec")
    run.add_argument("spec", help="job spec file")
    run.add_argument("--output", metavar="DIR", help="run directory (overrides the spec's output)")
    run.add_argument("--quiet", action="store_true", help="no progress display")
    _add_register(run)
    run.set_defaults(handler=_cmd_run)

    resume = commands.add_parser("resume", help="finish a job whose search was interrupted")
    resume.add_argument("run_dir", help="the job's run directory (a path or a URI)")
    resume.add_argument("--address", metavar="RAY_ADDRESS", help="run on this Ray cluster (default: the job's)")
    resume.add_argument("--quiet", action="store_true", help="no progress display")
    resume.set_defaults(handler=_cmd_resume)

    models = commands.add_parser(
        "models", help="the model registry (MLflow): register, list, show, promote, rollback, rollout"
    )
    models.add_argument(
        "--registry", help="registry root or MLflow URI (default: $AUTOML_REGISTRY, ~/.automl/registry)"
    )
    verbs = models.add_subparsers(dest="models_command", required=True, metavar="VERB")
    register = verbs.add_parser("register", help="register a run directory's model (or a model directory)")
    register.add_argument("directory", help="a run directory (its model, summary, leaderboard, report) or a model")
    register.add_argument("--name", required=True, help="the registered model's name")
    verbs.add_parser("list", help="the registered models")
    for verb, text in (("show", "a model's versions"), ("promote", "make a version the champion"),
                       ("rollback", "make the previous champion the champion again"),
                       ("path", "the local directory of a version's artifact (for automl serve)")):  # fmt: skip
        command = verbs.add_parser(verb, help=text)
        command.add_argument("name")
        if verb in ("promote", "path"):
            default = "the challenger" if verb == "promote" else "the --alias"
            command.add_argument("--version", type=int, help=f"a version number (default: {default})")
        if verb == "promote":
            command.add_argument("--force", action="store_true", help="even one a retrain found no better")
        if verb == "path":
            command.add_argument("--alias", default="champion", help="champion or challenger (default: champion)")
    rollout = verbs.add_parser("rollout", help="roll the challenger out beside the champion (automl serve NAME)")
    rollout.add_argument("name")
    how = rollout.add_mutually_exclusive_group(required=True)
    how.add_argument("--canary", type=float, metavar="SHARE", help="the challenger answers this share (0-1]")
    how.add_argument("--shadow", action="store_true", help="the challenger answers every request, logged only")
    how.add_argument("--off", action="store_true", help="end the rollout: the champion answers all")
    models.set_defaults(handler=_cmd_models)
    retrain = commands.add_parser("retrain", help="train a challenger for a registered model and compare it")
    retrain.add_argument("name", help="the registered model")
    retrain.add_argument("--registry", help="registry root or MLflow URI (default: $AUTOML_REGISTRY)")
    retrain.add_argument("--log-dir", help="its serving log: labelled rows join training, the newest are held out")
    retrain.add_argument("--output", help="the challenger's run directory (default: runs/NAME-retrain-TIME)")
    better = retrain.add_mutually_exclusive_group()
    better.add_argument("--promote", action="store_true", help="make it champion if better on the held-out rows")
    better.add_argument("--canary", type=float, metavar="SHARE", help="if better there, roll it out as a canary")
    retrain.add_argument("--force", action="store_true", help="retrain within the cooldown")
    retrain.add_argument("--cooldown-s", type=float, default=3600.0, help="seconds between retrains (default 3600)")
    retrain.add_argument("--time-budget", type=float, help="the job's time budget (default: the champion's job's)")
    retrain.add_argument("--quiet", action="store_true", help="no progress line")
    retrain.set_defaults(handler=_cmd_retrain)
    monitor = commands.add_parser("monitor", help="drift and the live metric of a served model, from its request log")
    monitor.add_argument("model", help="the model directory being served, or a registered model's name (its champion)")
    monitor.add_argument("--registry", help="for a name: registry root or MLflow URI (default: $AUTOML_REGISTRY)")
    monitor.add_argument("--log-dir", required=True, help="the serving request log (automl serve --log-dir)")
    monitor.add_argument("--since", help="from this time on: ISO 8601 (UTC unless given), or a span back: 30m, 24h, 7d")
    monitor.add_argument("--p-value", type=float, help="alarm level over all features (default: the spec's, 0.01)")
    monitor.add_argument("--window", type=int, help="labelled rows per live-metric point (default: the spec's, 200)")
    monitor.add_argument("--output", help="write monitor.json, drift.png and metric.png here")
    monitor.add_argument("--fail-on-drift", action="store_true", help="exit with code 3 when a feature drifted")
    watch = monitor.add_argument_group("watching a registered model (thresholds: its job's monitoring section)")
    watch.add_argument("--watch", action="store_true", help="check again every --interval seconds")
    watch.add_argument("--interval", type=float, default=60.0, metavar="S", help="seconds between checks (60)")
    watch.add_argument("--max-checks", type=int, metavar="N", help="stop after N checks (default: never)")
    watch.add_argument("--retrain", action="store_true", help="submit automl retrain when a threshold trips")
    how = watch.add_mutually_exclusive_group()
    how.add_argument("--promote", action="store_true", help="the retrain promotes a better challenger")
    how.add_argument("--canary", type=float, metavar="SHARE", help="the retrain rolls a better one out as a canary")
    watch.add_argument("--address", metavar="URL", help="submit the retrain to this Ray Jobs API (default: locally)")
    watch.add_argument("--job-python", metavar="PATH", help="the cluster's Python for the job (default: this one)")
    watch.add_argument("--metrics-port", type=int, metavar="PORT", help="Prometheus gauges on 127.0.0.1:PORT (0: any)")
    monitor.set_defaults(handler=_cmd_monitor)
    sign = commands.add_parser(
        "sign", help="sign an artifact's manifest with AUTOML_SIGNING_KEY (or AUTOML_SIGNING_KEY_FILE)"
    )
    sign.add_argument("model_dir", help="the model directory")
    sign.set_defaults(handler=_cmd_sign)
    report = commands.add_parser("report", help="rewrite a run directory's report.html from its summary.json")
    report.add_argument("run_dir", help="the job's run directory")
    report.set_defaults(handler=_cmd_report)


def _add_model_commands(commands: Commands) -> None:
    predict = commands.add_parser("predict", help="predict a table with a saved model")
    predict.add_argument("model_dir")
    predict.add_argument("data")
    predict.add_argument("--output", required=True, metavar="FILE", help=".csv or .parquet")
    predict.set_defaults(handler=_cmd_predict)

    evaluate = commands.add_parser("evaluate", help="score a saved model on a labelled table (JSON)")
    evaluate.add_argument("model_dir")
    evaluate.add_argument("data")
    evaluate.set_defaults(handler=_cmd_evaluate)


def _add_serve(commands: Commands) -> None:
    serve = commands.add_parser("serve", help="serve a saved model over HTTP with Ray Serve")
    serve.add_argument(
        "model_dir",
        metavar="MODEL",
        help="a model directory, or a registered model's name: its champion and rollout, followed as they change",
    )
    serve.add_argument("--registry", help="for a name: registry root or MLflow URI (default: $AUTOML_REGISTRY)")
    serve.add_argument("--follow-s", type=float, default=2.0, metavar="S", help="for a name: registry read interval")
    serve.add_argument("--challenger", metavar="DIR", help="a second model directory to roll out beside MODEL")
    serve.add_argument("--canary", type=float, metavar="SHARE", help="the challenger answers this share of requests")
    serve.add_argument("--shadow", action="store_true", help="the challenger answers every request's rows, logged only")
    serve.add_argument("--config", metavar="FILE", help="serving config (YAML); flags override it")
    serve.add_argument("--name", help="application name (redeploying a name rolls its replicas)")
    serve.add_argument("--host", help="default 127.0.0.1")
    serve.add_argument("--port", type=int, help="default 8000")
    serve.add_argument("--min-replicas", type=int)
    serve.add_argument("--max-replicas", type=int)
    serve.add_argument("--target-ongoing-requests", type=float, metavar="N")
    serve.add_argument("--cpus-per-replica", type=float, metavar="N")
    serve.add_argument("--max-batch-size", type=int, metavar="N")
    serve.add_argument(
        "--batch-wait-timeout-s", type=float, metavar="S", help="how long a batch waits for more requests (0.005)"
    )
    serve.add_argument("--token-file", metavar="FILE", help="bearer token (else $AUTOML_SERVE_TOKEN; neither: no auth)")
    serve.add_argument("--log-dir", metavar="DIR", help="log requests, predictions and feedback as Parquet")
    serve.add_argument(
        "--ingress",
        choices=["auto", "proxy", "haproxy"],
        help="HAProxy (faster) or Serve's HTTP proxy; auto (default): HAProxy for the Ray automl serve starts",
    )
    serve.add_argument(
        "--access-log", action="store_true", default=None, help="Serve's access log line per request (off: faster)"
    )
    serve.add_argument("--address", metavar="RAY_ADDRESS", help="serve on an existing Ray cluster")
    serve.set_defaults(handler=_cmd_serve)


def _add_cluster_commands(commands: Commands) -> None:
    submit = commands.add_parser("submit", help="submit a job spec to a Ray cluster (Ray Jobs API)")
    submit.add_argument("spec", help="job spec file; its output must be a path or URI the cluster can write")
    submit.add_argument("--address", required=True, metavar="URL", help="the Jobs API, e.g. http://127.0.0.1:8265")
    submit.set_defaults(handler=_cmd_submit)
    for name, text, handler in [
        ("status", "print a submitted job's state", _cmd_status),
        ("logs", "print a submitted job's logs", _cmd_logs),
        ("stop", "stop a submitted job", _cmd_stop),
    ]:
        command = commands.add_parser(name, help=text)
        command.add_argument("job_id")
        command.add_argument("--address", required=True, metavar="URL", help="the Jobs API, e.g. http://127.0.0.1:8265")
        if name == "logs":
            command.add_argument("--follow", action="store_true", help="keep printing until the job ends")
        command.set_defaults(handler=handler)


def _add_benchmark(commands: Commands) -> None:
    bench = commands.add_parser(
        "benchmark", help="compare search strategies on a suite of tables (same folds, budget, seeds)"
    )
    bench.add_argument("suite", nargs="?", help="a suite YAML, or a directory of tables with manifest.json")
    bench.add_argument("--strategies", type=_comma_list, metavar="A,B,...", help="strategies to compare (see --list)")
    budget = bench.add_mutually_exclusive_group()
    budget.add_argument(
        "--time-budget", type=float, metavar="SECONDS", help="each run's search time (replay: simulated instead)"
    )
    budget.add_argument("--max-trials", type=int, metavar="N", help="each run's configurations (replay: at most)")
    bench.add_argument("--seeds", type=int, metavar="N", help="seeds per strategy and table (default 1; replay 30)")
    bench.add_argument("--output", metavar="DIR", help="benchmark directory: run the same command again to resume")
    bench.add_argument("--tables", type=_comma_list, metavar="A,B,...", help="only these tables of the suite")
    bench.add_argument("--models", type=_comma_list, metavar="A,B,...", help="model families (default: all)")
    bench.add_argument("--cv-folds", type=int, default=5, metavar="K", help="folds of every run (default 5)")
    bench.add_argument("--cpus-per-run", type=float, default=1.0, metavar="N", help="each run's CPU share (default 1)")
    bench.add_argument("--portfolio", action="store_true", help="start from the portfolio (default: each starts cold)")
    bench.add_argument(
        "--early-stopping", action="store_true", help="boosting stops early (default: rounds are searched)"
    )
    bench.add_argument("--replay", metavar="DIR", help="replay the strategies on a surrogate of DIR's evaluations")
    bench.add_argument("--list", action="store_true", help="list the registered strategies")
    bench.set_defaults(handler=_cmd_benchmark)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except AutoMLError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception:
        traceback.print_exc()
        print("internal error: please report it with the traceback above", file=sys.stderr)
        return EXIT_INTERNAL


def _comma_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


if __name__ == "__main__":
    sys.exit(main())
