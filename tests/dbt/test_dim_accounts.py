"""dim_accounts / int_accounts_resolved on the sandbox company, measured against the generator's truth.

`ground_truth.json` holds no customer mapping, so the truth is taken from the generator's own
simulation (same seed and scale, in memory): every ERP customer belongs to one Salesforce account,
and every bank receipt is paid by its invoice's customer from that customer's IBAN (else its
domestic account number). Before dbt runs, the raw tables get the situations the cascade exists
for, each with a known answer:
  - one ERP customer loses its CRM id (-> account_number),
  - one loses its CRM id and its account loses the AccountNumber (-> name),
  - a duplicate ERP customer under another name, no CRM id, same tax id (-> tax_id),
  - a receipt from a payer nobody knows (-> unmatched, and a row of its own in dim_accounts).
The test prints the match rate per source and asserts it, and asserts no wrong match at all.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import query, run_dbt

from connectors.marts_file import connect_warehouse

pytestmark = [pytest.mark.slow, pytest.mark.extended]

UNKNOWN_PAYER_IBAN = "DE00UNKNOWNPAYER0001"
DUPLICATE_CUSTOMER = "C999001"


def _norm(identifier: str | None) -> str | None:
    return identifier.replace(" ", "").upper() if identifier else None


def _truth(seed: int, scale: int) -> tuple[dict, dict]:
    """(ERP customer_id -> Salesforce Account Id, payer id -> (Account Id, customer_id)) per the generator."""
    from connectors.sandbox.generator import _Company

    company = _Company(seed, scale)
    company.simulate()
    customers = {c["id"]: c["account"]["Id"] for c in company.customers}
    payers = {}
    for r in company.receipts:
        c = r["invoice"]["customer"]
        payers[_norm(c["iban"] or c["acct_no"])] = (c["account"]["Id"], c["id"])
    return customers, payers


def _plant(db: Path) -> dict:

    con = connect_warehouse(db, read_only=False)
    try:
        rows = con.execute("select customer_id, crm_account_id from raw_erp.customers "
                           "where crm_account_id is not null order by customer_id").fetchall()
        assert len(rows) >= 3, "the sandbox should have at least three linked ERP customers"
        (by_number, _), (by_name, by_name_account), (dup_of, _) = rows[0], rows[1], rows[2]
        con.execute("update raw_erp.customers set crm_account_id = null where customer_id in (?, ?)",
                    [by_number, by_name])
        con.execute("update raw_salesforce.account set account_number = null where id = ?", [by_name_account])
        con.execute(f"""insert into raw_erp.customers
            select * replace ('{DUPLICATE_CUSTOMER}' as customer_id, 'CUST-99901' as customer_number,
                              name || ' Holding' as name, null as crm_account_id, null as iban)
            from raw_erp.customers where customer_id = ?""", [dup_of])
        con.execute(f"""insert into raw_finance.bank_transactions
            select * replace (transaction_id || '-X' as transaction_id, entry_reference || '-X' as entry_reference,
                              'Nobody Known GmbH' as debtor_name, '{UNKNOWN_PAYER_IBAN}' as debtor_iban,
                              'PAYMENT' as remittance_unstructured)
            from raw_finance.bank_transactions where credit_debit = 'CRDT'
            order by transaction_id limit 1""")
    finally:
        con.close()
    return {"by_number": by_number, "by_name": by_name, "dup_of": dup_of}


def test_dim_accounts_match_rate_against_sandbox_truth(tmp_path: Path, dbt_work: Path, monkeypatch):
    from sandbox_pipeline import land_sandbox

    seed, scale = 42, int(os.environ.get("LTC_TEST_SCALE", "300"))
    db, _ = land_sandbox(tmp_path, seed=seed, scale=scale, monkeypatch=monkeypatch)
    planted = _plant(db)
    truth_customers, truth_payers = _truth(seed, scale)
    truth_customers[DUPLICATE_CUSTOMER] = truth_customers[planted["dup_of"]]

    run = run_dbt(["build", "--select", "+dim_accounts", "--indirect-selection", "cautious"], db, dbt_work)
    assert run.returncode == 0, run.output[-4000:]

    resolved = {(s, i): (acct, cust, method) for s, i, acct, cust, method in query(
        db, "select source_system, source_id, account_id, customer_id, match_method "
            "from intermediate.int_accounts_resolved")}

    # ERP customers -> CRM accounts
    erp = {i: v for (s, i), v in resolved.items() if s == "erp"}
    assert set(erp) == set(truth_customers), "every live ERP customer has a crosswalk row"
    erp_right = [i for i, t in truth_customers.items() if erp[i][0] == t]
    erp_wrong = [i for i, t in truth_customers.items() if erp[i][0] is not None and erp[i][0] != t]
    # bank payers -> accounts (and the customer, where the rule names one)
    bank = {i: v for (s, i), v in resolved.items() if s == "bank"}
    assert set(truth_payers) <= set(bank), "every payer of the truth has a crosswalk row"
    bank_right = [p for p, (acct, _) in truth_payers.items() if bank[p][0] == acct]
    bank_wrong = [p for p, (acct, cust) in truth_payers.items()
                  if (bank[p][0] is not None and bank[p][0] != acct) or (bank[p][1] is not None and bank[p][1] != cust)]
    # CRM accounts that are customers per the truth: the dim row carries one of their customers
    dim = {k: (acct, cust, method) for k, acct, cust, method in query(
        db, "select account_key, account_id, customer_id, match_method from marts.dim_accounts")}
    crm_truth = set(truth_customers.values())
    crm_right = [a for a in crm_truth if a in dim and dim[a][1] is not None and truth_customers[dim[a][1]] == a]

    rates = {
        "erp_customers": len(erp_right) / len(truth_customers),
        "bank_payers": len(bank_right) / len(truth_payers),
        "crm_accounts_with_customer": len(crm_right) / len(crm_truth),
    }
    methods = query(db, "select source_system, match_method, count(*) from intermediate.int_accounts_resolved "
                        "group by all order by 1, 2")
    print(f"\nentity resolution, sandbox seed={seed} scale={scale}: "
          + ", ".join(f"{k} {v:.1%} ({n}/{d})" for (k, v), n, d in zip(
              rates.items(), (len(erp_right), len(bank_right), len(crm_right)),
              (len(truth_customers), len(truth_payers), len(crm_truth)))))
    print("methods:", methods)

    assert erp_wrong == [] and bank_wrong == [], f"wrong matches: erp {erp_wrong}, bank {bank_wrong}"
    assert rates["erp_customers"] == 1.0
    assert rates["crm_accounts_with_customer"] == 1.0
    assert rates["bank_payers"] >= 0.9

    # the planted cases resolve by the rule meant for them
    assert erp[planted["by_number"]][2] == "account_number"
    assert erp[planted["by_name"]][2] == "name"
    assert erp[DUPLICATE_CUSTOMER][2] == "tax_id"
    assert bank[UNKNOWN_PAYER_IBAN][0] is None and bank[UNKNOWN_PAYER_IBAN][2] == "unmatched"
    unknown = dim.get(f"bank:{UNKNOWN_PAYER_IBAN}")
    assert unknown is not None and unknown[2] == "unmatched", "an unmatched payer is its own dim_accounts row"
    # the CRM accounts with no ERP customer or payer are still there, unmatched
    live_accounts = query(db, "select count(*) from staging.stg_salesforce__accounts where not is_deleted")[0][0]
    assert sum(1 for k in dim if not k.startswith(("erp:", "bank:"))) == live_accounts
    assert any(m == "unmatched" and acct is not None for acct, _, m in dim.values())
