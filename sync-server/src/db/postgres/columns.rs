//! Column conversions between PostgreSQL values and domain types. Stored
//! values are parsed again on the way out; a value that no longer parses is
//! reported as a conversion failure, never trusted.

use postgres::Row;
use shared::crypto::{Hash256, Signature};

use crate::db::DbError;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn conversion(idx: usize, e: impl Into<BoxError>) -> DbError {
    let e: BoxError = e.into();
    DbError::other(format!("column {idx} does not convert: {e}"))
}

/// Reads a BIGINT column into a type parsed from `i64` (ids, money).
pub(super) fn int<T>(row: &Row, idx: usize) -> Result<T, DbError>
where
    T: TryFrom<i64>,
    T::Error: std::error::Error + Send + Sync + 'static,
{
    let raw: i64 = row.try_get(idx)?;
    T::try_from(raw).map_err(|e| conversion(idx, e))
}

/// Reads a nullable BIGINT column into a type parsed from `i64`.
pub(super) fn opt_int<T>(row: &Row, idx: usize) -> Result<Option<T>, DbError>
where
    T: TryFrom<i64>,
    T::Error: std::error::Error + Send + Sync + 'static,
{
    let raw: Option<i64> = row.try_get(idx)?;
    raw.map(|v| T::try_from(v).map_err(|e| conversion(idx, e)))
        .transpose()
}

/// Reads a text column into a type parsed from `String` (codes, phones).
pub(super) fn text<T>(row: &Row, idx: usize) -> Result<T, DbError>
where
    T: TryFrom<String>,
    T::Error: std::error::Error + Send + Sync + 'static,
{
    let raw: String = row.try_get(idx)?;
    T::try_from(raw).map_err(|e| conversion(idx, e))
}

/// Reads a nullable text column into a type parsed from `String`.
pub(super) fn opt_text<T>(row: &Row, idx: usize) -> Result<Option<T>, DbError>
where
    T: TryFrom<String>,
    T::Error: std::error::Error + Send + Sync + 'static,
{
    let raw: Option<String> = row.try_get(idx)?;
    raw.map(|v| T::try_from(v).map_err(|e| conversion(idx, e)))
        .transpose()
}

/// Reads a text column and parses it with `parse`.
pub(super) fn parsed<T, E>(
    row: &Row,
    idx: usize,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, DbError>
where
    E: Into<BoxError>,
{
    let raw: &str = row.try_get(idx)?;
    parse(raw).map_err(|e| conversion(idx, e))
}

/// Reads an Ed25519 signature stored as 64 bytes.
pub(super) fn signature(row: &Row, idx: usize) -> Result<Signature, DbError> {
    let raw: &[u8] = row.try_get(idx)?;
    Signature::from_slice(raw).map_err(|e| conversion(idx, e))
}

/// Reads a SHA-256 hash stored as 32 bytes.
pub(super) fn hash(row: &Row, idx: usize) -> Result<Hash256, DbError> {
    let raw: &[u8] = row.try_get(idx)?;
    <[u8; 32]>::try_from(raw)
        .map(Hash256)
        .map_err(|_| conversion(idx, "a hash must be 32 bytes"))
}

/// Reads a nullable SHA-256 hash.
pub(super) fn opt_hash(row: &Row, idx: usize) -> Result<Option<Hash256>, DbError> {
    let raw: Option<&[u8]> = row.try_get(idx)?;
    raw.map(|raw| {
        <[u8; 32]>::try_from(raw)
            .map(Hash256)
            .map_err(|_| conversion(idx, "a hash must be 32 bytes"))
    })
    .transpose()
}

/// Reads a time zone column (an IANA name).
pub(super) fn zone(row: &Row, idx: usize) -> Result<shared::timezone::TimeZone, DbError> {
    parsed(row, idx, str::parse::<shared::timezone::TimeZone>)
}

/// Reads a BIGINT column of days into `u32`.
pub(super) fn days(row: &Row, idx: usize) -> Result<u32, DbError> {
    int(row, idx)
}

/// Reads a nullable BIGINT column of days into `u32`.
pub(super) fn opt_days(row: &Row, idx: usize) -> Result<Option<u32>, DbError> {
    opt_int(row, idx)
}

/// Converts a count or a length for a BIGINT parameter.
pub(super) fn sql_int(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Reads every row with `f`.
pub(super) fn all<T>(
    rows: &[Row],
    f: impl Fn(&Row) -> Result<T, DbError>,
) -> Result<Vec<T>, DbError> {
    rows.iter().map(f).collect()
}
