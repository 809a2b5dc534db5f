//! Server key rotation: endorsements that make a new server signing key
//! valid for registers that pinned an older one.
//!
//! A register pins the server's signing key at enrollment, and the
//! recovery key when the server has one (its private half is kept offline
//! by the operator). A new signing key becomes valid by an
//! [`Endorsement`]: a signature over a domain-separated statement (the new
//! key, the key it replaces, whether that one is revoked, a sequence
//! number), by the recovery key (the signing key was lost) or by the key it
//! replaces (a planned rotation). The current signing key can also endorse
//! the recovery key, so registers enrolled before it existed learn it.
//!
//! [`TrustedKeys`] is what a register trusts; [`TrustedKeys::update`]
//! checks a chain link by link, in sequence order, from keys it already
//! trusts, and refuses a wrong signer, a tampered statement, a replayed or
//! skipped sequence number. Pure: no IO.

use serde::{Deserialize, Serialize};

use crate::crypto::{PublicKey, Signature, SigningContext, SigningKey};

/// The position of an endorsement in the server's chain: 1 for the first,
/// then one more each. 0 is the state before any endorsement.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct ChainSeq(pub u64);

impl ChainSeq {
    /// The next position, saturating.
    #[must_use]
    pub fn next(self) -> Self {
        ChainSeq(self.0.saturating_add(1))
    }
}

impl std::fmt::Display for ChainSeq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// What an endorsement states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum KeyChange {
    /// `new_key` signs from now on, in place of `replaces`; with `revoke`,
    /// `replaces` stops being trusted (a lost or stolen key).
    Rotate {
        /// The new signing key.
        new_key: PublicKey,
        /// The signing key it replaces.
        replaces: PublicKey,
        /// Whether `replaces` is revoked.
        revoke: bool,
    },
    /// `recovery_key` is the server's recovery key, vouched for by the
    /// signing key `by`.
    Recovery {
        /// The recovery key's public half.
        recovery_key: PublicKey,
        /// The signing key that vouches for it.
        by: PublicKey,
    },
}

/// Which key signed an endorsement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SignedBy {
    /// The recovery key (the signing key was lost).
    Recovery,
    /// A signing key: the one a rotation replaces, or the one that vouches
    /// for the recovery key.
    SigningKey,
}

/// A signed [`KeyChange`] at its place in the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Endorsement {
    /// Its place in the chain.
    pub seq: ChainSeq,
    /// What it states.
    pub change: KeyChange,
    /// Which key signed it.
    pub signed_by: SignedBy,
    /// Ed25519 over [`Endorsement::statement`] under
    /// [`SigningContext::KeyEndorsement`].
    pub signature: Signature,
}

impl Endorsement {
    /// Signs `change` at `seq` with `key`, which must be the key that
    /// `signed_by` names (the recovery key, or the signing key the change
    /// names) for registers to accept it.
    #[must_use]
    pub fn sign(seq: ChainSeq, change: KeyChange, signed_by: SignedBy, key: &SigningKey) -> Self {
        let signature = key.sign(
            SigningContext::KeyEndorsement,
            &Self::statement(seq, &change, signed_by),
        );
        Endorsement {
            seq,
            change,
            signed_by,
            signature,
        }
    }

    /// The exact signed bytes: the sequence number, the change and the
    /// signer, in a fixed binary layout.
    #[must_use]
    pub fn statement(seq: ChainSeq, change: &KeyChange, signed_by: SignedBy) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 1 + 64 + 2);
        out.extend_from_slice(&seq.0.to_be_bytes());
        match change {
            KeyChange::Rotate {
                new_key,
                replaces,
                revoke,
            } => {
                out.push(1);
                out.extend_from_slice(new_key.as_bytes());
                out.extend_from_slice(replaces.as_bytes());
                out.push(u8::from(*revoke));
            }
            KeyChange::Recovery { recovery_key, by } => {
                out.push(2);
                out.extend_from_slice(recovery_key.as_bytes());
                out.extend_from_slice(by.as_bytes());
                out.push(0);
            }
        }
        out.push(match signed_by {
            SignedBy::Recovery => 1,
            SignedBy::SigningKey => 2,
        });
        out
    }
}

/// `GET /api/v1/keys`: the server's current signing key, its recovery key
/// and every endorsement, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyChain {
    /// The key that signs releases and tokens now.
    pub current: PublicKey,
    /// The recovery key's public half, if the operator made one.
    pub recovery_key: Option<PublicKey>,
    /// Every endorsement, by sequence number.
    pub endorsements: Vec<Endorsement>,
}

impl KeyChain {
    /// The sequence number of the newest endorsement (0: none).
    #[must_use]
    pub fn seq(&self) -> ChainSeq {
        self.endorsements.last().map_or(ChainSeq(0), |e| e.seq)
    }
}

/// Why an endorsement was refused. Every variant names the sequence number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndorsementError {
    /// A sequence number at or below one already accepted: a replay.
    #[error("key endorsement {seq} replays an old sequence number (this register is at {last})")]
    Replayed {
        /// Its number.
        seq: ChainSeq,
        /// The newest accepted.
        last: ChainSeq,
    },
    /// A gap in the chain: an endorsement in between is missing.
    #[error("key endorsement {seq} is out of order: expected {expected}")]
    OutOfOrder {
        /// Its number.
        seq: ChainSeq,
        /// The number expected.
        expected: ChainSeq,
    },
    /// Signed by the recovery key, but this register knows none.
    #[error("key endorsement {seq} is signed by a recovery key this register does not know")]
    NoRecoveryKey {
        /// Its number.
        seq: ChainSeq,
    },
    /// Signed by a signing key this register does not trust.
    #[error("key endorsement {seq} is signed by an untrusted key (id {key_id})")]
    UnknownSigner {
        /// Its number.
        seq: ChainSeq,
        /// The key id of the claimed signer.
        key_id: u8,
    },
    /// Signed by a revoked signing key.
    #[error("key endorsement {seq} is signed by a revoked key (id {key_id})")]
    RevokedSigner {
        /// Its number.
        seq: ChainSeq,
        /// The revoked key's id.
        key_id: u8,
    },
    /// The signature does not verify: a wrong signer or a tampered
    /// statement.
    #[error("key endorsement {seq}: the signature does not verify (forged or tampered)")]
    BadSignature {
        /// Its number.
        seq: ChainSeq,
    },
    /// A recovery key vouched for by itself, or a second, different
    /// recovery key: only the first is taken from a signing key.
    #[error("key endorsement {seq} would replace the recovery key this register pinned")]
    RecoveryKeyChange {
        /// Its number.
        seq: ChainSeq,
    },
    /// A rotation back to a key revoked earlier.
    #[error("key endorsement {seq} would reinstate a revoked key (id {key_id})")]
    Reinstated {
        /// Its number.
        seq: ChainSeq,
        /// The revoked key's id.
        key_id: u8,
    },
}

/// One server signing key a register trusts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustedKey {
    /// The key.
    pub key: PublicKey,
    /// Revoked by an endorsement: it verifies no token and no new release.
    pub revoked: bool,
}

/// The server keys a register trusts: the one it pinned at enrollment and
/// those endorsed since, the recovery key, and the newest endorsement
/// accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedKeys {
    keys: Vec<TrustedKey>,
    recovery: Option<PublicKey>,
    seq: ChainSeq,
}

impl TrustedKeys {
    /// What enrollment pins: the signing key, the recovery key if the
    /// server has one, and the chain's sequence number then (its
    /// endorsements are history the pinned keys already reflect).
    #[must_use]
    pub fn pinned(key: PublicKey, recovery: Option<PublicKey>, seq: ChainSeq) -> Self {
        TrustedKeys {
            keys: vec![TrustedKey {
                key,
                revoked: false,
            }],
            recovery,
            seq,
        }
    }

    /// Adds a key stored earlier (a register reloading what it learned).
    pub fn remember(&mut self, key: TrustedKey) {
        match self.keys.iter_mut().find(|k| k.key == key.key) {
            Some(known) => known.revoked |= key.revoked,
            None => self.keys.push(key),
        }
    }

    /// Sets the recovery key and sequence number stored earlier.
    pub fn restore(&mut self, recovery: Option<PublicKey>, seq: ChainSeq) {
        if recovery.is_some() {
            self.recovery = recovery;
        }
        self.seq = self.seq.max(seq);
    }

    /// Every key, revoked or not.
    #[must_use]
    pub fn keys(&self) -> &[TrustedKey] {
        &self.keys
    }

    /// The recovery key, if known.
    #[must_use]
    pub fn recovery(&self) -> Option<PublicKey> {
        self.recovery
    }

    /// The newest endorsement accepted.
    #[must_use]
    pub fn seq(&self) -> ChainSeq {
        self.seq
    }

    /// The keys that verify tokens and new releases: all but the revoked.
    #[must_use]
    pub fn valid(&self) -> Vec<PublicKey> {
        self.keys
            .iter()
            .filter(|k| !k.revoked)
            .map(|k| k.key)
            .collect()
    }

    /// Every key, revoked or not: a release accepted before its key was
    /// revoked stays readable.
    #[must_use]
    pub fn all(&self) -> Vec<PublicKey> {
        self.keys.iter().map(|k| k.key).collect()
    }

    /// Whether the register knows a key with this id (valid or revoked).
    #[must_use]
    pub fn knows_id(&self, key_id: u8) -> bool {
        self.keys.iter().any(|k| k.key.key_id() == key_id)
    }

    fn trusted_signer(&self, seq: ChainSeq, key: &PublicKey) -> Result<(), EndorsementError> {
        match self.keys.iter().find(|k| k.key == *key) {
            None => Err(EndorsementError::UnknownSigner {
                seq,
                key_id: key.key_id(),
            }),
            Some(k) if k.revoked => Err(EndorsementError::RevokedSigner {
                seq,
                key_id: key.key_id(),
            }),
            Some(_) => Ok(()),
        }
    }

    /// Checks one endorsement, the next in sequence, and applies it.
    pub fn accept(&mut self, e: &Endorsement) -> Result<(), EndorsementError> {
        let seq = e.seq;
        if seq <= self.seq {
            return Err(EndorsementError::Replayed {
                seq,
                last: self.seq,
            });
        }
        if seq != self.seq.next() {
            return Err(EndorsementError::OutOfOrder {
                seq,
                expected: self.seq.next(),
            });
        }
        let signer = match (e.signed_by, e.change) {
            (SignedBy::Recovery, KeyChange::Rotate { .. }) => self
                .recovery
                .ok_or(EndorsementError::NoRecoveryKey { seq })?,
            (SignedBy::Recovery, KeyChange::Recovery { .. }) => {
                return Err(EndorsementError::RecoveryKeyChange { seq });
            }
            (SignedBy::SigningKey, KeyChange::Rotate { replaces, .. }) => {
                self.trusted_signer(seq, &replaces)?;
                replaces
            }
            (SignedBy::SigningKey, KeyChange::Recovery { by, .. }) => {
                self.trusted_signer(seq, &by)?;
                by
            }
        };
        signer
            .verify(
                SigningContext::KeyEndorsement,
                &Endorsement::statement(seq, &e.change, e.signed_by),
                &e.signature,
            )
            .map_err(|_| EndorsementError::BadSignature { seq })?;
        match e.change {
            KeyChange::Rotate {
                new_key,
                replaces,
                revoke,
            } => {
                if let Some(known) = self.keys.iter().find(|k| k.key == new_key)
                    && known.revoked
                {
                    return Err(EndorsementError::Reinstated {
                        seq,
                        key_id: new_key.key_id(),
                    });
                }
                if revoke {
                    match self.keys.iter_mut().find(|k| k.key == replaces) {
                        Some(old) => old.revoked = true,
                        // A key this register never trusted: remembered
                        // revoked, so no later link reinstates it.
                        None => self.keys.push(TrustedKey {
                            key: replaces,
                            revoked: true,
                        }),
                    }
                }
                self.remember(TrustedKey {
                    key: new_key,
                    revoked: false,
                });
            }
            KeyChange::Recovery { recovery_key, .. } => match self.recovery {
                Some(pinned) if pinned != recovery_key => {
                    return Err(EndorsementError::RecoveryKeyChange { seq });
                }
                _ => self.recovery = Some(recovery_key),
            },
        }
        self.seq = seq;
        Ok(())
    }

    /// The keys after `chain`: links this register accepted already (at or
    /// below its sequence number) are skipped, the rest must follow on in
    /// order and each verify from a key trusted by then. All or nothing:
    /// on an error nothing of the chain is taken.
    pub fn update(&self, chain: &[Endorsement]) -> Result<TrustedKeys, EndorsementError> {
        let mut next = self.clone();
        for e in chain.iter().filter(|e| e.seq > self.seq) {
            next.accept(e)?;
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::tests::test_key;

    fn rotate(seq: u64, new: u8, old: u8, revoke: bool, by: SignedBy, key: u8) -> Endorsement {
        Endorsement::sign(
            ChainSeq(seq),
            KeyChange::Rotate {
                new_key: test_key(new).public_key(),
                replaces: test_key(old).public_key(),
                revoke,
            },
            by,
            &test_key(key),
        )
    }

    const RECOVERY: u8 = 99;

    fn enrolled() -> TrustedKeys {
        TrustedKeys::pinned(
            test_key(1).public_key(),
            Some(test_key(RECOVERY).public_key()),
            ChainSeq(0),
        )
    }

    #[test]
    fn a_good_chain_makes_the_new_keys_valid() {
        let chain = [
            // Planned: key 1 endorses key 2.
            rotate(1, 2, 1, false, SignedBy::SigningKey, 1),
            // Key 2 lost: the recovery key endorses key 3 and revokes 2.
            rotate(2, 3, 2, true, SignedBy::Recovery, RECOVERY),
        ];
        let keys = enrolled().update(&chain).unwrap();
        assert_eq!(keys.seq(), ChainSeq(2));
        assert_eq!(
            keys.valid(),
            vec![test_key(1).public_key(), test_key(3).public_key()]
        );
        assert_eq!(keys.all().len(), 3);
        // Applying the same chain again takes nothing new and fails nothing.
        assert_eq!(keys.update(&chain).unwrap(), keys);
    }

    #[test]
    fn a_register_without_a_recovery_key_learns_it_from_the_signing_key() {
        let mut keys = TrustedKeys::pinned(test_key(1).public_key(), None, ChainSeq(0));
        let learn = Endorsement::sign(
            ChainSeq(1),
            KeyChange::Recovery {
                recovery_key: test_key(RECOVERY).public_key(),
                by: test_key(1).public_key(),
            },
            SignedBy::SigningKey,
            &test_key(1),
        );
        let lost = rotate(2, 3, 1, true, SignedBy::Recovery, RECOVERY);
        assert_eq!(
            keys.clone().accept(&lost),
            Err(EndorsementError::OutOfOrder {
                seq: ChainSeq(2),
                expected: ChainSeq(1)
            })
        );
        keys = keys.update(&[learn, lost]).unwrap();
        assert_eq!(keys.recovery(), Some(test_key(RECOVERY).public_key()));
        assert_eq!(keys.valid(), vec![test_key(3).public_key()]);
    }

    #[test]
    fn a_wrong_signer_is_refused() {
        // Signed by a random key but claiming the recovery key.
        let forged = rotate(1, 2, 1, true, SignedBy::Recovery, 7);
        assert_eq!(
            enrolled().update(&[forged]),
            Err(EndorsementError::BadSignature { seq: ChainSeq(1) })
        );
        // Claiming to be signed by a signing key the register never had.
        let unknown = rotate(1, 2, 7, false, SignedBy::SigningKey, 7);
        assert_eq!(
            enrolled().update(&[unknown]),
            Err(EndorsementError::UnknownSigner {
                seq: ChainSeq(1),
                key_id: test_key(7).public_key().key_id()
            })
        );
        // No recovery key pinned: a recovery endorsement proves nothing.
        let bare = TrustedKeys::pinned(test_key(1).public_key(), None, ChainSeq(0));
        let by_recovery = rotate(1, 2, 1, true, SignedBy::Recovery, RECOVERY);
        assert_eq!(
            bare.update(&[by_recovery]),
            Err(EndorsementError::NoRecoveryKey { seq: ChainSeq(1) })
        );
    }

    #[test]
    fn a_tampered_field_is_refused() {
        let good = rotate(1, 2, 1, false, SignedBy::Recovery, RECOVERY);
        let mut other_key = good;
        if let KeyChange::Rotate { new_key, .. } = &mut other_key.change {
            *new_key = test_key(8).public_key();
        }
        let mut revoked = good;
        if let KeyChange::Rotate { revoke, .. } = &mut revoked.change {
            *revoke = true;
        }
        let mut signer = good;
        signer.signed_by = SignedBy::SigningKey;
        for tampered in [other_key, revoked, signer] {
            assert_eq!(
                enrolled().update(&[tampered]),
                Err(EndorsementError::BadSignature { seq: ChainSeq(1) }),
                "{tampered:?}"
            );
        }
        let mut renumbered = good;
        renumbered.seq = ChainSeq(2);
        let mut at_two = enrolled();
        at_two.restore(None, ChainSeq(1));
        assert_eq!(
            at_two.update(&[renumbered]),
            Err(EndorsementError::BadSignature { seq: ChainSeq(2) })
        );
        assert!(enrolled().update(&[good]).is_ok());
    }

    #[test]
    fn a_revoked_key_signs_nothing_and_comes_not_back() {
        let lost = rotate(1, 2, 1, true, SignedBy::Recovery, RECOVERY);
        let keys = enrolled().update(&[lost]).unwrap();
        assert_eq!(keys.valid(), vec![test_key(2).public_key()]);
        assert!(keys.knows_id(test_key(1).public_key().key_id()));
        // The thief of key 1 endorses a key of their own.
        let thief = rotate(2, 5, 1, false, SignedBy::SigningKey, 1);
        assert_eq!(
            keys.update(&[thief]),
            Err(EndorsementError::RevokedSigner {
                seq: ChainSeq(2),
                key_id: test_key(1).public_key().key_id()
            })
        );
        // Nor can a later link bring key 1 back.
        let back = rotate(2, 1, 2, false, SignedBy::SigningKey, 2);
        assert_eq!(
            keys.update(&[back]),
            Err(EndorsementError::Reinstated {
                seq: ChainSeq(2),
                key_id: test_key(1).public_key().key_id()
            })
        );
    }

    #[test]
    fn order_matters_and_replays_are_refused() {
        let first = rotate(1, 2, 1, false, SignedBy::SigningKey, 1);
        let second = rotate(2, 3, 2, true, SignedBy::SigningKey, 2);
        // Out of order: key 2 is not trusted yet when its link comes first.
        let mut keys = enrolled();
        assert_eq!(
            keys.accept(&second),
            Err(EndorsementError::OutOfOrder {
                seq: ChainSeq(2),
                expected: ChainSeq(1)
            })
        );
        keys.accept(&first).unwrap();
        keys.accept(&second).unwrap();
        // A replay of the first link (which would trust key 2 again).
        assert_eq!(
            keys.accept(&first),
            Err(EndorsementError::Replayed {
                seq: ChainSeq(1),
                last: ChainSeq(2)
            })
        );
        assert_eq!(
            keys.valid(),
            vec![test_key(1).public_key(), test_key(3).public_key()]
        );
        // A bad link after good ones: nothing of the chain is taken.
        let forged = rotate(3, 6, 3, false, SignedBy::Recovery, 6);
        assert_eq!(
            enrolled().update(&[first, second, forged]),
            Err(EndorsementError::BadSignature { seq: ChainSeq(3) })
        );
    }

    #[test]
    fn the_statement_is_stable() {
        let e = rotate(1, 2, 1, true, SignedBy::Recovery, RECOVERY);
        let json = serde_json::to_value(e).unwrap();
        assert_eq!(json["change"]["kind"], "rotate");
        assert_eq!(json["signed_by"], "recovery");
        let back: Endorsement = serde_json::from_value(json).unwrap();
        assert_eq!(back, e);
        assert_eq!(
            Endorsement::statement(e.seq, &e.change, e.signed_by).len(),
            8 + 1 + 64 + 1 + 1
        );
    }
}
