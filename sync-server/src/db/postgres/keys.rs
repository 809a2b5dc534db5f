//! [`KeysTx`] on PostgreSQL.

use super::PgTx;
use crate::db::{DbError, KeyRow, KeysTx};

impl KeysTx for PgTx<'_, '_> {
    fn key_rows(&mut self) -> Result<Vec<KeyRow>, DbError> {
        self.query(
            "SELECT seq, kind, public_key, endorsement, created_at FROM server_keys
             ORDER BY seq",
            &[],
        )?
        .into_iter()
        .map(|row| {
            Ok(KeyRow {
                seq: row.try_get(0)?,
                kind: row.try_get(1)?,
                public_key: row.try_get(2)?,
                endorsement: row.try_get(3)?,
                created_at: row.try_get(4)?,
            })
        })
        .collect()
    }

    fn insert_key_row(&mut self, row: &KeyRow) -> Result<(), DbError> {
        let taken = self.query_opt(
            "INSERT INTO server_keys (seq, kind, public_key, endorsement, created_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (seq) DO NOTHING
             RETURNING seq",
            &[
                &row.seq,
                &row.kind,
                &row.public_key,
                &row.endorsement,
                &row.created_at,
            ],
        )?;
        match taken {
            Some(_) => Ok(()),
            None => Err(DbError::Conflict(format!(
                "key chain position {} is taken",
                row.seq
            ))),
        }
    }

    fn any_register_enrolled(&mut self) -> Result<bool, DbError> {
        Ok(self
            .query_one("SELECT EXISTS (SELECT 1 FROM registers)", &[])?
            .try_get(0)?)
    }
}
