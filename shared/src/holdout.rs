//! Holdouts: which customers a promotion leaves out on purpose, so that
//! what it earned can be measured against those who did not get it.
//!
//! A promotion with a holdout share (`Promotion::holdout`, in basis points)
//! never applies to the identified customers that [`is_held_out`] picks.
//! The pick is a pure function of the customer's id and the promotion's
//! id, so the till decides offline from ids it already has, the server's
//! re-pricer decides the same, and the analytics split every customer into
//! exposed and held out without any record saying so.
//!
//! # The hash
//!
//! SHA-256 of the bytes `loyalty/holdout/v1`, a zero byte, the customer id
//! as 8 bytes big-endian, and the promotion id's UTF-8 bytes. The first 8
//! bytes of the digest, read as a big-endian `u64`, modulo 10 000 give the
//! customer's bucket for that promotion; the customer is held out when the
//! bucket is below the share in basis points. The domain tag keeps the
//! buckets unrelated to any other hash of the same ids, and the promotion id
//! in the input makes each promotion hold out a different set of customers
//! (a customer held out of one is not held out of all). Buckets do not move
//! when the share changes: raising it only adds customers to the holdout.
//! Changing these bytes reshuffles every experiment, so they are fixed
//! (`v1`); the bias of the modulo is below 10⁻¹⁵.

use crate::crypto::sha256;
use crate::ids::{CustomerId, PromotionId};
use crate::money::BasisPoints;

/// The domain tag hashed before the ids.
pub const DOMAIN: &[u8] = b"loyalty/holdout/v1\0";

/// The number of buckets: one per basis point.
pub const BUCKETS: u64 = 10_000;

/// The smallest holdout share a promotion may name: 0.01 %.
pub const MIN_SHARE_BP: u32 = 1;
/// The largest: half of the customers.
pub const MAX_SHARE_BP: u32 = 5_000;

/// The customer's bucket for the promotion, in `0..10_000`.
#[must_use]
pub fn bucket(customer: CustomerId, promotion: &PromotionId) -> u16 {
    let id = promotion.as_str().as_bytes();
    let mut input = Vec::with_capacity(DOMAIN.len() + 8 + id.len());
    input.extend_from_slice(DOMAIN);
    input.extend_from_slice(&customer.get().to_be_bytes());
    input.extend_from_slice(id);
    let digest = sha256(&input);
    let mut first = [0_u8; 8];
    first.copy_from_slice(&digest.0[..8]);
    // Below 10 000, so it fits.
    u16::try_from(u64::from_be_bytes(first) % BUCKETS).unwrap_or(u16::MAX)
}

/// Whether `customer` is in the holdout of `promotion` at `share`.
#[must_use]
pub fn is_held_out(customer: CustomerId, promotion: &PromotionId, share: BasisPoints) -> bool {
    u32::from(bucket(customer, promotion)) < share.get()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn promo(id: &str) -> PromotionId {
        PromotionId::parse(id).unwrap()
    }

    fn customer(id: i64) -> CustomerId {
        CustomerId::new(id).unwrap()
    }

    fn bp(n: u32) -> BasisPoints {
        BasisPoints::new(n).unwrap()
    }

    /// The bytes are fixed: a change would reshuffle running experiments.
    #[test]
    fn buckets_are_the_documented_hash() {
        let mut input = b"loyalty/holdout/v1\0".to_vec();
        input.extend_from_slice(&42_i64.to_be_bytes());
        input.extend_from_slice(b"milk-10");
        let d = ring::digest::digest(&ring::digest::SHA256, &input);
        let n = u64::from_be_bytes(d.as_ref()[..8].try_into().unwrap());
        assert_eq!(
            u64::from(bucket(customer(42), &promo("milk-10"))),
            n % 10_000
        );
        // Pinned, so a change of the bytes fails here too.
        expect_test::expect!["7197"]
            .assert_eq(&bucket(customer(42), &promo("milk-10")).to_string());
    }

    #[test]
    fn no_share_holds_out_no_one_and_each_promotion_picks_its_own() {
        let ids: Vec<CustomerId> = (1..=2_000).map(customer).collect();
        assert!(ids.iter().all(|&c| !is_held_out(c, &promo("a"), bp(0))));
        assert!(ids.iter().all(|&c| is_held_out(c, &promo("a"), bp(10_000))));
        let a: Vec<bool> = ids
            .iter()
            .map(|&c| is_held_out(c, &promo("a"), bp(5_000)))
            .collect();
        let b: Vec<bool> = ids
            .iter()
            .map(|&c| is_held_out(c, &promo("b"), bp(5_000)))
            .collect();
        let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
        // Independent halves agree about half the time.
        assert!((800..1_200).contains(&same), "{same}");
    }

    proptest! {
        /// Over many customers the share held out is the share asked for,
        /// within five standard deviations.
        #[test]
        fn the_share_held_out_is_the_share_asked(share in 1_u32..=5_000, start in 1_i64..1_000_000_000, name in "[a-z0-9-]{1,12}") {
            let n = 4_000_u32;
            let p = promo(&name);
            let held = (0..i64::from(n))
                .filter(|i| is_held_out(customer(start + i), &p, bp(share)))
                .count();
            // In units of 1/10 000 of a customer, so that it stays integer:
            // |held − n·p| ≤ 5·sd + 1, squared.
            let (n, share) = (i128::from(n), i128::from(share));
            let held = i128::try_from(held).unwrap_or(i128::MAX);
            let excess = ((held * 10_000 - n * share).abs() - 10_000).max(0);
            let variance = n * share * (10_000 - share);
            prop_assert!(
                excess * excess <= 25 * variance,
                "{held} held out of {n}, expected {}", n * share / 10_000
            );
        }

        /// The same ids give the same answer; a larger share only adds
        /// customers to the holdout.
        #[test]
        fn stable_and_monotone_in_the_share(c in 1_i64..i64::MAX, name in "[a-z0-9-]{1,12}", a in 0_u32..=10_000, b in 0_u32..=10_000) {
            let (p, c) = (promo(&name), customer(c));
            prop_assert_eq!(bucket(c, &p), bucket(c, &p));
            let (lo, hi) = (a.min(b), a.max(b));
            prop_assert!(!is_held_out(c, &p, bp(lo)) || is_held_out(c, &p, bp(hi)));
        }
    }
}
