//! [`KeysTx`] on SQLite.

use rusqlite::params;

use super::columns::{time, time_text};
use super::{SqliteTx, is_unique_violation};
use crate::db::{DbError, KeyRow, KeysTx};

impl KeysTx for SqliteTx<'_> {
    fn key_rows(&mut self) -> Result<Vec<KeyRow>, DbError> {
        let rows = self
            .tx
            .prepare_cached(
                "SELECT seq, kind, public_key, endorsement, created_at FROM server_keys
                 ORDER BY seq",
            )?
            .query_map([], |row| {
                Ok(KeyRow {
                    seq: row.get(0)?,
                    kind: row.get(1)?,
                    public_key: row.get(2)?,
                    endorsement: row.get(3)?,
                    created_at: time(row, 4)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    fn insert_key_row(&mut self, row: &KeyRow) -> Result<(), DbError> {
        self.tx
            .execute(
                "INSERT INTO server_keys (seq, kind, public_key, endorsement, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    row.seq,
                    row.kind,
                    row.public_key,
                    row.endorsement,
                    time_text(row.created_at)
                ],
            )
            .map_err(|e| {
                if is_unique_violation(&e) {
                    DbError::Conflict(format!("key chain position {} is taken", row.seq))
                } else {
                    e.into()
                }
            })?;
        Ok(())
    }

    fn any_register_enrolled(&mut self) -> Result<bool, DbError> {
        Ok(self
            .tx
            .query_row("SELECT EXISTS (SELECT 1 FROM registers)", [], |r| r.get(0))?)
    }
}
