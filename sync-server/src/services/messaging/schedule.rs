//! The campaigns' pure decisions: quiet hours in the customer's zone, the
//! retry backoff, and whom a promotion's segment targets.

use chrono::{DateTime, Datelike as _, NaiveTime, TimeDelta, TimeZone as _, Utc};
use chrono_tz::Tz;
use shared::identity::Gender;
use shared::ruleset::Segment;

/// Local hours no message is sent in; `start` after `end` runs past
/// midnight, equal means none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    start: NaiveTime,
    end: NaiveTime,
}

impl QuietHours {
    /// From `HH:MM` texts.
    #[must_use]
    pub fn parse(start: &str, end: &str) -> Option<QuietHours> {
        Some(QuietHours {
            start: NaiveTime::parse_from_str(start.trim(), "%H:%M").ok()?,
            end: NaiveTime::parse_from_str(end.trim(), "%H:%M").ok()?,
        })
    }

    fn contains(&self, t: NaiveTime) -> bool {
        if self.start <= self.end {
            self.start <= t && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }

    /// When the quiet hours around `now` end in `zone`, or `None` if `now`
    /// is not in them.
    #[must_use]
    pub fn ends_after(&self, now: DateTime<Utc>, zone: Tz) -> Option<DateTime<Utc>> {
        let local = now.with_timezone(&zone);
        if !self.contains(local.time()) {
            return None;
        }
        let mut date = local.date_naive();
        if local.time() >= self.end {
            date = date.succ_opt()?;
        }
        // The first instant at or after the local end (a gap in the zone
        // moves it forward by the gap).
        let mut end = date.and_time(self.end);
        for _ in 0..4 {
            if let Some(at) = zone.from_local_datetime(&end).earliest() {
                return Some(at.with_timezone(&Utc));
            }
            end += TimeDelta::minutes(30);
        }
        Some(now + TimeDelta::hours(1))
    }
}

/// The delay before retry `attempt` (1 for the first retry): doubling
/// from `base`, at most a day.
#[must_use]
pub fn backoff(base_secs: u64, attempt: u32) -> TimeDelta {
    let secs = base_secs
        .saturating_mul(1u64 << attempt.saturating_sub(1).min(20))
        .min(86_400);
    TimeDelta::seconds(i64::try_from(secs).unwrap_or(86_400))
}

/// What targeting knows of a customer.
#[derive(Debug, Clone)]
pub struct Recipient {
    /// Gender.
    pub gender: Gender,
    /// Birth date, if given.
    pub birth_date: Option<chrono::NaiveDate>,
    /// Their tags, segments' among them (`services::segments`).
    pub tags: Vec<String>,
}

/// Whether the promotion's segment takes this customer on `today` (the
/// customer's local date): gender, age, and tags (a segment's, as last
/// computed). Tiers, the birthday window and "new customer" depend on
/// purchases the campaign does not weigh: they do not narrow the audience
/// (the till still applies them at the purchase).
#[must_use]
pub fn targets(segment: &Segment, who: &Recipient, today: chrono::NaiveDate) -> bool {
    if !segment.tags.is_empty() && !segment.tags.iter().any(|t| who.tags.contains(t)) {
        return false;
    }
    if !segment.genders.is_empty() && !segment.genders.contains(&who.gender) {
        return false;
    }
    if segment.min_age.is_some() || segment.max_age.is_some() {
        let Some(born) = who.birth_date else {
            return false;
        };
        let mut age = today.year() - born.year();
        if (today.month(), today.day()) < (born.month(), born.day()) {
            age -= 1;
        }
        let age = u32::try_from(age).unwrap_or(0);
        if segment.min_age.is_some_and(|m| age < m) || segment.max_age.is_some_and(|m| age > m) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn quiet_hours_run_past_midnight_in_the_customer_zone() {
        let quiet = QuietHours::parse("21:00", "09:00").unwrap();
        let moscow: Tz = "Europe/Moscow".parse().unwrap();
        // 23:30 in Moscow: quiet until 09:00 the next morning.
        assert_eq!(
            quiet.ends_after(at("2026-03-01T20:30:00Z"), moscow),
            Some(at("2026-03-02T06:00:00Z"))
        );
        // 07:00 in Moscow: quiet until 09:00 that morning.
        assert_eq!(
            quiet.ends_after(at("2026-03-01T04:00:00Z"), moscow),
            Some(at("2026-03-01T06:00:00Z"))
        );
        // Noon: not quiet.
        assert_eq!(quiet.ends_after(at("2026-03-01T09:00:00Z"), moscow), None);
        let none = QuietHours::parse("00:00", "00:00").unwrap();
        assert_eq!(none.ends_after(at("2026-03-01T09:00:00Z"), moscow), None);
        assert!(QuietHours::parse("25:00", "09:00").is_none());
    }

    #[test]
    fn retries_double_up_to_a_day() {
        assert_eq!(backoff(30, 1), TimeDelta::seconds(30));
        assert_eq!(backoff(30, 3), TimeDelta::seconds(120));
        assert_eq!(backoff(30, 40), TimeDelta::seconds(86_400));
    }

    #[test]
    fn segments_narrow_by_gender_and_age() {
        let today = "2026-03-01".parse().unwrap();
        let anna = Recipient {
            gender: Gender::Female,
            birth_date: Some("2000-03-02".parse().unwrap()),
            tags: vec!["rfm:loyal".into()],
        };
        assert!(targets(&Segment::default(), &anna, today));
        let men = Segment {
            genders: vec![Gender::Male],
            ..Segment::default()
        };
        assert!(!targets(&men, &anna, today));
        let over_26 = Segment {
            min_age: Some(26),
            ..Segment::default()
        };
        assert!(!targets(&over_26, &anna, today), "25 until tomorrow");
        let unknown_age = Recipient {
            birth_date: None,
            ..anna
        };
        assert!(!targets(&over_26, &unknown_age, today));
        let loyal = Segment {
            tags: vec!["rfm:champions".into(), "rfm:loyal".into()],
            ..Segment::default()
        };
        assert!(targets(&loyal, &unknown_age, today));
        let lapsed = Segment {
            tags: vec!["rfm:lapsed_high_spenders".into()],
            ..Segment::default()
        };
        assert!(!targets(&lapsed, &unknown_age, today));
    }
}
