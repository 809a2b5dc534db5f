//! Primitives of the server's keyring: its signing keys and their
//! endorsements in chain order (what they mean is [`crate::keys`]'s to say).

use chrono::{DateTime, Utc};

use super::DbError;

/// One row of the keyring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    /// Its place: 0 for the first signing key, then one per endorsement.
    pub seq: i64,
    /// `first`, `rotate` or `recovery`.
    pub kind: String,
    /// The key the row makes valid, base64.
    pub public_key: String,
    /// The signed endorsement as JSON; none for the first key.
    pub endorsement: Option<String>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
}

/// Reads and writes of the keyring.
pub trait KeysTx {
    /// Every row, by `seq`.
    fn key_rows(&mut self) -> Result<Vec<KeyRow>, DbError>;
    /// Appends a row; `Conflict` when its `seq` is taken.
    fn insert_key_row(&mut self, row: &KeyRow) -> Result<(), DbError>;
    /// Whether any register was ever enrolled (they pinned a key).
    fn any_register_enrolled(&mut self) -> Result<bool, DbError>;
}
