//! Column conversions between SQLite values and domain types. Stored values
//! are parsed again on the way out; a value that no longer parses is
//! reported as a conversion failure, never trusted.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rusqlite::Row;
use rusqlite::types::Type;
use shared::crypto::{Hash256, Signature};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn conversion(idx: usize, ty: Type, e: impl Into<BoxError>) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, ty, e.into())
}

/// Reads an integer column into a type parsed from `i64` (ids, money).
pub(super) fn int<T>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T>
where
    T: TryFrom<i64>,
    T::Error: std::error::Error + Send + Sync + 'static,
{
    let raw: i64 = row.get(idx)?;
    T::try_from(raw).map_err(|e| conversion(idx, Type::Integer, e))
}

/// Reads a nullable integer column into a type parsed from `i64`.
pub(super) fn opt_int<T>(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<T>>
where
    T: TryFrom<i64>,
    T::Error: std::error::Error + Send + Sync + 'static,
{
    let raw: Option<i64> = row.get(idx)?;
    raw.map(|v| T::try_from(v).map_err(|e| conversion(idx, Type::Integer, e)))
        .transpose()
}

/// Reads a text column into a type parsed from `String` (codes, phones).
pub(super) fn text<T>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T>
where
    T: TryFrom<String>,
    T::Error: std::error::Error + Send + Sync + 'static,
{
    let raw: String = row.get(idx)?;
    T::try_from(raw).map_err(|e| conversion(idx, Type::Text, e))
}

/// Reads a nullable text column into a type parsed from `String`.
pub(super) fn opt_text<T>(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<T>>
where
    T: TryFrom<String>,
    T::Error: std::error::Error + Send + Sync + 'static,
{
    let raw: Option<String> = row.get(idx)?;
    raw.map(|v| T::try_from(v).map_err(|e| conversion(idx, Type::Text, e)))
        .transpose()
}

/// The stored form of an instant: RFC 3339 in UTC, exact to the nanosecond.
pub(super) fn time_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Reads an instant.
pub(super) fn time(row: &Row<'_>, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    parsed(row, idx, |s| s.parse::<DateTime<Utc>>())
}

/// Reads a nullable instant.
pub(super) fn opt_time(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    let raw: Option<String> = row.get(idx)?;
    raw.map(|s| {
        s.parse::<DateTime<Utc>>()
            .map_err(|e| conversion(idx, Type::Text, e))
    })
    .transpose()
}

/// Reads a nullable calendar date (`YYYY-MM-DD`).
pub(super) fn opt_date(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<NaiveDate>> {
    let raw: Option<String> = row.get(idx)?;
    raw.map(|s| {
        s.parse::<NaiveDate>()
            .map_err(|e| conversion(idx, Type::Text, e))
    })
    .transpose()
}

/// Reads an Ed25519 signature stored as 64 bytes.
pub(super) fn signature(row: &Row<'_>, idx: usize) -> rusqlite::Result<Signature> {
    let raw: Vec<u8> = row.get(idx)?;
    Signature::from_slice(&raw).map_err(|e| conversion(idx, Type::Blob, e))
}

/// Reads a SHA-256 hash stored as 32 bytes.
pub(super) fn hash(row: &Row<'_>, idx: usize) -> rusqlite::Result<Hash256> {
    let raw: Vec<u8> = row.get(idx)?;
    <[u8; 32]>::try_from(raw)
        .map(Hash256)
        .map_err(|_| conversion(idx, Type::Blob, "a hash must be 32 bytes"))
}

/// Reads a text column and parses it with `parse`.
pub(super) fn parsed<T, E>(
    row: &Row<'_>,
    idx: usize,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> rusqlite::Result<T>
where
    E: Into<BoxError>,
{
    let raw: String = row.get(idx)?;
    parse(&raw).map_err(|e| conversion(idx, Type::Text, e))
}

/// Converts a count or a length for SQLite.
pub(super) fn sql_int(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Reads a time zone column (an IANA name).
pub(super) fn zone(row: &Row<'_>, idx: usize) -> rusqlite::Result<shared::timezone::TimeZone> {
    parsed(row, idx, str::parse::<shared::timezone::TimeZone>)
}
