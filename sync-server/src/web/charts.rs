//! Bar charts drawn by `plotters` into SVG on the server and inlined into
//! the page: no script, no image requests, and they scale with the page.
//!
//! Values arrive as `f64` only here, for plotting; every figure a page
//! prints comes from the integer statistics. Labels are escaped by the SVG
//! backend.

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

/// The most axis labels under the bars; more bars label every n-th.
const MAX_LABELS: usize = 14;
/// The bars' colour (the pages' accent, readable on white).
const BAR: RGBColor = RGBColor(0x1d, 0x5f, 0xa8);
/// The previous period's line.
const PREVIOUS: RGBColor = RGBColor(0xc2, 0x5b, 0x12);
/// Grid lines.
const GRID: RGBColor = RGBColor(0xdd, 0xe1, 0xe6);
/// Axes and labels.
const INK: RGBColor = RGBColor(0x33, 0x3a, 0x44);

/// One bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// What it stands for, under it.
    pub label: String,
    /// Its height.
    pub value: f64,
}

/// What the bars measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// An amount (roubles), possibly negative (a day of returns).
    Amount,
    /// A count of people or things: whole ticks only.
    Count,
}

/// How wide the chart sits on the page; a narrower drawing keeps its text
/// readable when the page shows it in half a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Width {
    /// The full width of the page.
    Full,
    /// Half of it.
    Half,
}

impl Width {
    /// The drawing's size in SVG units; the page scales it to fit.
    const fn size(self) -> (u32, u32) {
        match self {
            Width::Full => (720, 280),
            Width::Half => (420, 240),
        }
    }
}

/// A chart of bars side by side.
#[derive(Debug, Clone)]
pub struct BarChart<'a> {
    /// What it shows, for screen readers.
    pub title: &'a str,
    /// The unit of the value axis.
    pub value_axis: &'a str,
    /// What the values are.
    pub measure: Measure,
    /// Where it sits.
    pub width: Width,
    /// The bars, left to right.
    pub bars: Vec<Bar>,
    /// The previous period's values at the same places, drawn as a line
    /// over the bars.
    pub previous: Option<Vec<f64>>,
}

/// Why a chart could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("chart {title:?} could not be drawn: {cause}")]
pub struct ChartError {
    title: String,
    cause: String,
}

impl BarChart<'_> {
    /// The chart as an `<svg>` element, or `None` when there is nothing to
    /// draw.
    pub fn to_svg(&self) -> Result<Option<String>, ChartError> {
        if self.bars.is_empty() {
            return Ok(None);
        }
        let fail = |cause: &dyn std::fmt::Display| ChartError {
            title: self.title.to_owned(),
            cause: cause.to_string(),
        };
        let last = u32::try_from(self.bars.len() - 1).map_err(|e| fail(&e))?;
        let (bottom, top, value_labels) = self.value_range();
        let label_every = self.bars.len().div_ceil(MAX_LABELS);
        let label = |x: &SegmentValue<u32>| match x {
            SegmentValue::CenterOf(i) if (*i as usize).is_multiple_of(label_every) => self
                .bars
                .get(*i as usize)
                .map(|b| b.label.clone())
                .unwrap_or_default(),
            _ => String::new(),
        };
        let (width, height) = self.width.size();

        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
            root.fill(&WHITE).map_err(|e| fail(&e))?;
            let mut chart = ChartBuilder::on(&root)
                .margin(12)
                .x_label_area_size(34)
                .y_label_area_size(72)
                // A discrete range includes its end: 0..last is one
                // segment per bar.
                .build_cartesian_2d((0..last).into_segmented(), bottom..top)
                .map_err(|e| fail(&e))?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .bold_line_style(GRID)
                .light_line_style(WHITE)
                .axis_style(INK)
                .x_labels(self.bars.len().min(MAX_LABELS * 2))
                .y_labels(value_labels)
                .x_label_formatter(&label)
                .y_label_formatter(&axis_number)
                .y_desc(self.value_axis)
                .label_style(("sans-serif", 14).into_font().color(&INK))
                .draw()
                .map_err(|e| fail(&e))?;
            chart
                .draw_series(
                    Histogram::vertical(&chart)
                        .style(BAR.filled())
                        .margin(4)
                        .data(self.bars.iter().zip(0u32..).map(|(b, i)| (i, b.value))),
                )
                .map_err(|e| fail(&e))?;
            if let Some(previous) = &self.previous {
                chart
                    .draw_series(LineSeries::new(
                        previous
                            .iter()
                            .zip(0u32..)
                            .map(|(v, i)| (SegmentValue::CenterOf(i), *v)),
                        PREVIOUS.stroke_width(2),
                    ))
                    .map_err(|e| fail(&e))?;
            }
            root.present().map_err(|e| fail(&e))?;
        }
        Ok(Some(svg.replacen(
            "<svg ",
            &format!(
                "<svg class=\"chart-svg\" role=\"img\" aria-label=\"{}\" ",
                escape_attribute(self.title)
            ),
            1,
        )))
    }
}

impl BarChart<'_> {
    /// The value axis: its ends, with headroom over the highest bar (and
    /// room below zero for negative amounts), and how many ticks it has.
    fn value_range(&self) -> (f64, f64, usize) {
        let values = || {
            self.bars
                .iter()
                .map(|b| b.value)
                .chain(self.previous.iter().flatten().copied())
        };
        let highest = values().fold(0.0, f64::max);
        let lowest = values().fold(0.0, f64::min);
        match self.measure {
            Measure::Amount => {
                let top = if highest > 0.0 { highest * 1.15 } else { 1.0 };
                (lowest * 1.15, top, 6)
            }
            Measure::Count => {
                let top = (highest * 1.15).ceil().max(1.0);
                // Whole ticks: at most one per unit.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let ticks = (top as usize + 1).min(6);
                (0.0, top, ticks)
            }
        }
    }
}

/// A value-axis number, whole and grouped by thousands with thin spaces.
fn axis_number(value: &f64) -> String {
    // Axis ticks only: a rounded float is fine here, never for figures.
    #[allow(clippy::cast_possible_truncation)]
    let whole = value.round() as i64;
    crate::web::format::count(whole)
}

/// A heat map: rows × columns of shaded cells, each a count out of its
/// row's size (cohort retention: cohorts × months).
#[derive(Debug, Clone)]
pub struct HeatMap<'a> {
    /// What it shows, for screen readers.
    pub title: &'a str,
    /// Row labels, top to bottom.
    pub rows: Vec<String>,
    /// Column labels, left to right.
    pub columns: Vec<String>,
    /// (row, column, count, row size).
    pub cells: Vec<(String, String, i64, i64)>,
}

impl HeatMap<'_> {
    /// The map as an `<svg>` element, or `None` when there is nothing to
    /// draw.
    pub fn to_svg(&self) -> Result<Option<String>, ChartError> {
        if self.rows.is_empty() || self.columns.is_empty() {
            return Ok(None);
        }
        let fail = |cause: &dyn std::fmt::Display| ChartError {
            title: self.title.to_owned(),
            cause: cause.to_string(),
        };
        let (width, height) = (
            720_u32,
            60 + 28 * u32::try_from(self.rows.len()).unwrap_or(40).min(40),
        );
        let cols = self.columns.len();
        let rows = self.rows.len();
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
            root.fill(&WHITE).map_err(|e| fail(&e))?;
            let col_labels = self.columns.clone();
            let row_labels = self.rows.clone();
            let mut chart = ChartBuilder::on(&root)
                .margin(12)
                .x_label_area_size(30)
                .y_label_area_size(72)
                .build_cartesian_2d(0..cols, 0..rows)
                .map_err(|e| fail(&e))?;
            chart
                .configure_mesh()
                .disable_mesh()
                .axis_style(INK)
                .x_labels(cols.min(MAX_LABELS))
                .y_labels(rows)
                .x_label_formatter(&|i| col_labels.get(*i).cloned().unwrap_or_default())
                .y_label_formatter(&|i| {
                    row_labels
                        .get(rows.saturating_sub(1 + *i))
                        .cloned()
                        .unwrap_or_default()
                })
                .label_style(("sans-serif", 13).into_font().color(&INK))
                .draw()
                .map_err(|e| fail(&e))?;
            let cells = self.cells.iter().filter_map(|(row, column, n, size)| {
                let r = self.rows.iter().position(|x| x == row)?;
                let c = self.columns.iter().position(|x| x == column)?;
                #[allow(clippy::cast_precision_loss)]
                let share = if *size > 0 {
                    (*n as f64 / *size as f64).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let y = rows - 1 - r;
                Some(Rectangle::new(
                    [(c, y), (c + 1, y + 1)],
                    BAR.mix(0.1 + 0.9 * share).filled(),
                ))
            });
            chart.draw_series(cells).map_err(|e| fail(&e))?;
            root.present().map_err(|e| fail(&e))?;
        }
        Ok(Some(svg.replacen(
            "<svg ",
            &format!(
                "<svg class=\"chart-svg\" role=\"img\" aria-label=\"{}\" ",
                escape_attribute(self.title)
            ),
            1,
        )))
    }
}

fn escape_attribute(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(bars: Vec<Bar>) -> BarChart<'static> {
        BarChart {
            title: "Выручка по дням",
            value_axis: "₽",
            measure: Measure::Amount,
            width: Width::Full,
            bars,
            previous: None,
        }
    }

    #[test]
    fn a_chart_is_an_svg_with_one_bar_per_value_and_escaped_labels() {
        let svg = chart(vec![
            Bar {
                label: "01.03".into(),
                value: 120.5,
            },
            Bar {
                label: "<b>&".into(),
                value: 80.0,
            },
        ])
        .to_svg()
        .unwrap()
        .unwrap();
        assert!(
            svg.starts_with("<svg class=\"chart-svg\" role=\"img\""),
            "{svg}"
        );
        assert!(svg.contains("aria-label=\"Выручка по дням\""));
        assert!(svg.contains("01.03"));
        assert!(svg.contains("&lt;b&gt;&amp;"), "{svg}");
        assert!(!svg.contains("<b>"));
        assert!(svg.trim_end().ends_with("</svg>"));
    }

    #[test]
    fn one_bar_per_segment_and_negative_days_below_zero() {
        let svg = chart(vec![
            Bar {
                label: "01.03".into(),
                value: 100.0,
            },
            Bar {
                label: "02.03".into(),
                value: -40.0,
            },
        ])
        .to_svg()
        .unwrap()
        .unwrap();
        // The background, the plot area, then one filled rect per bar.
        let bars = svg.matches("fill=\"#1D5FA8\"").count();
        assert_eq!(bars, 2, "{svg}");
    }

    #[test]
    fn counts_get_whole_ticks() {
        let counts = BarChart {
            measure: Measure::Count,
            width: Width::Half,
            ..chart(vec![Bar {
                label: "Женщины".into(),
                value: 2.0,
            }])
        };
        assert_eq!(counts.value_range(), (0.0, 3.0, 4));
    }

    #[test]
    fn nothing_to_draw_is_no_chart() {
        assert!(chart(vec![]).to_svg().unwrap().is_none());
    }
}
