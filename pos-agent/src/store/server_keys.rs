//! The server keys the agent learnt since enrollment (`server_keys`,
//! `key_chain`): loaded over the keys pinned in the configuration at
//! start, saved whole after a chain update was verified.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension as _, params};
use shared::crypto::PublicKey;
use shared::keys::{ChainSeq, TrustedKey, TrustedKeys};

use super::{StoreError, corrupt};

/// Adds what the database holds to `keys` (the pinned ones).
pub fn load_into(conn: &Connection, keys: &mut TrustedKeys) -> Result<(), StoreError> {
    let rows: Vec<(String, bool)> = conn
        .prepare("SELECT public_key, revoked FROM server_keys ORDER BY rowid")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (key, revoked) in rows {
        let key = PublicKey::from_base64(&key).map_err(|e| corrupt("server key", e))?;
        keys.remember(TrustedKey { key, revoked });
    }
    let chain: Option<(Option<String>, i64)> = conn
        .query_row(
            "SELECT recovery_key, seq FROM key_chain WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some((recovery, seq)) = chain {
        let recovery = recovery
            .map(|k| PublicKey::from_base64(&k))
            .transpose()
            .map_err(|e| corrupt("recovery key", e))?;
        let seq = u64::try_from(seq).map_err(|e| corrupt("key chain seq", e))?;
        keys.restore(recovery, ChainSeq(seq));
    }
    Ok(())
}

/// Stores `keys` whole, in one transaction.
pub fn save(
    conn: &mut Connection,
    keys: &TrustedKeys,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    for k in keys.keys() {
        tx.execute(
            "INSERT INTO server_keys (public_key, revoked, learned_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (public_key) DO UPDATE SET revoked = MAX(revoked, excluded.revoked)",
            params![k.key.to_base64(), k.revoked, now.to_rfc3339()],
        )?;
    }
    let seq = i64::try_from(keys.seq().0).map_err(|e| corrupt("key chain seq", e))?;
    tx.execute(
        "INSERT INTO key_chain (id, recovery_key, seq) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET recovery_key = excluded.recovery_key, seq = excluded.seq",
        params![keys.recovery().map(|k| k.to_base64()), seq],
    )?;
    tx.commit()?;
    Ok(())
}
