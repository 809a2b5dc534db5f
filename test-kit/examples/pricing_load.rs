//! Prices one check of the perf harness's pricing mixes over and over,
//! through `shared` alone, for profiling the engine without building the
//! system tests:
//!
//! ```text
//! cargo run --release -p test-kit --example pricing_load -- stress 200 5000 2000
//! valgrind --tool=callgrind target/release/examples/pricing_load stress 200 5000 20
//! ```
//!
//! Arguments: the mix (`stress` or `typical`), lines, rules, runs. The
//! check is priced at a fixed instant inside the happy hours, so every run
//! does the same work; it prints what was applied and explained, a digest
//! of the priced check (equal digests: an equal check), and the wall-clock
//! p50 and p99 per check.

use std::time::{Duration, Instant};

use chrono::{TimeZone as _, Utc};
use shared::pricing::RuleRef;
use test_kit::pricing_load::{Load, STRESS, TYPICAL};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: usize| {
        args.get(i)
            .map_or(default, |a| a.parse().expect("a whole number"))
    };
    let mix = match args.first().map(String::as_str) {
        None | Some("stress") => STRESS,
        Some("typical") => TYPICAL,
        Some(other) => panic!("unknown mix {other}: stress or typical"),
    };
    let (lines, rules, runs) = (arg(1, 200), arg(2, 5_000), arg(3, 2_000).max(1));
    // Noon in Moscow: inside the happy hours.
    let now = Utc
        .with_ymd_and_hms(2026, 3, 4, 9, 0, 0)
        .single()
        .expect("instant");
    let load = Load::new(lines, rules, mix, now);
    let check = load.price().expect("prices");
    let applied = check
        .applied
        .iter()
        .filter(|a| matches!(a.rule, RuleRef::Promotion(_)))
        .count();
    let json = serde_json::to_string(&check).expect("serialises");
    let digest = shared::crypto::sha256(json.as_bytes()).to_hex();
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(load.price().expect("prices"));
            t.elapsed()
        })
        .collect();
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e6;
    println!(
        "{} {lines} lines × {rules} rules: {applied} applied, {} explained, digest {}, \
         p50 {:.1} µs, p99 {:.1} µs over {runs} runs",
        mix.name,
        check.blocked.len(),
        &digest[..16],
        at(0.5),
        at(0.99),
    );
}
