//! The figures a till and the server must agree on, and the fields where
//! they differ. Pure.

use shared::pricing::PricedCheck;
use shared::record::PurchaseRecord;

use crate::wire::MismatchedField;

/// A line's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LineFigures {
    discount: i64,
    total: i64,
    points: i64,
}

/// What is compared: money in kopecks, points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Figures {
    subtotal: i64,
    discount: i64,
    total: i64,
    points_earned: i64,
    points_redeemed: i64,
    lines: Vec<LineFigures>,
}

impl From<&PurchaseRecord> for Figures {
    fn from(r: &PurchaseRecord) -> Self {
        Figures {
            subtotal: r.subtotal.minor(),
            discount: r.discount.minor(),
            total: r.total.minor(),
            points_earned: r.points_earned,
            points_redeemed: r.points_redeemed,
            lines: r
                .lines
                .iter()
                .map(|l| LineFigures {
                    discount: l.discount.minor(),
                    total: l.total.minor(),
                    points: l.points,
                })
                .collect(),
        }
    }
}

impl From<&PricedCheck> for Figures {
    fn from(p: &PricedCheck) -> Self {
        Figures {
            subtotal: p.subtotal.minor(),
            discount: p.discount.minor(),
            total: p.total.minor(),
            points_earned: p.points_earned,
            points_redeemed: p.points_redeemed,
            lines: p
                .lines
                .iter()
                .map(|l| LineFigures {
                    discount: l.discount.minor(),
                    total: l.total.minor(),
                    points: l.points,
                })
                .collect(),
        }
    }
}

/// The fields where `till` and `server` differ, check figures first, then
/// lines in order; empty when they agree.
pub(crate) fn compare(till: &Figures, server: &Figures) -> Vec<MismatchedField> {
    let mut out = Vec::new();
    let mut field = |name: String, till: i64, server: i64| {
        if till != server {
            out.push(MismatchedField {
                field: name,
                till,
                server,
            });
        }
    };
    field("subtotal".into(), till.subtotal, server.subtotal);
    field("discount".into(), till.discount, server.discount);
    field("total".into(), till.total, server.total);
    field(
        "points_earned".into(),
        till.points_earned,
        server.points_earned,
    );
    field(
        "points_redeemed".into(),
        till.points_redeemed,
        server.points_redeemed,
    );
    let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    field(
        "lines".into(),
        count(till.lines.len()),
        count(server.lines.len()),
    );
    for (i, (t, s)) in till.lines.iter().zip(&server.lines).enumerate() {
        field(format!("lines[{i}].discount"), t.discount, s.discount);
        field(format!("lines[{i}].total"), t.total, s.total);
        field(format!("lines[{i}].points"), t.points, s.points);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(total: i64, line_totals: &[i64]) -> Figures {
        Figures {
            subtotal: 1000,
            discount: 1000 - total,
            total,
            points_earned: 1,
            points_redeemed: 0,
            lines: line_totals
                .iter()
                .map(|&t| LineFigures {
                    discount: 0,
                    total: t,
                    points: 0,
                })
                .collect(),
        }
    }

    #[test]
    fn equal_figures_agree_and_a_kopeck_is_a_difference() {
        assert!(compare(&figures(900, &[400, 500]), &figures(900, &[400, 500])).is_empty());
        let diff = compare(&figures(900, &[400, 500]), &figures(899, &[400, 499]));
        let names: Vec<&str> = diff.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(names, ["discount", "total", "lines[1].total"]);
        assert_eq!((diff[1].till, diff[1].server), (900, 899));
    }

    #[test]
    fn a_different_number_of_lines_is_named() {
        let diff = compare(&figures(900, &[900]), &figures(900, &[400, 500]));
        assert_eq!(diff[0].field, "lines");
        assert_eq!((diff[0].till, diff[0].server), (1, 2));
    }
}
