//! The ledger's invariants, re-derived from the transfers for `doudi check`: every account's
//! balance is the sum of its transfers, debits equal credits, no limited account is overdrawn,
//! and each fund's committed balance is what its reserving instructions hold.

use crate::store::Store;
use sqlx::Row;

impl Store {
    /// Every violated invariant, described; empty when the ledger holds.
    pub async fn ledger_problems(&self) -> Result<Vec<String>, sqlx::Error> {
        let mut problems = Vec::new();
        // Each side summed in one pass over the transfers (not per account: payrolls open an
        // account per household).
        let mut sums: std::collections::HashMap<i64, (i64, i64)> = std::collections::HashMap::new();
        for (column, debit) in [("debit_account", true), ("credit_account", false)] {
            let sql = format!(
                "SELECT {column} AS account, CAST(SUM(amount_fen) AS BIGINT) AS fen FROM ledger_transfers GROUP BY {column}"
            );
            for row in sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(self.db.reads()).await? {
                let entry = sums.entry(row.try_get("account")?).or_default();
                let fen: i64 = row.try_get("fen")?;
                if debit { entry.0 += fen } else { entry.1 += fen }
            }
        }
        let rows = sqlx::query("SELECT id, code, limited, debits_fen, credits_fen FROM ledger_accounts ORDER BY code")
            .fetch_all(self.db.reads())
            .await?;
        let summed = |row: &sqlx::any::AnyRow| -> Result<(i64, i64), sqlx::Error> {
            Ok(sums.get(&row.try_get::<i64, _>("id")?).copied().unwrap_or_default())
        };
        let (mut all_debits, mut all_credits) = (0i64, 0i64);
        for row in &rows {
            let code: String = row.try_get("code")?;
            let (kept_d, kept_c): (i64, i64) = (row.try_get("debits_fen")?, row.try_get("credits_fen")?);
            let (sum_d, sum_c) = summed(row)?;
            if (kept_d, kept_c) != (sum_d, sum_c) {
                problems.push(format!(
                    "ledger account {code}: balance {kept_d}/{kept_c} (debits/credits) but its transfers sum to {sum_d}/{sum_c}"
                ));
            }
            if row.try_get::<i64, _>("limited")? == 1 && sum_c < sum_d {
                problems.push(format!("ledger account {code} is overdrawn: debits {sum_d} exceed credits {sum_c}"));
            }
            all_debits += sum_d;
            all_credits += sum_c;
        }
        if all_debits != all_credits {
            problems.push(format!("ledger: debits {all_debits} differ from credits {all_credits}"));
        }
        let committed = sqlx::query(
            "SELECT i.fund, i.budget_year, CAST(SUM(i.amount_fen) AS BIGINT) AS reserved FROM instructions i
             WHERE i.state IN ('DRAFT', 'APPROVED', 'SENT') GROUP BY i.fund, i.budget_year",
        )
        .fetch_all(self.db.reads())
        .await?;
        let mut reserved: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
        for row in &committed {
            let (fund, year): (String, i64) = (row.try_get("fund")?, row.try_get("budget_year")?);
            reserved.insert(format!("fund:{fund}:{year}:committed"), row.try_get("reserved")?);
        }
        for row in &rows {
            let code: String = row.try_get("code")?;
            if code.ends_with(":committed") {
                let (debits, credits) = summed(row)?;
                let balance = credits - debits;
                let held = reserved.remove(&code).unwrap_or(0);
                if balance != held {
                    problems.push(format!(
                        "ledger account {code} holds {balance} fen but its instructions reserve {held} fen"
                    ));
                }
            }
        }
        for (code, held) in reserved {
            problems.push(format!("instructions reserve {held} fen in {code}, an account with no transfers"));
        }
        // The payee side: each payee's owed account is what its approved (and sent) instructions
        // owe it, its paid account what the bank paid it; each fund's obligations, what its
        // approved instructions owe or paid; each fund's paid account, what the bank paid from it.
        let owed = sqlx::query(
            "SELECT 'payee:' || payee_kind || ':' || payee_ref || ':owed' AS code, CAST(SUM(amount_fen) AS BIGINT) AS fen \
             FROM instructions WHERE state IN ('APPROVED', 'SENT') GROUP BY payee_kind, payee_ref \
             UNION ALL SELECT 'fund:' || fund || ':' || budget_year || ':obligations' AS code, \
             CAST(-SUM(amount_fen) AS BIGINT) AS fen FROM instructions WHERE state IN ('APPROVED', 'SENT', 'PAID') \
             GROUP BY fund, budget_year \
             UNION ALL SELECT 'payee:' || payee_kind || ':' || payee_ref || ':paid' AS code, CAST(SUM(amount_fen) AS BIGINT) AS fen \
             FROM instructions WHERE state = 'PAID' GROUP BY payee_kind, payee_ref \
             UNION ALL SELECT 'fund:' || fund || ':' || budget_year || ':paid' AS code, CAST(SUM(amount_fen) AS BIGINT) AS fen \
             FROM instructions WHERE state = 'PAID' GROUP BY fund, budget_year",
        )
        .fetch_all(self.db.reads())
        .await?;
        let mut expected: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
        for row in &owed {
            expected.insert(row.try_get("code")?, row.try_get("fen")?);
        }
        for row in &rows {
            let code: String = row.try_get("code")?;
            if code.ends_with(":owed") || code.ends_with(":obligations") || code.ends_with(":paid") {
                let (debits, credits) = summed(row)?;
                let balance = credits - debits;
                let due = expected.remove(&code).unwrap_or(0);
                if balance != due {
                    problems
                        .push(format!("ledger account {code} holds {balance} fen but its instructions say {due} fen"));
                }
            }
        }
        for (code, due) in expected {
            problems.push(format!("instructions say {due} fen for {code}, an account with no transfers"));
        }
        Ok(problems)
    }
}

impl Store {
    /// An account's balance (credits − debits) as posted; zero for an account never opened.
    pub async fn account_balance(&self, code: &str) -> Result<i64, sqlx::Error> {
        let mut conn = self.db.reads().acquire().await?;
        Ok(crate::ledger::store::balance(&mut conn, code, false).await?.credit_balance())
    }
}
