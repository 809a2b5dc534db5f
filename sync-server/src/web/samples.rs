//! The sample rulesets a merchant can start from on the set-up page,
//! without the command line: a grocery chain, a café and a clothing store.
//! They are the files of `sync-server/examples/rulesets/`, which the
//! admin CLI publishes as they are and a test publishes each of.

use shared::money::Currency;
use shared::ruleset::Ruleset;

/// One sample ruleset.
#[derive(Debug)]
pub struct Sample {
    /// The form's value.
    pub key: &'static str,
    /// What the set-up page calls it: a message id.
    pub label: &'static str,
    json: &'static str,
}

/// Every sample, in the order the page offers them.
pub const SAMPLES: [Sample; 3] = [
    Sample {
        key: "grocery",
        label: "sample-grocery",
        json: include_str!("../../examples/rulesets/grocery.json"),
    },
    Sample {
        key: "cafe",
        label: "sample-cafe",
        json: include_str!("../../examples/rulesets/cafe.json"),
    },
    Sample {
        key: "clothing",
        label: "sample-clothing",
        json: include_str!("../../examples/rulesets/clothing.json"),
    },
];

/// The sample named `key`.
#[must_use]
pub fn find(key: &str) -> Option<&'static Sample> {
    SAMPLES.iter().find(|s| s.key == key)
}

impl Sample {
    /// The ruleset, in the merchant's `currency` (the samples' amounts are
    /// minor units of any currency).
    pub fn ruleset(&self, currency: Currency) -> Result<Ruleset, serde_json::Error> {
        let mut ruleset: Ruleset = serde_json::from_str(self.json)?;
        ruleset.currency = currency;
        Ok(ruleset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_reads_and_validates() {
        for sample in &SAMPLES {
            let ruleset = sample
                .ruleset("RUB".parse::<Currency>().expect("a currency"))
                .unwrap_or_else(|e| panic!("{}: {e}", sample.key));
            assert!(!ruleset.promotions.is_empty(), "{}", sample.key);
            assert!(find(sample.key).is_some());
        }
    }
}
