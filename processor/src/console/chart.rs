//! A shop's events per hour by outcome over the last day, as an SVG bar chart drawn on the
//! server: stacked bars, one per hour, with a legend; readable without JavaScript.

use std::collections::BTreeMap;

use maud::{Markup, html};
use time::OffsetDateTime;

/// The outcomes charted, bottom to top, with their colours (the style sheet's).
const SERIES: [(&str, &str); 4] = [
    ("booked", "#067647"),
    ("summarised", "#2e90fa"),
    ("skipped", "#98a2b3"),
    ("dead", "#b42318"),
];
const HOURS: i64 = 24;
const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 180.0;
const LEFT: f64 = 36.0;
const BOTTOM: f64 = 24.0;
const TOP: f64 = 24.0;

/// The chart of `counts` (hour, outcome, events) for the 24 hours up to `now`.
pub(crate) fn events_per_hour(
    counts: &[(OffsetDateTime, String, i64)],
    now: OffsetDateTime,
) -> Markup {
    let last_hour = now
        .replace_minute(0)
        .and_then(|t| t.replace_second(0))
        .and_then(|t| t.replace_nanosecond(0))
        .unwrap_or(now);
    let first_hour = last_hour - time::Duration::hours(HOURS - 1);
    let mut by_hour: BTreeMap<i64, BTreeMap<&str, i64>> = BTreeMap::new();
    for (hour, outcome, count) in counts {
        let slot = (*hour - first_hour).whole_hours();
        if (0..HOURS).contains(&slot) {
            *by_hour
                .entry(slot)
                .or_default()
                .entry(outcome.as_str())
                .or_default() += count;
        }
    }
    let most = by_hour
        .values()
        .map(|outcomes| outcomes.values().sum::<i64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let plot_height = HEIGHT - TOP - BOTTOM;
    let slot_width = (WIDTH - LEFT) / HOURS as f64;
    let scale = plot_height / most as f64;
    let total: i64 = by_hour.values().flat_map(|o| o.values()).sum();
    html! {
        svg.chart viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img"
            aria-label={ "Events per hour over the last day: " (total) " in all" } {
            title { "Events per hour by outcome, last 24 hours (UTC)" }
            // The legend, across the top.
            @for (i, (outcome, colour)) in SERIES.iter().enumerate() {
                rect x=(LEFT + i as f64 * 110.0) y="4" width="10" height="10" fill=(colour) {}
                text x=(LEFT + i as f64 * 110.0 + 14.0) y="13" font-size="11" { (outcome) }
            }
            line x1=(LEFT) y1=(HEIGHT - BOTTOM) x2=(WIDTH) y2=(HEIGHT - BOTTOM) stroke="#98a2b3" {}
            text x=(LEFT - 4.0) y=(TOP + 4.0) font-size="10" text-anchor="end" { (most) }
            text x=(LEFT - 4.0) y=(HEIGHT - BOTTOM) font-size="10" text-anchor="end" { "0" }
            @for (slot, outcomes) in &by_hour {
                @let x = LEFT + *slot as f64 * slot_width + 1.0;
                @let mut y = HEIGHT - BOTTOM;
                @for (outcome, colour) in SERIES {
                    @if let Some(count) = outcomes.get(outcome).filter(|c| **c > 0) {
                        @let height = *count as f64 * scale;
                        @let top = { y -= height; y };
                        rect x=(format!("{x:.1}")) y=(format!("{top:.1}")) width=(format!("{:.1}", slot_width - 2.0))
                            height=(format!("{height:.1}")) fill=(colour) {
                            title { (count) " " (outcome) }
                        }
                    }
                }
            }
            @for slot in (0..HOURS).step_by(6) {
                @let hour = first_hour + time::Duration::hours(slot);
                text x=(format!("{:.1}", LEFT + slot as f64 * slot_width)) y=(HEIGHT - 6.0) font-size="10" {
                    (format!("{:02}:00", hour.hour()))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn bars_stack_per_hour_and_old_hours_are_left_out() {
        let now = datetime!(2026-12-07 12:30 UTC);
        let counts = vec![
            (datetime!(2026-12-07 12:00 UTC), "booked".to_owned(), 6),
            (datetime!(2026-12-07 12:00 UTC), "dead".to_owned(), 2),
            (datetime!(2026-12-06 11:00 UTC), "booked".to_owned(), 50),
        ];
        let svg = events_per_hour(&counts, now).into_string();
        assert!(svg.contains("8 in all"), "{svg}");
        assert!(svg.contains("<title>6 booked</title>"));
        assert!(svg.contains("<title>2 dead</title>"));
        assert!(
            !svg.contains("50 booked"),
            "a day and more ago is not charted"
        );
    }
}
