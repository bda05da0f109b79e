//! The price chart: an inline SVG line chart of each unit kind's daily volume-weighted average
//! price between two dates. Month ticks carry their year (`2025-12`). The chart scales with
//! its box (`viewBox`); on a narrow screen the CSS hides every other month tick and enlarges
//! the tick labels (`.tick`, `.odd`) so that they stay readable.

use super::html::{kind_label, units, yuan};
use super::Lang;
use crate::ledger::dates;
use carbon_proto::v1::{MarketDay, UnitKind};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A unit kind's points: (date, average price in fen, volume in t), in date order.
pub type Series = BTreeMap<i32, Vec<(u32, u64, u64)>>;

/// Per unit kind, the volume-weighted average price of each day (fen), in date order.
pub fn series(days: &[MarketDay]) -> Series {
    let mut acc: BTreeMap<(i32, u32), (u128, u128)> = BTreeMap::new();
    for d in days {
        let kind = d.unit_class.as_ref().map_or(0, |c| c.kind);
        let e = acc.entry((kind, d.date)).or_default();
        e.0 += u128::from(d.turnover_fen);
        e.1 += u128::from(d.volume);
    }
    let mut out = Series::new();
    for ((kind, date), (turnover, volume)) in acc {
        if let Some(price) = turnover.checked_div(volume) {
            let price = u64::try_from(price).unwrap_or(u64::MAX);
            let volume = u64::try_from(volume).unwrap_or(u64::MAX);
            out.entry(kind).or_default().push((date, price, volume));
        }
    }
    out
}

const COLORS: [(i32, &str); 4] = [
    (UnitKind::Cea as i32, "#c0392b"),
    (UnitKind::Ccer as i32, "#2471a3"),
    (UnitKind::Forestry as i32, "#1e8449"),
    (UnitKind::BlueCarbon as i32, "#148f77"),
];

/// The colour of a unit kind's line (and legend swatch).
pub fn color(kind: i32) -> &'static str {
    COLORS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or("#555", |(_, c)| c)
}

/// The chart's frame in SVG user units, and its scales.
struct Frame {
    w: f64,
    h: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
    /// First date's start (ms) and the span shown (ms).
    t0: f64,
    span: f64,
    /// The price axis' top, CNY per tonne.
    y_max: f64,
}

impl Frame {
    fn new(s: &Series, first: u32, last: u32) -> Frame {
        let t0 = dates::start_ms(first) as f64;
        let max_price = s
            .values()
            .flatten()
            .map(|&(_, p, _)| p)
            .max()
            .unwrap_or(1)
            .max(1) as f64;
        Frame {
            w: 900.0,
            h: 340.0,
            left: 80.0,
            right: 24.0,
            top: 20.0,
            bottom: 52.0,
            t0,
            span: ((dates::start_ms(last) as f64) - t0).max(86_400_000.0),
            y_max: (max_price / 100.0 / 20.0).ceil() * 20.0, // CNY, rounded up to 20
        }
    }

    fn x(&self, date: u32) -> f64 {
        self.left
            + (dates::start_ms(date) as f64 - self.t0) / self.span
                * (self.w - self.left - self.right)
    }

    fn y(&self, fen: u64) -> f64 {
        self.top + (1.0 - fen as f64 / 100.0 / self.y_max) * (self.h - self.top - self.bottom)
    }
}

/// Writes the chart of `s` between `first` and `last` (CST dates).
pub fn chart(o: &mut String, s: &Series, first: u32, last: u32, lang: Lang) {
    let f = Frame::new(s, first, last);
    let _ = write!(
        o,
        "<svg class=\"chart\" viewBox=\"0 0 {} {}\" role=\"img\" aria-label=\"{}\">",
        f.w,
        f.h,
        lang.t("碳市场成交均价", "Market prices")
    );
    price_axis(o, &f, lang);
    month_ticks(o, &f, first, last);
    for (kind, points) in s {
        lines(o, &f, *kind, points, lang);
    }
    o.push_str("</svg>");
}

/// The price grid and its labels (CNY per tonne).
fn price_axis(o: &mut String, f: &Frame, lang: Lang) {
    for i in 0..=4 {
        let v = f.y_max * f64::from(i) / 4.0;
        let yy = f.top + (1.0 - f64::from(i) / 4.0) * (f.h - f.top - f.bottom);
        let _ = write!(
            o,
            "<line x1=\"{}\" y1=\"{yy:.1}\" x2=\"{}\" y2=\"{yy:.1}\" class=\"grid\"/>\
             <text x=\"{}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"end\">{v:.0}</text>",
            f.left,
            f.w - f.right,
            f.left - 8.0,
            yy + 5.0
        );
    }
    let _ = write!(
        o,
        "<text x=\"16\" y=\"{}\" class=\"axis\" transform=\"rotate(-90 16 {})\">{}</text>",
        f.h / 2.0,
        f.h / 2.0,
        lang.t("元/吨", "CNY/t")
    );
}

/// A tick at the first day of each month, labelled with its year and month (`2025-12`);
/// every other one is `odd` (hidden on a narrow screen).
fn month_ticks(o: &mut String, f: &Frame, first: u32, last: u32) {
    let mut m = first / 100;
    let mut n = 0u32;
    while m <= last / 100 {
        let d = m * 100 + 1;
        if d >= first {
            let xx = f.x(d);
            let class = if n % 2 == 1 { "tick odd" } else { "tick" };
            let _ = write!(
                o,
                "<line x1=\"{xx:.1}\" y1=\"{}\" x2=\"{xx:.1}\" y2=\"{}\" class=\"grid\"/>\
                 <text x=\"{xx:.1}\" y=\"{}\" class=\"{class}\" text-anchor=\"middle\">{:04}-{:02}</text>",
                f.h - f.bottom,
                f.h - f.bottom + 5.0,
                f.h - f.bottom + 24.0,
                m / 100,
                m % 100
            );
            n += 1;
        }
        m = if m % 100 == 12 { m + 89 } else { m + 1 };
    }
}

/// A kind's line and its points (with the day's figures as a tooltip).
fn lines(o: &mut String, f: &Frame, kind: i32, points: &[(u32, u64, u64)], lang: Lang) {
    let color = color(kind);
    let pts: Vec<String> = points
        .iter()
        .map(|&(d, p, _)| format!("{:.1},{:.1}", f.x(d), f.y(p)))
        .collect();
    let _ = write!(
        o,
        "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>",
        pts.join(" ")
    );
    let kind_name = kind_label(UnitKind::try_from(kind).unwrap_or_default(), lang);
    for &(d, p, v) in points {
        let _ = write!(
            o,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"5\" fill=\"{color}\"><title>{} {kind_name} {} {}, {} t</title></circle>",
            f.x(d),
            f.y(p),
            dates::format_date(d),
            yuan(p),
            lang.t("元/吨", "CNY/t"),
            units(v)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carbon_proto::v1::UnitClass;

    #[test]
    fn the_chart_averages_each_kind_per_day_by_volume() {
        let day = |kind: UnitKind, vintage, date, volume, turnover| MarketDay {
            unit_class: Some(UnitClass {
                kind: kind as i32,
                vintage,
                project_id: String::new(),
            }),
            date,
            trades: 1,
            volume,
            turnover_fen: turnover,
            average_price_fen: turnover / volume,
        };
        let s = series(&[
            day(UnitKind::Cea, 2025, 20261125, 100, 100 * 9_000),
            day(UnitKind::Cea, 2026, 20261125, 300, 300 * 10_000),
            day(UnitKind::Cea, 2025, 20261126, 10, 10 * 9_500),
        ]);
        assert_eq!(
            s[&(UnitKind::Cea as i32)],
            vec![(20261125, 9_750, 400), (20261126, 9_500, 10)]
        );
    }

    #[test]
    fn month_ticks_carry_their_year() {
        let s = series(&[]);
        let f = Frame::new(&s, 20251202, 20261202);
        let mut o = String::new();
        month_ticks(&mut o, &f, 20251202, 20261202);
        for label in [">2026-01<", ">2026-12<", ">2026-06<"] {
            assert!(o.contains(label), "{label} in {o}");
        }
        // 2025-12-01 is before the first date: no tick for it.
        assert!(!o.contains(">2025-12<"), "{o}");
        assert_eq!(o.matches("tick odd").count(), 6, "{o}");
    }
}
