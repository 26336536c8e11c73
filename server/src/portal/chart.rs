//! Charts as SVG, drawn on the server: lines over time, shaded bands with
//! their names, and dosing sessions as labelled vertical lines. Readable
//! without colour — every series has its own marker shape and dash, every
//! band and session line is labelled in text — and without sight: the
//! figure has a title and a description, and the same numbers follow as a
//! table. Every point carries its series, date and value as `data-`
//! attributes, so tests can check that points sit where the data says.

use chrono::{DateTime, TimeDelta, Utc};
use maud::{Markup, html};

const WIDTH: f64 = 920.0;
const HEIGHT: f64 = 300.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 150.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 44.0;

/// A marker's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A filled circle.
    Circle,
    /// A filled square.
    Square,
    /// A triangle, point up.
    Triangle,
    /// A hollow diamond.
    Diamond,
}

/// One line of points.
#[derive(Debug, Clone)]
pub struct Series {
    /// Its name, in the legend and on each point.
    pub label: String,
    /// Its marker.
    pub shape: Shape,
    /// Its line's dash pattern (`None`: solid).
    pub dash: Option<&'static str>,
    /// Its colour (the shape and dash tell it apart without it).
    pub colour: &'static str,
    /// The points, in time order.
    pub points: Vec<(DateTime<Utc>, f64)>,
}

/// A shaded range of values with its name (a severity band).
#[derive(Debug, Clone)]
pub struct Band {
    /// Lowest value, inclusive.
    pub from: f64,
    /// Highest value, inclusive.
    pub to: f64,
    /// Its name, written at the right edge.
    pub label: &'static str,
    /// Its shade.
    pub shade: &'static str,
}

/// A moment marked by a vertical line (a dosing session).
#[derive(Debug, Clone)]
pub struct Event {
    /// When.
    pub at: DateTime<Utc>,
    /// A short label above the line ("D1").
    pub label: String,
    /// What the line means, for the tooltip and the description.
    pub title: String,
}

/// A chart.
#[derive(Debug, Clone)]
pub struct Chart {
    /// Its id on the page (for `aria-labelledby`).
    pub id: &'static str,
    /// Its title.
    pub title: String,
    /// The values' name (the y axis).
    pub y_label: &'static str,
    /// The y axis runs from 0 to this.
    pub y_max: f64,
    /// The values written on the y axis.
    pub y_ticks: Vec<f64>,
    /// Shaded bands, if any.
    pub bands: Vec<Band>,
    /// The lines.
    pub series: Vec<Series>,
    /// Vertical lines.
    pub events: Vec<Event>,
    /// The time axis's ends; `None` to fit the data.
    pub window: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

struct Frame {
    from: DateTime<Utc>,
    span_seconds: f64,
    y_max: f64,
}

impl Frame {
    fn x(&self, at: DateTime<Utc>) -> f64 {
        let seconds = (at - self.from).num_seconds() as f64;
        LEFT + (seconds / self.span_seconds).clamp(0.0, 1.0) * (WIDTH - LEFT - RIGHT)
    }

    fn y(&self, value: f64) -> f64 {
        let share = (value / self.y_max).clamp(0.0, 1.0);
        HEIGHT - BOTTOM - share * (HEIGHT - TOP - BOTTOM)
    }
}

fn frame(chart: &Chart) -> Frame {
    let times = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|(t, _)| *t))
        .chain(chart.events.iter().map(|e| e.at));
    let (mut from, mut to) = chart.window.unwrap_or_else(|| {
        let mut min: Option<DateTime<Utc>> = None;
        let mut max: Option<DateTime<Utc>> = None;
        for t in times {
            min = Some(min.map_or(t, |m| m.min(t)));
            max = Some(max.map_or(t, |m| m.max(t)));
        }
        let now = Utc::now();
        (min.unwrap_or(now), max.unwrap_or(now))
    });
    // Room on each side, and at least a week across, so one point does not
    // sit on the axis.
    let pad = ((to - from) / 20).max(TimeDelta::days(1));
    from -= pad;
    to += pad;
    Frame {
        from,
        span_seconds: ((to - from).num_seconds().max(1)) as f64,
        y_max: chart.y_max.max(1.0),
    }
}

fn number(value: f64) -> String {
    if (value - value.round()).abs() < 1e-9 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

fn marker(shape: Shape, x: f64, y: f64, colour: &str) -> Markup {
    match shape {
        Shape::Circle => html! {
            circle cx=(format!("{x:.1}")) cy=(format!("{y:.1}")) r="4.5" fill=(colour) {}
        },
        Shape::Square => html! {
            rect x=(format!("{:.1}", x - 4.0)) y=(format!("{:.1}", y - 4.0)) width="8" height="8" fill=(colour) {}
        },
        Shape::Triangle => html! {
            polygon points=(format!("{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}", x, y - 5.0, x - 5.0, y + 4.0, x + 5.0, y + 4.0)) fill=(colour) {}
        },
        Shape::Diamond => html! {
            polygon points=(format!("{:.1},{:.1} {:.1},{:.1} {:.1},{:.1} {:.1},{:.1}", x, y - 5.5, x + 5.5, y, x, y + 5.5, x - 5.5, y)) fill="#ffffff" stroke=(colour) stroke-width="2" {}
        },
    }
}

/// Ticks on the time axis: about six, on whole days.
fn time_ticks(frame: &Frame) -> Vec<DateTime<Utc>> {
    let span_days = (frame.span_seconds / 86_400.0).max(1.0);
    let step_days = (span_days / 6.0).ceil().max(1.0) as i64;
    let start = frame
        .from
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|d| d.and_utc())
        .unwrap_or(frame.from)
        + TimeDelta::days(1);
    (0..8)
        .map(|i| start + TimeDelta::days(i * step_days))
        .filter(|t| {
            let seconds = (*t - frame.from).num_seconds() as f64;
            seconds >= 0.0 && seconds <= frame.span_seconds
        })
        .collect()
}

/// Describes the chart in words, for the figure's description.
fn describe(chart: &Chart) -> String {
    let mut parts = Vec::new();
    for series in &chart.series {
        match (series.points.first(), series.points.last()) {
            (Some(first), Some(last)) => parts.push(format!(
                "{}: {} values, from {} on {} to {} on {}",
                series.label,
                series.points.len(),
                number(first.1),
                first.0.format("%-d %b %Y"),
                number(last.1),
                last.0.format("%-d %b %Y"),
            )),
            _ => parts.push(format!("{}: no values", series.label)),
        }
    }
    if !chart.events.is_empty() {
        let sessions: Vec<String> = chart.events.iter().map(|e| e.title.clone()).collect();
        parts.push(format!("marked: {}", sessions.join("; ")));
    }
    parts.join(". ")
}

/// The chart as an SVG figure followed by its numbers as a table.
pub fn render(chart: &Chart) -> Markup {
    let frame = frame(chart);
    let title_id = format!("{}-title", chart.id);
    let desc_id = format!("{}-desc", chart.id);
    let plot_right = WIDTH - RIGHT;
    html! {
        figure.chart {
            svg xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {WIDTH} {HEIGHT}"))
                role="img" aria-labelledby=(format!("{title_id} {desc_id}")) id=(chart.id) {
                title id=(title_id) { (chart.title) }
                desc id=(desc_id) { (describe(chart)) }
                // Bands, each named at the right edge.
                @for band in &chart.bands {
                    @let top = frame.y(band.to + 0.5);
                    @let bottom = frame.y((band.from - 0.5).max(0.0));
                    rect class="band" x=(LEFT) y=(format!("{top:.1}")) width=(format!("{:.1}", plot_right - LEFT))
                        height=(format!("{:.1}", (bottom - top).max(0.0))) fill=(band.shade) {}
                    text x=(format!("{:.1}", plot_right + 6.0)) y=(format!("{:.1}", (top + bottom) / 2.0 + 4.0))
                        font-size="11" fill="#333" { (band.label) " (" (number(band.from)) "–" (number(band.to)) ")" }
                }
                // Axes and grid.
                line x1=(LEFT) y1=(TOP) x2=(LEFT) y2=(HEIGHT - BOTTOM) stroke="#555" {}
                line x1=(LEFT) y1=(HEIGHT - BOTTOM) x2=(plot_right) y2=(HEIGHT - BOTTOM) stroke="#555" {}
                @for tick in &chart.y_ticks {
                    @let y = frame.y(*tick);
                    line x1=(LEFT - 4.0) y1=(format!("{y:.1}")) x2=(plot_right) y2=(format!("{y:.1}")) stroke="#ddd" {}
                    text x=(LEFT - 8.0) y=(format!("{:.1}", y + 4.0)) font-size="11" text-anchor="end" fill="#333" { (number(*tick)) }
                }
                text x="12" y=(format!("{:.1}", TOP - 10.0)) font-size="11" fill="#333" { (chart.y_label) }
                @for tick in time_ticks(&frame) {
                    @let x = frame.x(tick);
                    line x1=(format!("{x:.1}")) y1=(HEIGHT - BOTTOM) x2=(format!("{x:.1}")) y2=(HEIGHT - BOTTOM + 4.0) stroke="#555" {}
                    text x=(format!("{x:.1}")) y=(HEIGHT - BOTTOM + 18.0) font-size="11" text-anchor="middle" fill="#333" { (tick.format("%-d %b %y")) }
                }
                // Dosing sessions.
                @for event in &chart.events {
                    @let x = frame.x(event.at);
                    g class="event" data-at=(event.at.to_rfc3339()) {
                        title { (event.title) }
                        line x1=(format!("{x:.1}")) y1=(TOP) x2=(format!("{x:.1}")) y2=(HEIGHT - BOTTOM)
                            stroke="#6b3fa0" stroke-width="1.5" stroke-dasharray="2 3" {}
                        text x=(format!("{x:.1}")) y=(TOP - 4.0) font-size="11" text-anchor="middle" fill="#4a2a73" { (event.label) }
                    }
                }
                // The lines, then their points.
                @for series in &chart.series {
                    @let path: Vec<String> = series.points.iter()
                        .map(|(t, v)| format!("{:.1},{:.1}", frame.x(*t), frame.y(*v))).collect();
                    @if series.points.len() > 1 {
                        polyline points=(path.join(" ")) fill="none" stroke=(series.colour) stroke-width="2"
                            stroke-dasharray=[series.dash] {}
                    }
                    @for (at, value) in &series.points {
                        g class="point" data-series=(series.label) data-at=(at.to_rfc3339()) data-value=(number(*value)) {
                            title { (series.label) ": " (number(*value)) " on " (at.format("%-d %b %Y")) }
                            (marker(series.shape, frame.x(*at), frame.y(*value), series.colour))
                        }
                    }
                }
                // The legend, with each series' marker and dash.
                @for (index, series) in chart.series.iter().enumerate() {
                    @let x = LEFT + 10.0 + (index as f64) * 150.0;
                    g class="legend" {
                        line x1=(x) y1=(format!("{:.1}", HEIGHT - 8.0)) x2=(x + 26.0) y2=(format!("{:.1}", HEIGHT - 8.0))
                            stroke=(series.colour) stroke-width="2" stroke-dasharray=[series.dash] {}
                        (marker(series.shape, x + 13.0, HEIGHT - 8.0, series.colour))
                        text x=(x + 32.0) y=(format!("{:.1}", HEIGHT - 4.0)) font-size="12" fill="#222" { (series.label) }
                    }
                }
            }
            figcaption {
                (chart.title) ". "
                @if !chart.events.is_empty() { "Dotted vertical lines mark dosing sessions (D1, D2, …). " }
                @if !chart.bands.is_empty() { "Shaded bands are severity ranges, named on the right." }
            }
            details {
                summary { "The numbers behind this chart" }
                table {
                    caption { (chart.title) }
                    thead { tr { th scope="col" { "Date" } th scope="col" { "Measure" } th.num scope="col" { "Value" } } }
                    tbody {
                        @for series in &chart.series {
                            @for (at, value) in &series.points {
                                tr { td { (at.format("%-d %b %Y, %H:%M")) } td { (series.label) } td.num { (number(*value)) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn chart() -> Chart {
        Chart {
            id: "scores",
            title: "PHQ-9 over time".to_owned(),
            y_label: "Total",
            y_max: 27.0,
            y_ticks: vec![0.0, 10.0, 20.0],
            bands: vec![Band {
                from: 0.0,
                to: 4.0,
                label: "minimal",
                shade: "#eee",
            }],
            series: vec![Series {
                label: "PHQ-9".to_owned(),
                shape: Shape::Circle,
                dash: None,
                colour: "#000",
                points: vec![
                    (at("2026-01-01T09:00:00Z"), 20.0),
                    (at("2026-02-01T09:00:00Z"), 5.0),
                ],
            }],
            events: vec![Event {
                at: at("2026-01-15T09:00:00Z"),
                label: "D1".to_owned(),
                title: "Dosing session 1, 15 Jan 2026".to_owned(),
            }],
            window: None,
        }
    }

    #[test]
    fn later_points_sit_further_right_and_higher_values_higher_up() {
        let chart = chart();
        let frame = frame(&chart);
        let (a, b) = (chart.series[0].points[0], chart.series[0].points[1]);
        assert!(frame.x(a.0) < frame.x(chart.events[0].at));
        assert!(frame.x(chart.events[0].at) < frame.x(b.0));
        assert!(frame.y(a.1) < frame.y(b.1), "20 is drawn above 5");
        assert!((frame.y(0.0) - (HEIGHT - BOTTOM)).abs() < 1e-9);
        assert!((frame.y(27.0) - TOP).abs() < 1e-9);
    }

    #[test]
    fn the_svg_names_its_points_bands_and_sessions_in_text() {
        let svg = render(&chart()).into_string();
        assert!(
            svg.contains(
                r#"data-series="PHQ-9" data-at="2026-01-01T09:00:00+00:00" data-value="20""#
            ),
            "{svg}"
        );
        assert!(svg.contains("minimal (0–4)"));
        assert!(svg.contains(">D1<"));
        assert!(svg.contains("PHQ-9: 2 values, from 20 on 1 Jan 2026 to 5 on 1 Feb 2026"));
        assert!(
            !svg.contains("style="),
            "no inline style: the CSP forbids it"
        );
    }

    #[test]
    fn an_empty_chart_still_draws() {
        let mut empty = chart();
        empty.series[0].points.clear();
        empty.events.clear();
        let svg = render(&empty).into_string();
        assert!(svg.contains("PHQ-9: no values"));
    }
}
