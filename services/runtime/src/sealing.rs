//! The sealed columns of a service (personal data bound to its place, `crypto::Place`): sealing
//! anew the values an older version wrote unbound, and finding values that do not open where
//! they are (copied from another row, tampered, or of another key), for `doudi check`.

use crate::crypto::{PiiCipher, Place};
use crate::db::Db;
use sqlx::Row;
use sqlx::any::AnyRow;

/// A column of sealed values, and the columns that make its rows' key (joined with `/`). Text
/// columns hold their values hex-encoded (`hex_text`).
#[derive(Debug, Clone, Copy)]
pub struct SealedColumn {
    pub table: &'static str,
    pub column: &'static str,
    pub key: &'static [&'static str],
    pub hex_text: bool,
}

/// One part of a row's key as stored, to name the row again in an update.
#[derive(Debug, Clone)]
enum KeyPart {
    Text(String),
    Int(i64),
    Bytes(Vec<u8>),
}

impl KeyPart {
    fn read(row: &AnyRow, column: &str) -> Result<Self, sqlx::Error> {
        if let Ok(text) = row.try_get::<String, _>(column) {
            return Ok(KeyPart::Text(text));
        }
        if let Ok(number) = row.try_get::<i64, _>(column) {
            return Ok(KeyPart::Int(number));
        }
        row.try_get::<Vec<u8>, _>(column).map(KeyPart::Bytes)
    }

    fn shown(&self) -> String {
        match self {
            KeyPart::Text(text) => text.clone(),
            KeyPart::Int(number) => number.to_string(),
            KeyPart::Bytes(bytes) => hex::encode(bytes),
        }
    }
}

/// A row's key as sealing binds it: the key columns' values, bytes in hex, joined with `/`.
pub fn row_key(parts: &[&str]) -> String {
    parts.join("/")
}

struct Stored {
    key: Vec<KeyPart>,
    value: Vec<u8>,
}

impl SealedColumn {
    pub fn place<'a>(&self, row: &'a str) -> Place<'a> {
        Place::new(self.table, self.column, row)
    }

    async fn rows(&self, db: &Db) -> Result<Vec<Stored>, sqlx::Error> {
        let sql = format!(
            "SELECT {}, {} FROM {} WHERE {} IS NOT NULL",
            self.key.join(", "),
            self.column,
            self.table,
            self.column
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(db.reads()).await?;
        rows.iter()
            .map(|row| {
                let key = self.key.iter().map(|c| KeyPart::read(row, c)).collect::<Result<Vec<_>, _>>()?;
                let value = if self.hex_text {
                    hex::decode(row.try_get::<String, _>(self.column)?).map_err(|e| sqlx::Error::Decode(e.into()))?
                } else {
                    row.try_get::<Vec<u8>, _>(self.column)?
                };
                Ok(Stored { key, value })
            })
            .collect()
    }

    fn shown_key(key: &[KeyPart]) -> String {
        key.iter().map(KeyPart::shown).collect::<Vec<_>>().join("/")
    }

    /// Seals anew, each in place, the values of format 1 (unbound); returns how many.
    pub async fn reseal_unbound(&self, db: &Db, cipher: &PiiCipher) -> Result<u64, sqlx::Error> {
        let mut resealed = 0;
        for stored in self.rows(db).await? {
            let row = Self::shown_key(&stored.key);
            if cipher.open(self.place(&row), &stored.value).is_ok() {
                continue;
            }
            let Ok(plaintext) = cipher.open_unbound(&stored.value) else { continue };
            let sealed = cipher.seal(self.place(&row), &plaintext);
            let conditions: Vec<String> =
                self.key.iter().enumerate().map(|(i, c)| format!("{c} = ${}", i + 2)).collect();
            let sql = format!("UPDATE {} SET {} = $1 WHERE {}", self.table, self.column, conditions.join(" AND "));
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            query = if self.hex_text { query.bind(hex::encode(&sealed)) } else { query.bind(sealed) };
            for part in stored.key {
                query = match part {
                    KeyPart::Text(text) => query.bind(text),
                    KeyPart::Int(number) => query.bind(number),
                    KeyPart::Bytes(bytes) => query.bind(bytes),
                };
            }
            resealed += query.execute(db.writes()).await?.rows_affected();
        }
        Ok(resealed)
    }

    /// The keys of the rows whose value does not open where it is.
    pub async fn misplaced(&self, db: &Db, cipher: &PiiCipher) -> Result<Vec<String>, sqlx::Error> {
        Ok(self
            .rows(db)
            .await?
            .into_iter()
            .filter_map(|stored| {
                let row = Self::shown_key(&stored.key);
                cipher.open(self.place(&row), &stored.value).is_err().then_some(row)
            })
            .collect())
    }
}

/// Seals anew every unbound value of `columns` (what an older version wrote); returns how many.
/// A service does this when it opens its database, before it serves. Each column is scanned once
/// per database: new values are always sealed, so a column once done (recorded in
/// `data_upgrades`, which `Db::migrate` creates) is not read again at the next start.
pub async fn reseal_all(db: &Db, cipher: &PiiCipher, columns: &[SealedColumn]) -> Result<u64, sqlx::Error> {
    let mut resealed = 0;
    for column in columns {
        let upgrade = format!("seal:{}.{}", column.table, column.column);
        let done = sqlx::query("SELECT 1 FROM data_upgrades WHERE name = $1")
            .bind(&upgrade)
            .fetch_optional(db.writes())
            .await?
            .is_some();
        if done {
            continue;
        }
        // Two processes opening at once both reseal: each value is sealed from its plaintext,
        // so either result is right.
        resealed += column.reseal_unbound(db, cipher).await?;
        sqlx::query("INSERT INTO data_upgrades (name, done_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(&upgrade)
            .bind(crate::now_rfc3339())
            .execute(db.writes())
            .await?;
    }
    if resealed > 0 {
        tracing::info!(values = resealed, "sealed personal data an older version wrote unbound to its rows");
    }
    Ok(resealed)
}

/// Every value of `columns` that does not open where it is: (`table.column`, row key).
pub async fn misplaced_all(
    db: &Db,
    cipher: &PiiCipher,
    columns: &[SealedColumn],
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let mut found = Vec::new();
    for column in columns {
        let place = format!("{}.{}", column.table, column.column);
        found.extend(column.misplaced(db, cipher).await?.into_iter().map(|row| (place.clone(), row)));
    }
    Ok(found)
}
