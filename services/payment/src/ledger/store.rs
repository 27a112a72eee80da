//! Posting transfers: the accounts' balances move in the transfer's transaction, a limited
//! account's debit only if it stays covered.

use crate::ledger::{FundAccounts, PayeeAccounts, TransferKind};
use sqlx::{AnyConnection, Row};

/// An account's debits and credits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Balance {
    pub debits: i64,
    pub credits: i64,
}

impl Balance {
    pub fn credit_balance(self) -> i64 {
        self.credits - self.debits
    }
}

/// The account's id, opening it (with its limit) on first use.
pub(crate) async fn account(conn: &mut AnyConnection, code: &str, limited: bool) -> Result<i64, sqlx::Error> {
    sqlx::query("INSERT INTO ledger_accounts (code, limited) VALUES ($1, $2) ON CONFLICT (code) DO NOTHING")
        .bind(code)
        .bind(i64::from(limited))
        .execute(&mut *conn)
        .await?;
    sqlx::query("SELECT id FROM ledger_accounts WHERE code = $1").bind(code).fetch_one(conn).await?.try_get("id")
}

/// Opens the accounts of a fund and year.
pub(crate) async fn open_fund(conn: &mut AnyConnection, accounts: &FundAccounts) -> Result<(), sqlx::Error> {
    account(conn, &accounts.appropriation, false).await?;
    account(conn, &accounts.available, true).await?;
    account(conn, &accounts.committed, false).await?;
    account(conn, &accounts.paid, false).await?;
    account(conn, &accounts.obligations, false).await?;
    Ok(())
}

/// The payee side of an approval (or, `back`, of cancelling an approved instruction): its fund's
/// obligations to the payee's owed account.
pub(crate) async fn owe(
    conn: &mut AnyConnection,
    fund: &FundAccounts,
    payee: &PayeeAccounts,
    amount: i64,
    back: bool,
    reference: &str,
    now: &str,
) -> Result<(), sqlx::Error> {
    account(conn, &payee.owed, false).await?;
    account(conn, &payee.paid, false).await?;
    let moved = if back {
        transfer(conn, &payee.owed, &fund.obligations, amount, TransferKind::Unapprove, reference, now).await?
    } else {
        transfer(conn, &fund.obligations, &payee.owed, amount, TransferKind::Approve, reference, now).await?
    };
    if moved { Ok(()) } else { Err(sqlx::Error::Protocol("an unlimited account refused a debit".into())) }
}

/// Moves `amount` from `debit` to `credit`. `Ok(false)`: the debit account is limited and would
/// be overdrawn; nothing was written. Both accounts must be open.
pub(crate) async fn transfer(
    conn: &mut AnyConnection,
    debit: &str,
    credit: &str,
    amount: i64,
    kind: TransferKind,
    reference: &str,
    now: &str,
) -> Result<bool, sqlx::Error> {
    debug_assert!(amount > 0);
    let debited = sqlx::query(
        "UPDATE ledger_accounts SET debits_fen = debits_fen + $1 \
         WHERE code = $2 AND (limited = 0 OR credits_fen - debits_fen >= $1) RETURNING id",
    )
    .bind(amount)
    .bind(debit)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(debited) = debited else { return Ok(false) };
    let credited =
        sqlx::query("UPDATE ledger_accounts SET credits_fen = credits_fen + $1 WHERE code = $2 RETURNING id")
            .bind(amount)
            .bind(credit)
            .fetch_one(&mut *conn)
            .await?;
    sqlx::query(
        "INSERT INTO ledger_transfers (debit_account, credit_account, amount_fen, kind, reference, at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(debited.try_get::<i64, _>("id")?)
    .bind(credited.try_get::<i64, _>("id")?)
    .bind(amount)
    .bind(kind.as_str())
    .bind(reference)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(true)
}

/// The account's balance as posted (zero for an account never opened). Inside a transaction on
/// PostgreSQL, `lock` holds the row until commit, so the balance read stays true while the
/// caller decides on it.
pub(crate) async fn balance(conn: &mut AnyConnection, code: &str, lock: bool) -> Result<Balance, sqlx::Error> {
    let sql = if lock {
        // An update that changes nothing takes the row lock on PostgreSQL (SQLite has one writer).
        "UPDATE ledger_accounts SET debits_fen = debits_fen WHERE code = $1 RETURNING debits_fen, credits_fen"
    } else {
        "SELECT debits_fen, credits_fen FROM ledger_accounts WHERE code = $1"
    };
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(code).fetch_optional(conn).await?;
    row.map_or(Ok(Balance::default()), |r| {
        Ok(Balance { debits: r.try_get("debits_fen")?, credits: r.try_get("credits_fen")? })
    })
}
