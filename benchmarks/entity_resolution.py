"""Entity resolution: the deterministic crosswalk vs splink, side by side on the sandbox company.

`python -m benchmarks.entity_resolution [--scales 2000,20000] [--repeat 3] [--splink-python PATH]`

Why: issue 5 asks whether splink (Fellegi-Sunter probabilistic linkage on DuckDB) earns a place
next to `int_accounts_resolved` / `dim_accounts`, the deterministic cascade (CRM id stored in the
ERP, the ERP customer number written back to the CRM, tax id, known IBANs, invoice references, then
the normalised name). We answer with measurements on the same inputs:

  inputs   the sandbox company (connectors.sandbox.generator, landed through the real connectors by
           tests/dbt/sandbox_pipeline.py), with the cases tests/dbt/test_dim_accounts.py plants
           (`_plant`: lost CRM ids, a lost AccountNumber, a duplicate ERP customer, an unknown
           payer); the truth is the generator's own simulation (`_truth`, same seed and scale).
  clean    exactly that: the sandbox as generated. Its names are exact copies across systems.
  degraded the same company with the noise real systems have and the sandbox does not (seeded,
           `_degrade`): for 30% of ERP customers the CRM sync never ran (no CRM id in the ERP, no
           AccountNumber in the CRM) and most of those names are spelled differently (typo,
           dropped letter, abbreviated word, extra word); 30% of ERP customers lack their IBAN;
           30% of payers' bank names are truncated or misspelt. This noise model is ours, an
           assumption, not a measurement of real data.

  (a) deterministic: `dbt run --select int_accounts_resolved dim_accounts` (staging built once,
      untimed) with tests/dbt/conftest.py's run_dbt; the crosswalk rows are its answer.
  (b) splink 5 (DuckDB backend), link_only, in two stages: ERP customers -> CRM accounts on CRM id,
      customer/account number, normalised name (Jaro-Winkler levels, term-frequency adjusted),
      country and currency; then bank payers -> CRM accounts on IBAN (the accounts carry the IBANs
      of the ERP customers stage 1 linked at p >= 0.9), name, country (the IBAN's) and currency.
      u from random sampling, m by EM (each comparison trained on a blocking rule that does not
      use it: the name on same-country-and-currency pairs), prior from deterministic rules.
      Tax id and domain cannot be compared: the CRM has no tax id, and no ERP or bank record
      carries a domain or e-mail (only CRM contacts do), so they are not in the model.
      A record's answer is its best-scoring account at or above the threshold ("best"), or only
      when a single account clears it ("unique", the cascade's own never-guess rule).
  (c) hybrid: (a), and (b) only for the records (a) leaves unmatched - what adopting splink as a
      last rule of the cascade would give.

Each measured run is a fresh child process (peak RSS is its own, `ru_maxrss`); wall times are
medians of `--repeat`. The splink child runs with sockets disabled, to prove it needs no network.
Precision = right / matched, recall = right / records that have a true CRM account, F1 of the two;
"unmatched" counts records left without an account. Results: benchmarks/results/entity_resolution.json.

The splink side needs an interpreter with splink (the project does not depend on it): run this
module with one (`python -m venv /tmp/splinkvenv && /tmp/splinkvenv/bin/pip install splink`, then
`/tmp/splinkvenv/bin/python -m benchmarks.entity_resolution`), or pass `--splink-python`. The
sandbox and dbt steps then run in the project's interpreter (`--project-python`, default: this one
if it has dbt, else .venv/bin/python). Without splink only (a) is measured.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SEED = 42
THRESHOLDS = (0.5, 0.9, 0.99)
ENRICH_THRESHOLD = 0.9  # stage 1 links that carry an ERP IBAN onto the CRM account for stage 2
INSTALL_HINT = ("python -m venv /tmp/splinkvenv && /tmp/splinkvenv/bin/pip install splink && "
                "/tmp/splinkvenv/bin/python -m benchmarks.entity_resolution  (or --splink-python PATH)")


# ----------------------------------------------------------------------------- helpers

def _has(python: str, module: str) -> bool:
    return subprocess.run([python, "-c", f"import {module}"], capture_output=True).returncode == 0


def _child_env(tmp: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(tmp / "pycache"), "PYTHONPATH": str(REPO)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _run_child(python: str, args: list[str], env: dict) -> dict:
    """One measured child: its wall time and peak RSS (of it and the processes it waited for)."""
    started = time.perf_counter()
    proc = subprocess.Popen([python, "-m", "benchmarks.entity_resolution", "--child", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate()
    seconds = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(f"child {args[0]} failed ({proc.returncode}):\n{out[-2000:]}\n{err[-4000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    result["process_seconds"] = seconds
    return result


def _peak_rss_mb() -> float:
    import resource

    return max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
               resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024


# ----------------------------------------------------------------------------- prepare (project python)

def _name_key_sql(column: str) -> str:
    """dbt_project/macros/names.sql normalize_company_name, for DuckDB, with the macro's suffix list."""
    macro = (REPO / "dbt_project" / "macros" / "names.sql").read_text()
    suffixes = re.findall(r"'([a-z]+)'", re.search(r"return\(\[(.*?)\]\)", macro, re.S).group(1))
    cleaned = f"trim(regexp_replace(regexp_replace(lower({column}), '[.,''`]', '', 'g'), '[^a-z0-9]+', ' ', 'g'))"
    stripped = f"trim(regexp_replace(' ' || {cleaned}, '( ({'|'.join(suffixes)}))+$', '', 'g'))"
    return f"nullif(coalesce(nullif({stripped}, ''), {cleaned}), '')"


def _vary_name(name: str, rng: random.Random, kinds: tuple[str, ...]) -> tuple[str, str]:
    """A realistic misspelling of a company name: (kind, new name). The first word is the brand."""
    words = name.split(" ")
    kind = rng.choice(kinds)
    if kind in ("typo", "drop"):
        w = rng.randrange(0, min(2, len(words)))  # the brand or the second word
        word = words[w]
        if len(word) >= 4:
            i = rng.randrange(1, len(word) - 2)
            words[w] = word[:i] + word[i + 1] + word[i] + word[i + 2:] if kind == "typo" else word[:i] + word[i + 1:]
    elif kind == "abbrev" and len(words) >= 3:  # "Summit Logistics GmbH" -> "Summit Log. GmbH"
        words[1] = words[1][:rng.choice((3, 4))] + "."
    elif kind == "extra":
        words.insert(rng.choice((1, 2)) if len(words) >= 3 else 1, rng.choice(("Group", "International", "Europe")))
    elif kind == "truncate":  # bank name fields are short: the legal form and more are cut
        return kind, name[:rng.choice((12, 14, 16))].rstrip()
    return kind, " ".join(words)


def _degrade(db: Path, scale: int, keep: set[str]) -> dict:
    """Seeded noise the sandbox lacks (see the module docstring); returns what was changed."""
    import duckdb

    rng = random.Random(f"er-degrade-{SEED}-{scale}")
    changed: dict[str, list] = {"unlinked_customers": [], "renamed_customers": [], "customers_without_iban": [],
                                "renamed_payers": []}
    con = duckdb.connect(str(db))
    try:
        rows = con.execute("select customer_id, name, crm_account_id, iban from raw_erp.customers "
                           "order by customer_id").fetchall()
        for cid, name, crm, iban in rows:
            if cid in keep:
                continue
            if crm is not None and rng.random() < 0.3:  # the ERP -> CRM sync never ran for this customer
                con.execute("update raw_erp.customers set crm_account_id = null where customer_id = ?", [cid])
                con.execute("update raw_salesforce.account set account_number = null where id = ?", [crm])
                changed["unlinked_customers"].append(cid)
                if rng.random() < 0.75:
                    kind, new = _vary_name(name, rng, ("typo", "drop", "abbrev", "extra"))
                    if new != name:
                        con.execute("update raw_erp.customers set name = ? where customer_id = ?", [new, cid])
                        changed["renamed_customers"].append([cid, kind, name, new])
            if iban is not None and rng.random() < 0.3:
                con.execute("update raw_erp.customers set iban = null where customer_id = ?", [cid])
                changed["customers_without_iban"].append(cid)
        payers = con.execute("select debtor_iban, min(debtor_name) from raw_finance.bank_transactions "
                             "where credit_debit = 'CRDT' and debtor_iban is not null group by 1 order by 1").fetchall()
        for account, name in payers:
            if rng.random() < 0.3:
                kind, new = _vary_name(name, rng, ("truncate", "typo", "drop"))
                if new != name:
                    con.execute("update raw_finance.bank_transactions set debtor_name = ? where debtor_iban = ?",
                                [new, account])
                    changed["renamed_payers"].append([account, kind, name, new])
    finally:
        con.close()
    return changed


def _export(db: Path, out: Path, iso_of: dict[str, str]) -> dict:
    """The staged inputs both methods read, as parquet for the splink child."""
    import duckdb

    con = duckdb.connect(str(db))
    try:
        con.execute("create or replace temp table country_iso (billing_country varchar, iso varchar)")
        con.executemany("insert into country_iso values (?, ?)", list(iso_of.items()))
        nk = _name_key_sql
        con.execute(f"""copy (
            select a.account_id as unique_id, a.account_id as crm_id, a.erp_customer_number as account_number,
                   a.account_name as name, {nk('a.account_name')} as name_key, c.iso as country, a.currency
            from staging.stg_salesforce__accounts as a left join country_iso as c using (billing_country)
            where not a.is_deleted order by 1) to '{out / 'accounts.parquet'}' (format parquet)""")
        con.execute(f"""copy (
            select customer_id as unique_id, account_id as crm_id, customer_number as account_number,
                   customer_name as name, {nk('customer_name')} as name_key, country, currency,
                   nullif(upper(replace(iban, ' ', '')), '') as iban, nullif(trim(tax_id), '') as tax_id
            from staging.stg_erp__customers where not is_deleted order by 1)
            to '{out / 'customers.parquet'}' (format parquet)""")
        con.execute(f"""copy (
            with r as (
                select debtor_name, currency, nullif(upper(replace(debtor_iban, ' ', '')), '') as debtor_account,
                       {nk('debtor_name')} as name_key
                from staging.stg_finance__bank_transactions where is_credit)
            select coalesce(debtor_account, 'name:' || name_key) as unique_id, min(debtor_name) as name,
                   min(name_key) as name_key, min(debtor_account) as iban,
                   case when regexp_matches(min(debtor_account), '^[A-Z]{{2}}[0-9]{{2}}[A-Z0-9]+$')
                        then left(min(debtor_account), 2) end as country,
                   case when count(distinct currency) = 1 then min(currency) end as currency,
                   count(*) as receipts
            from r where coalesce(debtor_account, name_key) is not null
            group by 1 order by 1) to '{out / 'payers.parquet'}' (format parquet)""")
        return {t: con.execute(f"select count(*) from read_parquet('{out / (t + '.parquet')}')").fetchall()[0][0]
                for t in ("accounts", "customers", "payers")}
    finally:
        con.close()


def _prepare_child(tmp: str, scale: str) -> None:
    """Land the sandbox once, then per scenario: a warehouse copy, the plants, staging built, inputs."""
    sys.path[:0] = [str(REPO / "tests" / "dbt"), str(REPO)]
    from conftest import run_dbt  # tests/dbt/conftest.py
    from sandbox_pipeline import land_sandbox
    from test_dim_accounts import DUPLICATE_CUSTOMER, UNKNOWN_PAYER_IBAN, _plant, _truth

    from connectors.sandbox.generator import REGIONS

    class _Env:  # land_sandbox only calls monkeypatch.setenv
        @staticmethod
        def setenv(key: str, value: str) -> None:
            os.environ[key] = value

    root, n = Path(tmp), int(scale)
    started = time.perf_counter()
    landed, _ = land_sandbox(root / "land", seed=SEED, scale=n, monkeypatch=_Env())
    land_seconds = time.perf_counter() - started
    customers, payers = _truth(SEED, n)
    iso_of = {country: iso for _w, _ccy, countries in REGIONS.values() for country, iso, *_ in countries}
    report: dict = {"land_seconds": round(land_seconds, 1), "scenarios": {}}
    for scenario in ("clean", "degraded"):
        sdir = root / scenario
        sdir.mkdir()
        db = sdir / "warehouse.duckdb"
        shutil.copy(landed, db)
        planted = _plant(db)
        changed = _degrade(db, n, set(planted.values()) | {DUPLICATE_CUSTOMER}) if scenario == "degraded" else {}
        work = sdir / "dbt_work"
        work.mkdir()
        build = run_dbt(["build", "--select", "+dim_accounts", "--indirect-selection", "cautious"], db, work)
        if build.returncode:
            raise SystemExit(build.output[-4000:])
        counts = _export(db, sdir, iso_of)
        truth_customers = {**customers, DUPLICATE_CUSTOMER: customers[planted["dup_of"]]}
        truth_payers = {p: acct for p, (acct, _c) in payers.items()}
        truth_payers[UNKNOWN_PAYER_IBAN] = None  # nobody's: any match is wrong
        (sdir / "truth.json").write_text(json.dumps({"customers": truth_customers, "payers": truth_payers}))
        report["scenarios"][scenario] = {
            "db": str(db), "dir": str(sdir), "inputs": counts, "planted": planted,
            "full_build_seconds": round(build.seconds, 1),
            "degraded": {k: len(v) for k, v in changed.items()},
            "degraded_examples": {k: v[:5] for k, v in changed.items() if v and isinstance(v[0], list)}}
    from importlib.metadata import version

    report["versions"] = {d: version(d) for d in ("dbt-core", "dbt-duckdb", "duckdb", "dlt")}
    print(json.dumps(report))


def _dbt_child(db: str, work: str) -> None:
    """(a): the crosswalk and the dim, on staging built by prepare; dbt's own timing of the two models."""
    sys.path[:0] = [str(REPO / "tests" / "dbt"), str(REPO)]
    from conftest import run_dbt

    run = run_dbt(["run", "--select", "int_accounts_resolved", "dim_accounts"], Path(db), Path(work))
    if run.returncode:
        raise SystemExit(run.output[-4000:])
    results = json.loads((Path(work) / "target" / "run_results.json").read_text())
    models = {r["unique_id"].split(".")[-1]: round(r["execution_time"], 3) for r in results["results"]}
    print(json.dumps({"seconds": run.seconds, "model_seconds": models, "peak_rss_mb": _peak_rss_mb()}))


# ----------------------------------------------------------------------------- splink (splink python)

def _no_network() -> None:
    import socket

    def refuse(*_a, **_k):
        raise OSError("network disabled by benchmarks.entity_resolution")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.socket.connect_ex = refuse  # type: ignore[method-assign]
    socket.create_connection = refuse  # type: ignore[assignment]
    socket.getaddrinfo = refuse  # type: ignore[assignment]


def _splink_child(indir: str, out: str) -> None:
    _no_network()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    import logging

    import duckdb

    import splink
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    timings["import"] = time.perf_counter() - t0
    logging.getLogger("splink").setLevel(logging.ERROR)
    d = Path(indir)
    con = duckdb.connect()
    cols = "unique_id, crm_id, account_number, name_key, country, currency"
    con.execute(f"create table crm_s1 as select {cols} from read_parquet('{d / 'accounts.parquet'}')")
    con.execute(f"create table erp_s1 as select {cols} from read_parquet('{d / 'customers.parquet'}')")
    db_api = DuckDBAPI(connection=con)

    def top_links(predictions, left: str) -> list[list]:
        """Each right-hand record's scored candidates: [record id, CRM account id, probability]."""
        return con.execute(f"""
            with p as (select *, unique_id_l in (select unique_id from {left}) as left_is_l
                       from {predictions.physical_name})
            select case when left_is_l then unique_id_r else unique_id_l end as rid,
                   case when left_is_l then unique_id_l else unique_id_r end as lid,
                   match_probability
            from p order by 1, 3 desc, 2""").fetchall()

    # stage 1: ERP customers -> CRM accounts
    t = time.perf_counter()
    s1 = SettingsCreator(
        link_type="link_only",
        comparisons=[
            cl.ExactMatch("crm_id"),
            cl.ExactMatch("account_number"),
            cl.JaroWinklerAtThresholds("name_key", [0.95, 0.88, 0.8]).configure(term_frequency_adjustments=True),
            cl.ExactMatch("country"),
            cl.ExactMatch("currency"),
        ],
        blocking_rules_to_generate_predictions=[block_on("crm_id"), block_on("account_number"), block_on("country")],
    )
    linker = Linker([db_api.register("crm_s1"), db_api.register("erp_s1")], s1, log_level=logging.ERROR)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("crm_id"), block_on("account_number"), block_on("name_key", "country")], recall=0.9)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    # names: trained on every same-country pair, so misspelt (unlinked) customers reach the fuzzy
    # levels too; on the crm_id block alone every name is exact and the fuzzy levels stay untrained.
    # (A second pass on block_on("name_key") underflows an m below 1e-300 at scale 20000.)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("country", "currency"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("crm_id"))
    timings["stage1_train"] = time.perf_counter() - t
    t = time.perf_counter()
    pred1 = linker.inference.predict(threshold_match_probability=0.01)
    erp = top_links(pred1, "crm_s1")
    timings["stage1_predict"] = time.perf_counter() - t
    weights1 = _match_weights(linker)

    # stage 2: bank payers -> CRM accounts carrying their stage-1 customers' IBANs
    t = time.perf_counter()
    best: dict[str, tuple[str, float]] = {}
    for rid, lid, p in erp:
        if p >= ENRICH_THRESHOLD and (rid not in best or p > best[rid][1]):
            best[rid] = (lid, p)
    con.execute("create table s1_links (customer_id varchar, account_id varchar)")
    if best:
        con.executemany("insert into s1_links values (?, ?)", [[c, a] for c, (a, _p) in best.items()])
    con.execute(f"""create table crm_s2 as
        select a.unique_id || '#' || coalesce(c.iban, '') as unique_id, a.unique_id as account_id,
               a.name_key, a.country, a.currency, c.iban
        from read_parquet('{d / 'accounts.parquet'}') as a
        left join s1_links as l on l.account_id = a.unique_id
        left join read_parquet('{d / 'customers.parquet'}') as c on c.unique_id = l.customer_id and c.iban is not null
        qualify row_number() over (partition by a.unique_id, c.iban) = 1""")
    con.execute(f"""create table bank_s2 as
        select unique_id, cast(null as varchar) as account_id, name_key, country, currency, iban
                    from read_parquet('{d / 'payers.parquet'}')""")
    s2 = SettingsCreator(
        link_type="link_only",
        comparisons=[
            cl.ExactMatch("iban"),
            cl.JaroWinklerAtThresholds("name_key", [0.95, 0.88, 0.8]).configure(term_frequency_adjustments=True),
            cl.ExactMatch("country"),
            cl.ExactMatch("currency"),
        ],
        blocking_rules_to_generate_predictions=[block_on("iban"), block_on("country"),
                                                block_on("substr(name_key, 1, 3)")],
    )
    linker2 = Linker([db_api.register("crm_s2"), db_api.register("bank_s2")], s2, log_level=logging.ERROR)
    linker2.training.estimate_probability_two_random_records_match(
        [block_on("iban"), block_on("name_key")], recall=0.8)
    linker2.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    linker2.training.estimate_parameters_using_expectation_maximisation(block_on("iban"))
    linker2.training.estimate_parameters_using_expectation_maximisation(block_on("name_key"))
    timings["stage2_train"] = time.perf_counter() - t
    t = time.perf_counter()
    pred2 = linker2.inference.predict(threshold_match_probability=0.01)
    acct_of = dict(con.execute("select unique_id, account_id from crm_s2").fetchall())
    bank_raw = top_links(pred2, "crm_s2")
    agg: dict[tuple[str, str], float] = {}
    for rid, lid, p in bank_raw:  # an account with several IBAN rows: its best row
        key = (rid, acct_of[lid])
        agg[key] = max(p, agg.get(key, 0.0))
    bank = sorted([[r, a, p] for (r, a), p in agg.items()], key=lambda x: (x[0], -x[2], x[1]))
    timings["stage2_predict"] = time.perf_counter() - t
    timings["linkage_total"] = time.perf_counter() - t0 - timings["import"]
    Path(out).write_text(json.dumps({"erp": erp, "bank": bank, "weights": {"erp": weights1,
                                                                          "bank": _match_weights(linker2)}}))
    print(json.dumps({"timings": {k: round(v, 3) for k, v in timings.items()}, "peak_rss_mb": _peak_rss_mb(),
                      "splink": splink.__version__, "duckdb": duckdb.__version__, "network": "disabled",
                      "pairs_scored_p_ge_0.01": {"erp": len(erp), "bank": len(bank_raw)}}))


def _match_weights(linker) -> dict:
    """Trained m and u per comparison level (and the prior), for the results file."""
    model = linker.misc.save_model_to_json() if hasattr(linker, "misc") else {}
    out = {"probability_two_random_records_match": model.get("probability_two_random_records_match")}
    for comp in model.get("comparisons", []):
        out[comp["output_column_name"]] = [
            {"level": lvl.get("label_for_charts"), "m": lvl.get("m_probability"), "u": lvl.get("u_probability")}
            for lvl in comp["comparison_levels"] if not lvl.get("is_null_level")]
    return out


# ----------------------------------------------------------------------------- evaluation

def _deterministic_answers(db: str) -> tuple[dict, dict]:
    """The crosswalk's CRM account per record, and how it got there (or why not)."""
    import duckdb

    con = duckdb.connect(db, read_only=True)
    try:
        rows = con.execute("select source_system, source_id, account_id, account_key, match_method, "
                           "unmatched_reason from intermediate.int_accounts_resolved").fetchall()
    finally:
        con.close()
    out: dict[str, dict] = {"erp": {}, "bank": {}}
    why: dict[str, dict] = {"erp": {}, "bank": {}}
    for system, source_id, account_id, account_key, method, reason in rows:
        out[system][source_id] = account_id
        why[system][source_id] = (method if account_id is not None
                                  else f"{method}, to an ERP customer without CRM account"
                                  if account_key.startswith("erp:") and method != "unmatched"
                                  else f"unmatched: {reason}")
    return out, why


def _splink_answers(pairs: list[list], threshold: float, unique: bool) -> dict[str, str | None]:
    """Best account at or above the threshold; with `unique`, none when two accounts clear it."""
    over: dict[str, list[tuple[str, float]]] = {}
    for rid, lid, p in pairs:
        if p >= threshold:
            over.setdefault(rid, []).append((lid, p))
    out = {}
    for rid, cands in over.items():
        accounts = {a for a, _p in cands}
        if unique and len(accounts) > 1:
            continue
        out[rid] = sorted(cands, key=lambda c: (-c[1], c[0]))[0][0]
    return out


def _score(answers: dict[str, str | None], truth: dict[str, str | None]) -> dict:
    matched = [r for r in truth if answers.get(r) is not None]
    right = [r for r in matched if answers[r] == truth[r]]
    positives = sum(1 for t in truth.values() if t is not None)
    precision = len(right) / len(matched) if matched else 1.0
    recall = len(right) / positives if positives else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"records": len(truth), "matched": len(matched), "right": len(right), "wrong": len(matched) - len(right),
            "unmatched": len(truth) - len(matched), "precision": round(precision, 4), "recall": round(recall, 4),
            "f1": round(f1, 4)}


def _differences(det: dict, spl: dict, truth: dict, names: dict, acct_names: dict, acct_keys: dict, why: dict,
                 limit: int = 8) -> dict:
    """What splink gets right that the cascade misses, and every wrong splink match (examples)."""
    def show(r: str) -> dict:
        return {"id": r, "name": names.get(r), "truth": truth[r], "truth_name": acct_names.get(truth[r]),
                "deterministic": det.get(r), "splink": spl.get(r), "splink_name": acct_names.get(spl.get(r))}

    found = [r for r in truth if truth[r] is not None and det.get(r) != truth[r] and spl.get(r) == truth[r]]
    wrong = [r for r in truth if spl.get(r) is not None and spl[r] != truth[r]]
    lost = [r for r in truth if truth[r] is not None and det.get(r) == truth[r] and spl.get(r) != truth[r]]
    by_cause = sorted(Counter(why.get(r, "?") for r in found).items(), key=lambda kv: -kv[1])
    return {"splink_right_deterministic_not": len(found), "splink_right_deterministic_not_by_cascade_outcome":
            dict(by_cause), "splink_wrong": len(wrong),
            "splink_wrong_where_deterministic_right": sum(1 for r in wrong if det.get(r) == truth[r]),
            "splink_wrong_namesake": sum(1 for r in wrong if truth[r] is not None
                                         and acct_keys.get(spl[r]) == acct_keys.get(truth[r])),
            "deterministic_right_splink_not": len(lost),
            "examples_splink_right_deterministic_not": [show(r) for r in found[:limit]],
            "examples_splink_wrong": [show(r) for r in wrong[:limit]]}


def _evaluate(sdir: Path, det: dict, why: dict, pairs: dict | None) -> dict:
    import duckdb

    truth = json.loads((sdir / "truth.json").read_text())
    con = duckdb.connect()
    names = {s: dict(con.execute(f"select unique_id, name from read_parquet('{sdir / (t + '.parquet')}')").fetchall())
             for s, t in (("erp", "customers"), ("bank", "payers"), ("crm", "accounts"))}
    acct_keys = dict(con.execute(
        f"select unique_id, name_key from read_parquet('{sdir / 'accounts.parquet'}')").fetchall())
    truth_of = {"erp": truth["customers"], "bank": {p: a for p, a in truth["payers"].items()}}
    # the crosswalk has one row per payer it saw; evaluate on those the truth knows
    truth_of["bank"] = {p: a for p, a in truth_of["bank"].items() if p in det["bank"]}
    out: dict = {"deterministic": {s: _score(det[s], truth_of[s]) for s in ("erp", "bank")}}
    if pairs is None:
        return out
    for t in THRESHOLDS:
        for mode in ("best", "unique"):
            spl = {s: _splink_answers(pairs[s], t, mode == "unique") for s in ("erp", "bank")}
            hyb = {s: {r: det[s].get(r) or spl[s].get(r) for r in truth_of[s]} for s in ("erp", "bank")}
            out[f"splink_p{t}_{mode}"] = {s: _score(spl[s], truth_of[s]) for s in ("erp", "bank")}
            out[f"hybrid_p{t}_{mode}"] = {s: _score(hyb[s], truth_of[s]) for s in ("erp", "bank")}
            out[f"splink_p{t}_{mode}"]["vs_deterministic"] = {
                s: _differences(det[s], spl[s], truth_of[s], names[s], names["crm"], acct_keys, why[s])
                for s in ("erp", "bank")}
    return out


# ----------------------------------------------------------------------------- main

def _install_facts(splink_python: str, project_python: str) -> dict:
    """What splink would add to the project: its requirements, and which the project already has."""
    probe = ("import json, importlib.metadata as m, pathlib, splink; "
             "d = pathlib.Path(splink.__file__).parent; "
             "print(json.dumps({'version': m.version('splink'), 'requires': [r for r in m.requires('splink') "
             "if 'extra ==' not in r], 'package_mb': round(sum(f.stat().st_size for f in d.rglob('*') "
             "if f.is_file()) / 2**20, 1), 'installed': {x.metadata['Name'].lower(): x.version "
             "for x in m.distributions()}}))")
    facts = json.loads(subprocess.run([splink_python, "-c", probe], capture_output=True, text=True,
                                      check=True).stdout)
    project = json.loads(subprocess.run(
        [project_python, "-c", "import json, importlib.metadata as m; "
                               "print(json.dumps({x.metadata['Name'].lower(): x.version for x in m.distributions()}))"],
        capture_output=True, text=True, check=True).stdout)
    deps = [re.split(r"[<>=!~ ;\[]", r, maxsplit=1)[0].lower() for r in facts["requires"]]
    return {"version": facts["version"], "requires": facts["requires"], "package_mb": facts["package_mb"],
            "distributions_in_splink_env": len(facts["installed"]),
            "requirements_already_in_project": {d: {"project": project.get(d), "splink_env": facts["installed"].get(d)}
                                                for d in deps},
            "new_distributions_for_project": [d for d in ["splink", *deps] if d not in project]}



def _run_to_run(first: dict, others: list[dict]) -> dict:
    """Do repeated splink runs give the same answers? (DuckDB's parallel sums differ in the last bits.)"""
    diff, flips = 0.0, 0
    for other in others:
        for system in ("erp", "bank"):
            a = {(r, c): p for r, c, p in first[system]}
            b = {(r, c): p for r, c, p in other[system]}
            for key in a.keys() | b.keys():
                diff = max(diff, abs(a.get(key, 0.0) - b.get(key, 0.0)))
                flips += sum((a.get(key, 0.0) >= t) != (b.get(key, 0.0) >= t) for t in THRESHOLDS)
    return {"runs_compared": len(others) + 1, "max_probability_difference": diff, "threshold_decisions_changed": flips}


def _med(runs: list[dict], key: str) -> float:
    return round(statistics.median(r[key] for r in runs), 2)


def _median_run(runs: list[dict], key: str) -> dict:
    return sorted(runs, key=lambda r: r[key])[len(runs) // 2]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="2000,20000", help="sandbox scales (leads); 2000 is the generator default")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--splink-python", default=os.environ.get("SPLINK_PYTHON"))
    parser.add_argument("--project-python", default=os.environ.get("LTC_PROJECT_PYTHON"))
    parser.add_argument("--out", default=None, help="default benchmarks/results/entity_resolution.json")
    parser.add_argument("--workdir", default=None, help="keep the sandboxes here (default: a temporary directory)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        {"prepare": _prepare_child, "dbt": _dbt_child, "splink": _splink_child}[kind](*rest)
        return {}

    project_python = args.project_python or (sys.executable if _has(sys.executable, "dbt.version")
                                             else str(REPO / ".venv" / "bin" / "python"))
    splink_python = args.splink_python or (sys.executable if _has(sys.executable, "splink") else None)
    if splink_python and not _has(splink_python, "splink"):
        splink_python = None
    if splink_python is None:
        print(f"splink is not importable: measuring only the deterministic crosswalk. To compare, install it "
              f"outside the project's environment: {INSTALL_HINT}", flush=True)
    report: dict = {
        "splink_install": _install_facts(splink_python, project_python) if splink_python else None,
        "command": "python -m benchmarks.entity_resolution", "seed": SEED, "repeat": args.repeat,
        "when": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "thresholds": list(THRESHOLDS), "enrich_threshold": ENRICH_THRESHOLD,
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                    "load_average_1m_at_start": round(os.getloadavg()[0], 2)},
        "splink_available": splink_python is not None, "summary": [], "scales": {},
    }
    with tempfile.TemporaryDirectory(prefix="ltc_bench_er_") as tmp_name:
        tmp = Path(args.workdir or tmp_name)
        tmp.mkdir(parents=True, exist_ok=True)
        env = _child_env(tmp)
        for scale in [int(s) for s in args.scales.split(",") if s]:
            prep = _run_child(project_python, ["prepare", str(tmp / f"s{scale}"), str(scale)], env)
            report["versions"] = prep["versions"]
            print(f"scale {scale}: landed in {prep['land_seconds']} s; inputs "
                  f"{prep['scenarios']['clean']['inputs']}", flush=True)
            report["scales"][str(scale)] = per_scale = {"land_seconds": prep["land_seconds"]}
            for scenario, sc in prep["scenarios"].items():
                sdir = Path(sc["dir"])
                det_runs, spl_runs = [], []
                for i in range(args.repeat):  # side by side
                    work = sdir / f"dbt_run_{i}"
                    work.mkdir()
                    det_runs.append(_run_child(project_python, ["dbt", sc["db"], str(work)], env))
                    if splink_python:
                        spl_runs.append(_run_child(splink_python, ["splink", str(sdir), str(sdir / f"pairs_{i}.json")],
                                                   env))
                    print(f"  {scenario} run {i + 1}: deterministic {det_runs[-1]['process_seconds']:.1f} s"
                          + (f", splink {spl_runs[-1]['process_seconds']:.1f} s" if spl_runs else ""), flush=True)
                det, why = _deterministic_answers(sc["db"])
                pairs = json.loads((sdir / "pairs_0.json").read_text()) if spl_runs else None
                res = {"inputs": sc["inputs"], "planted": sc["planted"], "degraded": sc["degraded"],
                       "degraded_examples": sc["degraded_examples"],
                       "deterministic_timing": {
                           "median_process_seconds": _med(det_runs, "process_seconds"),
                           "median_dbt_seconds": _med(det_runs, "seconds"),
                           "models_seconds_of_median_run": _median_run(det_runs, "seconds")["model_seconds"],
                           "median_peak_rss_mb": round(_med(det_runs, "peak_rss_mb")),
                           "full_build_plus_dim_accounts_seconds": sc["full_build_seconds"]}}
                if spl_runs:
                    res["splink_timing"] = {
                        "median_process_seconds": _med(spl_runs, "process_seconds"),
                        "median_linkage_seconds": round(statistics.median(r["timings"]["linkage_total"]
                                                                          for r in spl_runs), 2),
                        "timings_of_median_run": _median_run(spl_runs, "process_seconds")["timings"],
                        "median_peak_rss_mb": round(_med(spl_runs, "peak_rss_mb")),
                        "pairs_scored": spl_runs[0]["pairs_scored_p_ge_0.01"], "network": spl_runs[0]["network"]}
                    report["splink_versions"] = {"splink": spl_runs[0]["splink"], "duckdb": spl_runs[0]["duckdb"]}
                    res["splink_trained_parameters"] = pairs.pop("weights")
                    res["splink_run_to_run"] = _run_to_run(pairs, [json.loads((sdir / f"pairs_{i}.json").read_text())
                                                                   for i in range(1, len(spl_runs))])
                res["quality"] = _evaluate(sdir, det, why, pairs)
                per_scale[scenario] = res
                for method, q in res["quality"].items():
                    report["summary"].append({"scale": scale, "scenario": scenario, "method": method, **{
                        f"{s}_{m}": q[s][m] for s in ("erp", "bank")
                        for m in ("right", "wrong", "unmatched", "precision", "recall", "f1")}})
                q = res["quality"]
                line = (f"  {scenario}: deterministic erp F1 {q['deterministic']['erp']['f1']} "
                        f"bank F1 {q['deterministic']['bank']['f1']}")
                if pairs:
                    s = q["splink_p0.9_best"]
                    line += f"; splink p0.9 erp F1 {s['erp']['f1']} bank F1 {s['bank']['f1']}"
                print(line, flush=True)
    report["machine"]["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    out = Path(args.out) if args.out else Path(__file__).with_name("results") / "entity_resolution.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return report


if __name__ == "__main__":
    main()
