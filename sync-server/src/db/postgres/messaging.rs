//! The executor of the messaging statements ([`SqlRows`]) on PostgreSQL:
//! `?N` placeholders become `$N`.

use postgres::types::{ToSql, Type};

use super::PgTx;
use crate::db::DbError;
use crate::db::messaging::{SqlRows, SqlValue};

/// The statement with PostgreSQL's placeholders.
fn dollars(sql: &str) -> String {
    sql.replace('?', "$")
}

fn bind(params: &[SqlValue]) -> Vec<Box<dyn ToSql + Sync>> {
    params
        .iter()
        .map(|p| -> Box<dyn ToSql + Sync> {
            match p {
                SqlValue::Int(v) => Box::new(*v),
                SqlValue::Text(v) => Box::new(v.clone()),
            }
        })
        .collect()
}

impl SqlRows for PgTx<'_, '_> {
    fn exec(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, DbError> {
        let owned = bind(params);
        let refs: Vec<&(dyn ToSql + Sync)> = owned.iter().map(AsRef::as_ref).collect();
        self.execute(&dollars(sql), &refs)
    }

    fn rows(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>, DbError> {
        let owned = bind(params);
        let refs: Vec<&(dyn ToSql + Sync)> = owned.iter().map(AsRef::as_ref).collect();
        let rows = self.query(&dollars(sql), &refs)?;
        rows.iter()
            .map(|row| {
                row.columns()
                    .iter()
                    .enumerate()
                    .map(|(i, column)| match *column.type_() {
                        Type::INT8 => Ok(SqlValue::Int(row.try_get(i)?)),
                        Type::INT4 => Ok(SqlValue::Int(
                            row.try_get::<_, Option<i32>>(i)?.map(i64::from),
                        )),
                        Type::TEXT | Type::VARCHAR => Ok(SqlValue::Text(row.try_get(i)?)),
                        ref other => Err(DbError::other(format!("column {i} is a {other}"))),
                    })
                    .collect()
            })
            .collect()
    }
}
