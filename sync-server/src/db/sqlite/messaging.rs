//! The executor of the messaging statements ([`SqlRows`]) on SQLite.

use rusqlite::types::{Value, ValueRef};

use super::SqliteTx;
use crate::db::DbError;
use crate::db::messaging::{SqlRows, SqlValue};

fn bind(params: &[SqlValue]) -> Vec<Value> {
    params
        .iter()
        .map(|p| match p {
            SqlValue::Int(Some(n)) => Value::Integer(*n),
            SqlValue::Text(Some(t)) => Value::Text(t.clone()),
            SqlValue::Int(None) | SqlValue::Text(None) => Value::Null,
        })
        .collect()
}

impl SqlRows for SqliteTx<'_> {
    fn exec(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, DbError> {
        let n = self
            .tx
            .execute(sql, rusqlite::params_from_iter(bind(params)))?;
        Ok(u64::try_from(n).unwrap_or(u64::MAX))
    }

    fn rows(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>, DbError> {
        let mut stmt = self.tx.prepare_cached(sql)?;
        let width = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(bind(params)))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                values.push(match row.get_ref(i)? {
                    ValueRef::Null => SqlValue::Int(None),
                    ValueRef::Integer(n) => SqlValue::Int(Some(n)),
                    ValueRef::Text(t) => {
                        SqlValue::Text(Some(String::from_utf8_lossy(t).into_owned()))
                    }
                    other => {
                        return Err(DbError::other(format!(
                            "column {i} holds a {:?}",
                            other.data_type()
                        )));
                    }
                });
            }
            out.push(values);
        }
        Ok(out)
    }
}
