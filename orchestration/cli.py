"""`ltc`: the command line of the lead-to-cash platform.

It lives in `orchestration` because `ltc run` and `ltc demo` drive the Dagster job; every heavy
import is deferred to the command that needs it, so `ltc --help` and `ltc sandbox generate` stay
fast. Failures end with one line on stderr saying what went wrong and what to do, and a
non-zero exit code (`--verbose` shows the traceback).

Its messages are in English or Simplified Chinese (`--locale`, else LTC_LOCALE; reports/i18n.py):
the summary, progress and error lines go through the report catalogue. Argparse's own `--help`
and usage text stay English. Messages raised deep in the connectors (a setting's error, say) are
printed as raised, in English.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from contextlib import contextmanager, redirect_stdout
from decimal import Decimal
from pathlib import Path
from typing import Iterator

from connectors.marts_file import warehouse_files
from connectors.settings import SYSTEMS, Settings, apply_offline_defaults
from orchestration.cli_errors import error_lines
from reports.i18n import UnknownLocale, _, check_locale, using

DEFAULT_SEED = 42
DEFAULT_SCALE = 2000
# The figures the demo reconciles between its report and the sandbox's ground truth.
RECONCILED_FIGURES = (
    "leads",
    "converted_leads",
    "won_opportunities",
    "won_amount",
    "invoiced_total",
    "collected_total",
)


# `ltc bench` runs the benchmarks of a source checkout (they are not part of the installed
# packages: pyproject.toml's packages.find leaves benchmarks/ out), as modules from its root.
REPO_ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS_DIR = REPO_ROOT / "benchmarks"
_NOT_BENCHMARKS = {"common", "markdown", "salesforce_ingest"}  # helpers: they measure nothing alone


class CliError(RuntimeError):
    """A failure the user can act on; printed as one line."""


def _progress(message: str, started: float | None = None) -> None:
    suffix = f" ({time.perf_counter() - started:.1f} s)" if started is not None else ""
    print(f"[ltc] {message}{suffix}", flush=True)


# --------------------------------------------------------------------------- sandbox helpers


def sandbox_environment(sandbox_dir: Path, salesforce_url: str, token: str, as_of: str,
                        reporting_currency: str = "USD") -> dict[str, str]:
    """The environment that points every connector at the sandbox company's local sources, with
    the company's as-of date and reporting currency (its FX rates are into that currency only)."""
    return {
        "LTC_REPORTING_CURRENCY": reporting_currency,
        "SALESFORCE_INSTANCE_URL": salesforce_url,
        "SALESFORCE_ACCESS_TOKEN": token,
        "LTC_ERP_URL": f"sqlite:///{sandbox_dir / 'erp.sqlite'}",
        "LTC_FINANCE_DROP": str(sandbox_dir / "finance"),
        "LTC_ADSPEND_DROP": str(sandbox_dir / "marketing" / "adspend"),
        "LTC_AS_OF": as_of,
    }


def _read_ground_truth(sandbox_dir: Path) -> dict:
    path = sandbox_dir / "ground_truth.json"
    if not path.exists():
        raise CliError(_("no sandbox company at %(folder)s; run `ltc sandbox generate` first") % {"folder": sandbox_dir})
    return json.loads(path.read_text())


@contextmanager
def serving_sandbox(settings: Settings) -> Iterator[dict[str, str]]:
    """Start the sandbox's fake Salesforce and fake HubSpot on 127.0.0.1 and point the environment
    at the sandbox."""
    from connectors.sandbox import FakeSalesforce
    from connectors.sandbox.fake_hubspot import FakeHubSpot

    truth = _read_ground_truth(settings.sandbox_dir)
    with FakeSalesforce(settings.sandbox_dir) as fake, FakeHubSpot(settings.sandbox_dir) as hubspot:
        env = sandbox_environment(settings.sandbox_dir, fake.url, fake.access_token, truth["as_of"],
                                  truth.get("reporting_currency", "USD"))
        env.update({"LTC_MARKETING_API_URL": hubspot.url, "LTC_MARKETING_API_TOKEN": hubspot.access_token})
        saved = {name: os.environ.get(name) for name in env}
        os.environ.update(env)
        try:
            yield env
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


# --------------------------------------------------------------------------- commands


def cmd_sandbox_generate(args: argparse.Namespace) -> int:
    from connectors.sandbox import generate

    settings = Settings.from_env()
    out = Path(args.out) if args.out else settings.sandbox_dir
    started = time.perf_counter()
    truth = generate(out, seed=args.seed, scale=args.scale, region=args.region, story=args.story,
                     reporting_currency=args.reporting_currency)
    region = "" if args.region == "default" else f", region {args.region}"
    story = "" if args.story == "default" else f", story {args.story}"
    currency = f", {truth['reporting_currency']}"
    _progress(_("sandbox company written to %(folder)s (seed %(seed)s, %(scale)s leads%(extra)s)") % {
        "folder": out, "seed": args.seed, "scale": args.scale, "extra": f"{region}{story}{currency}"}, started)
    print(json.dumps(truth["figures"], indent=2))
    return 0


def cmd_sandbox_mutate(args: argparse.Namespace) -> int:
    """The sandbox company's next day (connectors/sandbox/mutate.py): ~`fraction` of every source
    new, changed or deleted, and the as-of date a day later; Salesforce deletes stamped now, so
    that the next incremental run's getDeleted reports them."""
    import datetime as dt

    from connectors.sandbox.mutate import mutate

    settings = Settings.from_env()
    sandbox = Path(args.sandbox) if args.sandbox else settings.sandbox_dir
    _read_ground_truth(sandbox)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    result = mutate(sandbox, args.fraction, args.seed, deleted_at=now)
    _progress(f"sandbox company at {sandbox} moved to {result['as_of']} "
              f"({args.fraction:.1%} of every source changed, seed {args.seed}) in {result['seconds']:.1f} s")
    print(json.dumps({k: result[k] for k in ("salesforce", "erp", "finance", "marketing")}, indent=2))
    return 0


def cmd_sandbox_serve(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    with serving_sandbox(settings) as env:
        _progress(_("sandbox sources are up; export these to use them from another shell:"))
        for name, value in env.items():
            if name not in ("SALESFORCE_ACCESS_TOKEN", "LTC_MARKETING_API_TOKEN"):
                print(f"export {name}={value}")
        print("export SALESFORCE_ACCESS_TOKEN=<the sandbox token, see connectors/sandbox>")
        _progress(_("press Ctrl-C to stop"))
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from connectors.ingest import run_ingest

    settings = Settings.from_env()
    started = time.perf_counter()
    result = run_ingest(args.system, settings)
    rows = ", ".join(f"{t}={n}" for t, n in sorted(result.rows_loaded.items()))
    _progress(_("ingested %(system)s into raw_%(system)s: %(rows)s") % {
        "system": args.system, "rows": rows or _("nothing new")}, started)
    for note in result.notes:
        print("  " + _("note: %(note)s") % {"note": note})
    return 0


def _run_pipeline(verbose: bool = False) -> None:
    from orchestration.pipeline import run_full_refresh

    started = time.perf_counter()
    _progress(_("running the full refresh (ingest → checks → dbt build → report) through Dagster"))
    if verbose:
        summary = run_full_refresh(log_level="DEBUG")
    else:
        # dagster-dbt echoes dbt's whole output on stdout; keep it in a log file instead.
        log_dir = Settings.from_env().home / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / "last_run.log"
        _progress(_("dbt and run output: %(path)s") % {"path": log_path})
        # stderr stays the terminal: the user sees a run recovered from a crash, or a wait for another run
        notify = lambda message: print(f"[ltc] {message}", file=sys.stderr, flush=True)  # noqa: E731
        with open(log_path, "w", encoding="utf-8") as log, redirect_stdout(log):
            summary = run_full_refresh(log_level="WARNING", notify=notify)
    _progress(_("run %(run)s succeeded, %(n)s assets materialised") % {
        "run": summary.run_id, "n": len(summary.materialized)}, started)


def cmd_run(args: argparse.Namespace) -> int:
    _run_pipeline(args.verbose)
    _print_report_path(Settings.from_env())
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Rebuild and publish the edition of the warehouse's as-of date; mail it when configured."""
    from reports.edition import mail_edition, publish_reports

    settings = Settings.from_env()
    edition = publish_reports(settings)
    print(_("edition: %(path)s") % {"path": edition.path})
    for path in edition.files:
        print(f"  {path.name}")
    if not args.no_mail and mail_edition(settings, edition):
        print(_("mailed to %(n)s recipient(s)") % {"n": len(settings.report_mail_to or ())})
    return 0


def _print_report_path(settings: Settings) -> Path | None:
    """Print the latest edition's files; return its executive report."""
    from reports.edition import executive_report
    from reports.publish import latest_edition

    edition = latest_edition(settings.reports_dir)
    if edition is None:
        return None
    print(_("reports: %(latest)s (edition %(date)s, index: %(index)s)") % {
        "latest": settings.reports_dir / "latest", "date": edition.as_of.isoformat(),
        "index": settings.reports_dir / "index.html"})
    for path in edition.files:
        print(f"  {path.name}")
    return executive_report(edition.path)


def reconcile_report(report_path: Path, truth: dict) -> list[tuple[str, str, str, bool]]:
    """Compare the report's machine-readable headline figures with the ground truth."""
    from reports.html import read_report_metrics

    metrics = read_report_metrics(report_path)
    rows = []
    for name in RECONCILED_FIGURES:
        expected, actual = str(truth["figures"][name]), metrics.get(name, "missing")
        same = actual != "missing" and Decimal(actual) == Decimal(expected)
        rows.append((name, expected, actual, same))
    return rows


def _reset_warehouse(settings: Settings) -> None:
    """The demo starts from an empty warehouse so its figures match the freshly generated company."""
    for path in warehouse_files(settings.duckdb_path):  # the marts file too (connectors/marts_file.py)
        path.unlink(missing_ok=True)
    shutil.rmtree(settings.dlt_dir, ignore_errors=True)


def cmd_demo(args: argparse.Namespace) -> int:
    from connectors.sandbox import generate

    settings = Settings.from_env()
    total = time.perf_counter()
    started = time.perf_counter()
    truth = generate(settings.sandbox_dir, seed=args.seed, scale=args.scale)
    _progress(_("generated the sandbox company: %(scale)s leads, seed %(seed)s") % {
        "scale": args.scale, "seed": args.seed}, started)
    _reset_warehouse(settings)
    with serving_sandbox(settings) as env:
        _progress(_("fake Salesforce serving on %(url)s") % {"url": env["SALESFORCE_INSTANCE_URL"]})
        _run_pipeline(args.verbose)
    report = _print_report_path(Settings.from_env())
    if report is None:
        raise CliError(_("the run succeeded but wrote no report; see the run in the Dagster UI (make dev)"))
    rows = reconcile_report(report, truth)
    print("\n" + _("report vs sandbox ground truth:"))
    for name, expected, actual, same in rows:
        print(f"  {'ok ' if same else 'BAD'} {name:<20} report={actual:<16} truth={expected}")
    _progress(_("demo finished"), total)
    if not all(same for *_, same in rows):
        raise CliError(_("the report does not reconcile with the ground truth (see BAD lines above)"))
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    """Open the Dagster UI on 127.0.0.1 with the sandbox's sources running."""
    import subprocess

    from orchestration.instance import ensure_dagster_home
    from orchestration.prepare import prepare_dbt_manifest

    settings = Settings.from_env()
    if not (settings.sandbox_dir / "ground_truth.json").exists():
        from connectors.sandbox import generate

        generate(settings.sandbox_dir, seed=DEFAULT_SEED, scale=DEFAULT_SCALE)
    prepare_dbt_manifest()
    settings.export_paths()
    ensure_dagster_home(settings)
    bin_dir = Path(sys.executable).parent
    # `dagster dev` re-prepares the dbt manifest with the `dbt` on PATH: make it the venv's.
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    dagster = str(bin_dir / "dagster")
    cmd = [dagster, "dev", "-h", "127.0.0.1", "-p", str(args.port), "-m", "orchestration.definitions"]
    with serving_sandbox(settings):
        _progress(_("Dagster UI on %(url)s (Ctrl-C to stop)") % {"url": f"http://127.0.0.1:{args.port}"})
        try:
            return subprocess.call(cmd)
        except KeyboardInterrupt:
            return 0


def available_benchmarks(folder: Path = BENCHMARKS_DIR) -> list[str]:
    """The benchmarks `ltc bench` can run: benchmarks/<name>.py, helpers left out."""
    return sorted(p.stem for p in folder.glob("*.py") if not p.stem.startswith("_") and p.stem not in _NOT_BENCHMARKS)


def bench_command(args: argparse.Namespace) -> list[str]:
    """`python -m benchmarks.<name>` with the options given to `ltc bench` (and only those: the
    benchmark's own defaults apply otherwise), then any other options, passed through as they are."""
    cmd = [sys.executable, "-m", f"benchmarks.{args.benchmark}"]
    if args.scales:
        cmd += ["--scales", *(str(n) for n in args.scales)]
    if args.repeat is not None:
        cmd += ["--repeat", str(args.repeat)]
    if args.warehouse:
        cmd += ["--warehouse", args.warehouse]
    return cmd + list(args.passthrough)


def cmd_bench(args: argparse.Namespace) -> int:
    """Run one benchmark from the repository root, then regenerate BENCHMARKS.md from every results
    file (benchmarks/markdown.py) unless --no-markdown."""
    import subprocess

    names = available_benchmarks()
    if not names:
        raise CliError(f"no benchmarks in {BENCHMARKS_DIR}: `ltc bench` runs from a source checkout "
                       "(pip install -e .)")
    if args.benchmark not in names:
        raise CliError(f"no benchmark {args.benchmark!r}; one of: {', '.join(names)}")
    cmd = bench_command(args)
    _progress("running " + " ".join(["python", *cmd[1:]]))
    returncode = subprocess.call(cmd, cwd=REPO_ROOT)
    if returncode != 0:
        raise CliError(f"benchmarks.{args.benchmark} failed (exit {returncode}); BENCHMARKS.md left as it was")
    if args.markdown:
        if subprocess.call([sys.executable, "-m", "benchmarks.markdown"], cwd=REPO_ROOT) != 0:
            raise CliError("regenerating BENCHMARKS.md failed (python -m benchmarks.markdown)")
    return 0


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ltc", description=_("Lead-to-cash visibility platform"))
    parser.add_argument("--verbose", action="store_true", help=_("show tracebacks on failure"))
    parser.add_argument("--locale", help=_("language of the messages and reports: en or zh_CN (default: $LTC_LOCALE, else en)"))
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help=_("generate the sandbox company and run everything once"))
    demo.add_argument("--scale", type=int, default=DEFAULT_SCALE, help=_("number of leads"))
    demo.add_argument("--seed", type=int, default=DEFAULT_SEED)
    demo.set_defaults(func=cmd_demo)

    sandbox = sub.add_parser("sandbox", help=_("the synthetic sandbox company"))
    sandbox_sub = sandbox.add_subparsers(dest="sandbox_command", required=True)
    gen = sandbox_sub.add_parser("generate", help=_("write the sandbox company and its ground truth"))
    gen.add_argument("--scale", type=int, default=DEFAULT_SCALE, help=_("number of leads"))
    gen.add_argument("--seed", type=int, default=DEFAULT_SEED)
    gen.add_argument("--out", help=_("output folder (default $LTC_HOME/sandbox)"))
    gen.add_argument("--region", choices=("default", "cn"), default="default",
                     help=_("where the company sells: default (NA/EMEA/UK) or cn (China: Chinese names, CNY)"))
    gen.add_argument("--reporting-currency", type=str.upper, metavar="CCY",
                     help=_("the company's reporting currency, one it trades in: its FX rates are written "
                          "into it and `ltc demo/run/dev` on this sandbox report in it "
                          "(default: CNY for --region cn, else USD)"))
    gen.add_argument("--story", choices=("default", "improving"), default="default",
                     help=_("how the company behaves over time: default (one year) or improving (two years, "
                          "LTC discipline adopted halfway; planted panel figures in ground_truth.json)"))
    gen.set_defaults(func=cmd_sandbox_generate)
    mut = sandbox_sub.add_parser("mutate", help=_("change the sandbox company as its sources look the next day"))
    mut.add_argument("--fraction", type=float, default=0.01, help=_("share of every source's records changed"))
    mut.add_argument("--seed", type=int, default=1)
    mut.add_argument("--sandbox", help=_("the sandbox folder (default $LTC_HOME/sandbox)"))
    mut.set_defaults(func=cmd_sandbox_mutate)
    serve = sandbox_sub.add_parser("serve", help=_("serve the sandbox's fake APIs on 127.0.0.1"))
    serve.set_defaults(func=cmd_sandbox_serve)

    ingest = sub.add_parser("ingest", help=_("run one connector against the configured source"))
    ingest.add_argument("system", choices=SYSTEMS)
    ingest.set_defaults(func=cmd_ingest)

    run = sub.add_parser("run", help=_("the full refresh against the configured sources, via Dagster"))
    run.set_defaults(func=cmd_run)

    report = sub.add_parser("report", help=_("rebuild and publish the reports from the warehouse (and mail them)"))
    report.add_argument("--no-mail", action="store_true", help=_("publish without mailing, even when mail is configured"))
    report.set_defaults(func=cmd_report)

    dev = sub.add_parser("dev", help=_("open the Dagster UI on 127.0.0.1 against the sandbox"))
    dev.add_argument("--port", type=int, default=3000)
    dev.set_defaults(func=cmd_dev)

    bench = sub.add_parser(
        "bench", allow_abbrev=False,  # `--scale` (floor, incremental) must not be read as `--scales`
        formatter_class=argparse.RawDescriptionHelpFormatter,
        help=_("run a benchmark (default: the full refresh by scale) and regenerate BENCHMARKS.md"),
        description=_("Run `python -m benchmarks.<name>` from the source checkout, then regenerate\n"
                    "BENCHMARKS.md from benchmarks/results/*.json. Options not listed here go to the\n"
                    "benchmark as they are."),
        epilog="examples:\n"
               "  ltc bench --scales 10000 100000 --repeat 3\n"
               "  ltc bench --scales 100000 --repeat 1 --warehouse postgres\n"
               "  ltc bench floor --scale 10000")
    bench.add_argument("benchmark", nargs="?", default="scale",
                       help=_("benchmarks/<name>.py: scale (default), floor, incremental, spark, erp, ..."))
    bench.add_argument("--scales", type=int, nargs="+", help=_("scale: sandbox sizes in leads (default 10000 100000)"))
    bench.add_argument("--repeat", type=int, help=_("repeats per measurement; the figures are their medians"))
    bench.add_argument("--warehouse", choices=("duckdb", "postgres"),
                       help=_("scale: the warehouse (postgres: a fresh database per repeat, dropped after)"))
    bench.add_argument("--no-markdown", dest="markdown", action="store_false",
                       help=_("do not regenerate BENCHMARKS.md afterwards"))
    bench.set_defaults(func=cmd_bench, accepts_passthrough=True)
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The parsed command line. Only `ltc bench` takes options it does not know (they go to the
    benchmark: `passthrough`); anywhere else they are an error, as with `parse_args`."""
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and not getattr(args, "accepts_passthrough", False):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    args.passthrough = rest
    return args


def _choose_locale(args: argparse.Namespace) -> str:
    """`--locale`, else the settings' LTC_LOCALE, checked. `--locale` is also exported as
    LTC_LOCALE, so the reports this command builds (here or in a Dagster run) use it too."""
    if args.locale:
        locale = check_locale(args.locale, "--locale")
        os.environ["LTC_LOCALE"] = locale
        return locale
    try:
        value = Settings.from_env().locale
    except ValueError:  # another setting is wrong: the command itself reports it
        return check_locale(None)
    return check_locale(value, "LTC_LOCALE")


def _help_locale(argv: list[str] | None) -> str:
    """The locale of the parser's own texts (--help, usage errors), known before parsing: the
    `--locale X` / `--locale=X` on the command line, else LTC_LOCALE; English when neither names a
    known locale (`_choose_locale` reports a wrong one after parsing)."""
    words = list(sys.argv[1:] if argv is None else argv)
    value = os.environ.get("LTC_LOCALE")
    for i, word in enumerate(words):
        if word == "--locale" and i + 1 < len(words):
            value = words[i + 1]
        elif word.startswith("--locale="):
            value = word.split("=", 1)[1]
    try:
        return check_locale(value)
    except UnknownLocale:
        return check_locale(None)


def main(argv: list[str] | None = None) -> int:
    apply_offline_defaults()
    with using(_help_locale(argv)):  # the help texts are gettext messages, translated as the parser is built
        args = parse_args(argv)
    try:
        locale = _choose_locale(args)
    except UnknownLocale as exc:  # before any locale is known: English
        print(f"ltc: error: {exc}", file=sys.stderr)
        return 2
    with using(locale):
        try:
            return args.func(args)
        except KeyboardInterrupt:
            print(_("ltc: interrupted"), file=sys.stderr)
            return 130
        except Exception as exc:  # the error for the user (orchestration/cli_errors.py); the traceback with --verbose
            if args.verbose:
                raise
            for line in error_lines(exc, locale):
                print(line, file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())
