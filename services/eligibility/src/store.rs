//! The eligibility service's database handle and what every capability's statements share:
//! the migrations, lookups by many keys, decoding of stored values, decryption of PII, and the
//! audit call. Each capability adds its own statements to `Store` in its folder's `store.rs`.

use crate::coverage::rules::CategoryPeriod;
use doudi_core::pii::{BankAccount, PersonName};
use doudi_core::{Category, NationalId};
use doudi_runtime::Storage;
use doudi_runtime::audit;
use doudi_runtime::crypto::PiiCipher;
use doudi_runtime::db::{Backend, Db, Migration, Migrations};
use doudi_runtime::sealing::SealedColumn;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};
use std::str::FromStr;

pub const MIGRATIONS: Migrations = Migrations {
    sqlite: &[
        Migration { version: 1, name: "audit", sql: audit::AUDIT_DDL },
        Migration { version: 2, name: "registry", sql: include_str!("../migrations/sqlite/0002_registry.sql") },
        Migration {
            version: 3,
            name: "registry_version",
            sql: include_str!("../migrations/sqlite/0003_registry_version.sql"),
        },
        Migration { version: 4, name: "procedure", sql: include_str!("../migrations/sqlite/0004_procedure.sql") },
        Migration { version: 5, name: "upkeep", sql: include_str!("../migrations/sqlite/0005_upkeep.sql") },
        Migration { version: 6, name: "staff_expiry", sql: include_str!("../migrations/sqlite/0006_staff_expiry.sql") },
        Migration { version: 7, name: "intake_ref", sql: include_str!("../migrations/sqlite/0007_intake_ref.sql") },
    ],
    postgres: &[
        Migration { version: 1, name: "audit", sql: audit::AUDIT_DDL },
        Migration { version: 2, name: "registry", sql: include_str!("../migrations/postgres/0002_registry.sql") },
        Migration {
            version: 3,
            name: "registry_version",
            sql: include_str!("../migrations/postgres/0003_registry_version.sql"),
        },
        Migration { version: 4, name: "procedure", sql: include_str!("../migrations/postgres/0004_procedure.sql") },
        Migration { version: 5, name: "upkeep", sql: include_str!("../migrations/postgres/0005_upkeep.sql") },
        Migration {
            version: 6,
            name: "staff_expiry",
            sql: include_str!("../migrations/postgres/0006_staff_expiry.sql"),
        },
        Migration { version: 7, name: "intake_ref", sql: include_str!("../migrations/postgres/0007_intake_ref.sql") },
    ],
};

/// Bind parameters per generated statement (lookups by `IN (…)`, multi-row inserts).
pub(crate) const PARAMS: usize = Backend::PARAMS_PER_STATEMENT;

pub(crate) fn decode_error(what: &str, value: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("stored {what} {value:?} is not valid").into())
}

pub(crate) fn parse_stored<T: FromStr>(what: &str, text: &str) -> Result<T, sqlx::Error> {
    text.parse().map_err(|_| decode_error(what, text))
}

pub(crate) fn flag(value: bool) -> i64 {
    i64::from(value)
}

/// The database and PII cipher (`Storage`: `db`, `cipher`, `audit`), with the statements of
/// every capability.
#[derive(Debug, Clone)]
pub struct Store(Storage);

impl std::ops::Deref for Store {
    type Target = Storage;

    fn deref(&self) -> &Storage {
        &self.0
    }
}

impl Store {
    pub fn new(db: Db, cipher: PiiCipher) -> Self {
        Self(Storage::new(db, cipher))
    }

    /// The rows of `select` for every key: its `IN ({})` takes up to `PARAMS` keys a statement.
    pub(crate) async fn fetch_in<'k, K>(
        &self,
        conn: &mut AnyConnection,
        select: &str,
        keys: &[K],
    ) -> Result<Vec<AnyRow>, sqlx::Error>
    where
        K: 'k + Copy + Send + sqlx::Encode<'k, sqlx::Any> + sqlx::Type<sqlx::Any>,
    {
        let mut rows = Vec::new();
        for chunk in keys.chunks(PARAMS) {
            let sql = select.replacen("{}", &self.db.backend().placeholders(1, chunk.len()), 1);
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for key in chunk {
                query = query.bind(*key);
            }
            rows.extend(query.fetch_all(&mut *conn).await?);
        }
        Ok(rows)
    }

    pub fn id_hash(&self, national_id: &NationalId) -> Vec<u8> {
        self.cipher.person_key(national_id)
    }

    /// `plaintext` sealed to its column and row (`row`: the row's key, `sealing::row_key`).
    pub(crate) fn seal(&self, column: &SealedColumn, row: &str, plaintext: &str) -> Vec<u8> {
        self.cipher.seal(column.place(row), plaintext)
    }

    /// A sealed value read back from where it is stored; a copied one fails as tampered.
    pub(crate) fn open_sealed(&self, column: &SealedColumn, row: &str, stored: &[u8]) -> Result<String, sqlx::Error> {
        self.cipher.open(column.place(row), stored).map_err(|e| sqlx::Error::Decode(e.into()))
    }

    /// A person's name, sealed to their row (keyed by `id_hash`).
    pub(crate) fn decrypt_name(&self, id_hash: &[u8], stored: &[u8]) -> Result<PersonName, sqlx::Error> {
        let text = self.open_sealed(&PERSON_NAME, &hex::encode(id_hash), stored)?;
        PersonName::parse(&text).map_err(|_| decode_error("name", "(encrypted)"))
    }

    /// A household's account, sealed to its row (keyed by household number).
    pub(crate) fn decrypt_account(
        &self,
        household_no: &str,
        stored: Option<Vec<u8>>,
    ) -> Result<Option<BankAccount>, sqlx::Error> {
        stored
            .map(|bytes| {
                let text = self.open_sealed(&HOUSEHOLD_ACCOUNT, household_no, &bytes)?;
                BankAccount::parse(&text).map_err(|_| decode_error("bank account", "(encrypted)"))
            })
            .transpose()
    }
}

/// The registry's sealed personal data, each bound to its row's natural key.
pub const PERSON_ID: SealedColumn =
    SealedColumn { table: "persons", column: "national_id_enc", key: &["id_hash"], hex_text: false };
pub const PERSON_NAME: SealedColumn =
    SealedColumn { table: "persons", column: "name_enc", key: &["id_hash"], hex_text: false };
pub const HOUSEHOLD_ACCOUNT: SealedColumn =
    SealedColumn { table: "households", column: "bank_account_enc", key: &["household_no"], hex_text: false };
pub const DETAIL_ACCOUNT: SealedColumn = SealedColumn {
    table: "household_details",
    column: "bank_account_enc",
    key: &["household_id", "recorded_at"],
    hex_text: false,
};
pub const SEALED_COLUMNS: [SealedColumn; 4] = [PERSON_ID, PERSON_NAME, HOUSEHOLD_ACCOUNT, DETAIL_ACCOUNT];

pub(crate) fn stored_period(row: &AnyRow) -> Result<CategoryPeriod, sqlx::Error> {
    let category: String = row.try_get("category")?;
    let from: String = row.try_get("effective_from")?;
    let to: Option<String> = row.try_get("effective_to")?;
    Ok(CategoryPeriod {
        category: parse_stored::<Category>("category", &category)?,
        from: parse_stored("date", &from)?,
        to: to.map(|t| parse_stored("date", &t)).transpose()?,
    })
}
