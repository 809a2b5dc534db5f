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

#[cfg(test)]
mod tests {
    use shared::crypto::SigningKey;
    use shared::keys::{Endorsement, KeyChange, SignedBy};

    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_seed(&[seed; 32]).unwrap()
    }

    #[test]
    fn keys_learnt_survive_a_restart_over_the_pinned_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.db");
        let pinned = || TrustedKeys::pinned(key(1).public_key(), None, ChainSeq(0));
        let learnt = pinned()
            .update(&[
                Endorsement::sign(
                    ChainSeq(1),
                    KeyChange::Recovery {
                        recovery_key: key(9).public_key(),
                        by: key(1).public_key(),
                    },
                    SignedBy::SigningKey,
                    &key(1),
                ),
                Endorsement::sign(
                    ChainSeq(2),
                    KeyChange::Rotate {
                        new_key: key(2).public_key(),
                        replaces: key(1).public_key(),
                        revoke: true,
                    },
                    SignedBy::Recovery,
                    &key(9),
                ),
            ])
            .unwrap();
        let mut conn = crate::store::open(&path).unwrap();
        save(&mut conn, &learnt, Utc::now()).unwrap();
        drop(conn);

        let conn = crate::store::open(&path).unwrap();
        let mut reloaded = pinned();
        load_into(&conn, &mut reloaded).unwrap();
        assert_eq!(reloaded, learnt);
        assert_eq!(reloaded.valid(), vec![key(2).public_key()]);
    }
}
