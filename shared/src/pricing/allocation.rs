//! Largest-remainder allocation: spreads an integer total over weights so
//! the parts sum exactly. Ties go to the larger weight, then to the smaller
//! key, which callers derive from line content, never from line order.

use crate::money::narrow_bounded;

/// Splits `total` (≥ 0) in proportion to `weights` (each ≥ 0). The parts sum
/// to `total` exactly when any weight is positive; with all weights zero
/// every part is zero. `keys` break ties and must have the same length.
#[must_use]
pub fn allocate<K: Ord>(total: i64, weights: &[i64], keys: &[K]) -> Vec<i64> {
    let mut parts = Vec::with_capacity(weights.len());
    allocate_into(total, weights, keys, &mut parts, &mut Vec::new());
    parts
}

/// [`allocate`] into `parts` (emptied first), with `remainders` as room to
/// sort in: the engine reuses both from one allocation to the next.
pub(crate) fn allocate_into<K: Ord>(
    total: i64,
    weights: &[i64],
    keys: &[K],
    parts: &mut Vec<i64>,
    remainders: &mut Vec<(u128, usize)>,
) {
    debug_assert_eq!(weights.len(), keys.len());
    parts.clear();
    remainders.clear();
    let sum: i128 = weights.iter().map(|&w| i128::from(w.max(0))).sum();
    if sum == 0 || total <= 0 {
        parts.resize(weights.len(), 0);
        return;
    }
    let total_w = i128::from(total);
    let max_w = weights.iter().map(|&w| w.max(0)).max().unwrap_or(0);
    // Narrow arithmetic when every product fits, as it does for any real
    // check: the same quotients and remainders, without 128-bit division.
    let narrow = i64::try_from(sum)
        .ok()
        .filter(|_| total.checked_mul(max_w).is_some());
    let mut given: i128 = 0;
    for (i, &w) in weights.iter().enumerate() {
        let w = w.max(0);
        // Narrow, the remainder and the weight packed in one number that
        // is smaller for the one taking a kopeck first (the larger
        // remainder, then the larger weight); wide, the remainder alone.
        let (share, rest) = if let Some(sum) = narrow {
            // Fits: checked above.
            let num = total * w;
            let rest = num % sum;
            let first = (u128::from(!rest.cast_unsigned()) << 64) | u128::from(!w.cast_unsigned());
            (i128::from(num / sum), first)
        } else {
            let num = total_w * i128::from(w);
            (num / sum, (num % sum).cast_unsigned())
        };
        given += share;
        // Every share is at most `total`, which fits in i64.
        parts.push(narrow_bounded(share));
        // A zero weight never takes a remainder kopeck.
        if w > 0 {
            remainders.push((rest, i));
        }
    }
    let left = total_w - given;
    if left == 0 {
        return;
    }
    // Largest remainder first, then larger weight, then smaller key, then
    // smaller index: a total order, so the first `left` are one set
    // whatever the algorithm, and selecting them (linear) is as exact as
    // sorting all.
    let first = |(ra, ia): &(u128, usize), (rb, ib): &(u128, usize)| {
        rb.cmp(ra)
            .then_with(|| weights[*ib].cmp(&weights[*ia]))
            .then_with(|| keys[*ia].cmp(&keys[*ib]))
            .then_with(|| ia.cmp(ib))
    };
    let first_packed = |(ra, ia): &(u128, usize), (rb, ib): &(u128, usize)| {
        ra.cmp(rb)
            .then_with(|| keys[*ia].cmp(&keys[*ib]))
            .then_with(|| ia.cmp(ib))
    };
    // Fewer kopecks are left than there are positive weights.
    let left = usize::try_from(left).unwrap_or(usize::MAX);
    if left < remainders.len() {
        if narrow.is_some() {
            remainders.select_nth_unstable_by(left, first_packed);
        } else {
            remainders.select_nth_unstable_by(left, first);
        }
    }
    for &(_, i) in remainders.iter().take(left) {
        parts[i] += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn one_kopeck_goes_to_the_largest_remainder() {
        assert_eq!(allocate(10, &[1, 1, 1], &[0, 1, 2]), vec![4, 3, 3]);
        assert_eq!(allocate(100, &[0, 0], &[0, 1]), vec![0, 0]);
        assert_eq!(allocate(7, &[0, 5], &[0, 1]), vec![0, 7]);
    }

    /// The allocation as first written: 128-bit arithmetic throughout and
    /// a stable sort of every remainder.
    fn straightforward(total: i64, weights: &[i64], keys: &[u32]) -> Vec<i64> {
        let sum: i128 = weights.iter().map(|&w| i128::from(w.max(0))).sum();
        if sum == 0 || total <= 0 {
            return vec![0; weights.len()];
        }
        let total_w = i128::from(total);
        let mut parts = Vec::new();
        let mut remainders = Vec::new();
        let mut given: i128 = 0;
        for (i, &w) in weights.iter().enumerate() {
            let num = total_w * i128::from(w.max(0));
            given += num / sum;
            parts.push(num / sum);
            remainders.push((num % sum, i));
        }
        let mut left = total_w - given;
        remainders.sort_by(|(ra, ia), (rb, ib)| {
            rb.cmp(ra)
                .then_with(|| weights[*ib].cmp(&weights[*ia]))
                .then_with(|| keys[*ia].cmp(&keys[*ib]))
        });
        for (_, i) in remainders {
            if left == 0 {
                break;
            }
            if weights[i] > 0 {
                parts[i] += 1;
                left -= 1;
            }
        }
        parts.into_iter().map(narrow_bounded).collect()
    }

    proptest! {
        /// Equal remainders, weights and keys, zero and negative weights,
        /// and figures too wide for 64-bit products all allocate as the
        /// straightforward version does.
        #[test]
        fn allocates_as_the_straightforward_version(
            total in prop_oneof![0i64..50, 0i64..i64::MAX / 4],
            weights in proptest::collection::vec(
                prop_oneof![-2i64..6, 0i64..1_000_000_000_000, 0i64..i64::MAX / 64],
                1..40,
            ),
            keys in proptest::collection::vec(0u32..4, 40),
        ) {
            let keys = &keys[..weights.len()];
            prop_assert_eq!(allocate(total, &weights, keys), straightforward(total, &weights, keys));
        }

        #[test]
        fn parts_sum_exactly_and_never_exceed_their_share(
            total in 0i64..1_000_000_000,
            weights in proptest::collection::vec(0i64..1_000_000_000, 1..60),
        ) {
            let keys: Vec<usize> = (0..weights.len()).collect();
            let parts = allocate(total, &weights, &keys);
            let sum_w: i128 = weights.iter().map(|&w| i128::from(w)).sum();
            if sum_w > 0 {
                prop_assert_eq!(parts.iter().sum::<i64>(), total);
            }
            for (p, w) in parts.iter().zip(&weights) {
                prop_assert!(*p >= 0);
                if sum_w > 0 {
                    let exact = i128::from(total) * i128::from(*w) / sum_w;
                    prop_assert!(i128::from(*p) - exact <= 1);
                }
            }
        }
    }
}
