//! Charts as server-rendered SVG: no chart library, no script, nothing fetched. A sparkline
//! per brand (mentions against the baseline band) and the incident curve (mentions,
//! negatives, the band and the alert window). Pure functions of the points.

use super::page::esc;
use crate::engine::SeriesPoint;
use crate::time::MINUTE_MS;
use std::fmt::Write;

/// Sums `points` into buckets of `n` minutes: (mentions, negative, expected, lower, upper).
/// The band of a bucket adds the minutes' expectations and, as variances add, widens with
/// the square root of the sum of squared half-widths.
pub fn buckets(points: &[SeriesPoint], n: usize) -> Vec<(i64, f64, f64, f64, f64, f64)> {
    points
        .chunks(n.max(1))
        .map(|c| {
            let m: f64 = c.iter().map(|p| f64::from(p.mentions)).sum();
            let neg: f64 = c.iter().map(|p| f64::from(p.negative)).sum();
            let e: f64 = c.iter().map(|p| p.expected).sum();
            let hi: f64 = c.iter().map(|p| (p.upper - p.expected).powi(2)).sum::<f64>().sqrt();
            let lo: f64 = c.iter().map(|p| (p.expected - p.lower).powi(2)).sum::<f64>().sqrt();
            (c[0].minute, m, neg, e, (e - lo).max(0.0), e + hi)
        })
        .collect()
}

fn xy(w: f64, h: f64, n: usize, max: f64) -> impl Fn(usize, f64) -> (f64, f64) {
    move |i, v| {
        let x = if n <= 1 { 0.0 } else { i as f64 * w / (n - 1) as f64 };
        (x, h - (v / max).min(1.0) * h)
    }
}

/// An SVG path through `points`, coordinates to `decimals` places (sparklines are 160 × 32
/// units and need none, which keeps a page of a hundred brands small).
fn path(points: &[(f64, f64)], decimals: usize) -> String {
    let mut s = String::with_capacity(points.len() * 12);
    for (i, (x, y)) in points.iter().enumerate() {
        let _ = write!(s, "{}{x:.decimals$},{y:.decimals$}", if i == 0 { "M" } else { "L" });
    }
    s
}

/// The closed band between the `upper` edge (left to right) and the `lower` one (right to left).
fn band(upper: &[(f64, f64)], lower: &[(f64, f64)], decimals: usize) -> String {
    let mut band = path(upper, decimals);
    band.push_str(&path(lower, decimals).replacen('M', "L", 1));
    band.push('Z');
    band
}

/// A 24 h sparkline: mentions per 20 minutes over the baseline band.
pub fn sparkline(points: &[SeriesPoint], label: &str) -> String {
    let b = buckets(points, 20);
    let (w, h) = (160.0, 32.0);
    if b.is_empty() {
        return format!(r#"<svg class="spark" viewBox="0 0 {w} {h}" role="img" aria-label="{}"></svg>"#, esc(label));
    }
    let max = b.iter().map(|x| x.1.max(x.5)).fold(1.0, f64::max) * 1.05;
    let at = xy(w, h, b.len(), max);
    let upper: Vec<_> = b.iter().enumerate().map(|(i, x)| at(i, x.5)).collect();
    let lower: Vec<_> = b.iter().enumerate().rev().map(|(i, x)| at(i, x.4)).collect();
    let line: Vec<_> = b.iter().enumerate().map(|(i, x)| at(i, x.1)).collect();
    let band = band(&upper, &lower, 0);
    format!(
        r#"<svg class="spark" viewBox="0 0 {w} {h}" preserveAspectRatio="none" role="img" aria-label="{}"><path class="band" d="{band}"/><path class="line" d="{}"/></svg>"#,
        esc(label),
        path(&line, 0)
    )
}

/// The incident's 24 h curve per 10 minutes: band, mentions, negatives, and the alert window
/// shaded; hour ticks carry their time for the page's script to show in the viewer's zone.
pub fn curve(points: &[SeriesPoint], window: Option<(i64, i64)>, label: &str) -> String {
    curve_of(&buckets(points, 10), 10, window, label)
}

/// The last hour before the alert, per minute, from the event's own `curve` (mentions only).
pub fn window_curve(counts: &[u64], end_ms: i64, window: Option<(i64, i64)>, label: &str) -> String {
    let start_min = end_ms / MINUTE_MS - counts.len() as i64;
    let b: Vec<_> =
        counts.iter().enumerate().map(|(i, &c)| (start_min + i as i64, c as f64, -1.0, -1.0, -1.0, -1.0)).collect();
    curve_of(&b, 1, window, label)
}

fn curve_of(b: &[(i64, f64, f64, f64, f64, f64)], step_min: i64, window: Option<(i64, i64)>, label: &str) -> String {
    let (w, h, pad) = (720.0, 180.0, 22.0);
    let mut s = format!(r#"<svg class="curve" viewBox="0 0 {w} {}" role="img" aria-label="{}">"#, h + pad, esc(label));
    if b.is_empty() {
        s.push_str("</svg>");
        return s;
    }
    let max = b.iter().map(|x| x.1.max(x.5)).fold(1.0, f64::max) * 1.1;
    let at = xy(w, h, b.len(), max);
    let first = b[0].0;
    let idx = |minute: i64| ((minute - first) as f64 / step_min as f64).clamp(0.0, (b.len() - 1) as f64);
    if let Some((ws, we)) = window {
        let (x0, x1) = (at(idx(ws / MINUTE_MS) as usize, 0.0).0, at(idx(we / MINUTE_MS).ceil() as usize, 0.0).0);
        let _ = write!(s, r#"<rect class="win" x="{x0:.1}" y="0" width="{:.1}" height="{h}"/>"#, (x1 - x0).max(2.0));
    }
    if b[0].3 >= 0.0 {
        let upper: Vec<_> = b.iter().enumerate().map(|(i, x)| at(i, x.5)).collect();
        let lower: Vec<_> = b.iter().enumerate().rev().map(|(i, x)| at(i, x.4)).collect();
        let band = band(&upper, &lower, 1);
        let exp: Vec<_> = b.iter().enumerate().map(|(i, x)| at(i, x.3)).collect();
        let _ = write!(s, r#"<path class="band" d="{band}"/><path class="exp" d="{}"/>"#, path(&exp, 1));
        let neg: Vec<_> = b.iter().enumerate().map(|(i, x)| at(i, x.2)).collect();
        let _ = write!(s, r#"<path class="neg" d="{}"/>"#, path(&neg, 1));
    }
    let line: Vec<_> = b.iter().enumerate().map(|(i, x)| at(i, x.1)).collect();
    let _ = write!(s, r#"<path class="line" d="{}"/>"#, path(&line, 1));
    // ticks: six evenly spaced times
    for k in 0..=5 {
        let i = (b.len() - 1) * k / 5;
        let (x, _) = at(i, 0.0);
        let ms = b[i].0 * MINUTE_MS;
        let anchor = match k {
            0 => "start",
            5 => "end",
            _ => "middle",
        };
        let _ = write!(
            s,
            r#"<text class="tick" x="{x:.1}" y="{}" text-anchor="{anchor}" data-ts="{}">{}</text>"#,
            h + 16.0,
            crate::time::format_rfc3339(ms),
            crate::time::format_rfc3339(ms).get(11..16).unwrap_or("")
        );
    }
    let _ = write!(s, r#"<text class="tick" x="4" y="12">{max:.0}</text></svg>"#, max = max / 1.1);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(n: usize, v: u32) -> Vec<SeriesPoint> {
        (0..n)
            .map(|i| SeriesPoint {
                minute: 29_000_000 + i as i64,
                mentions: v,
                negative: v / 4,
                expected: 2.0,
                lower: 1.0,
                upper: 3.0,
            })
            .collect()
    }

    #[test]
    fn buckets_add_counts_and_widen_the_band_like_variances() {
        let b = buckets(&pts(30, 4), 15);
        assert_eq!(b.len(), 2);
        assert_eq!((b[0].1, b[0].2, b[0].3), (60.0, 15.0, 30.0));
        // 15 half-widths of 1 add to √15 ≈ 3.87, not 15
        assert!((b[0].5 - 30.0 - 15f64.sqrt()).abs() < 1e-9);
    }

    #[test]
    fn charts_are_svg_with_their_parts_and_escape_labels() {
        let s = sparkline(&pts(1440, 3), "<b>");
        assert!(s.starts_with("<svg") && s.ends_with("</svg>") && s.contains("&lt;b&gt;"));
        assert!(s.contains(r#"class="band""#) && s.contains(r#"class="line""#));
        let c = curve(&pts(1440, 3), Some((29_000_600 * MINUTE_MS, 29_000_615 * MINUTE_MS)), "x");
        assert!(c.contains(r#"class="win""#) && c.contains(r#"class="neg""#) && c.matches("data-ts").count() == 6);
        let w = window_curve(&[1, 2, 3], 29_000_000 * MINUTE_MS, None, "x");
        assert!(w.contains(r#"class="line""#) && !w.contains(r#"class="band""#));
        assert_eq!(sparkline(&[], "e").matches("<path").count(), 0);
    }
}
