//! The alert chart: a brand's mentions and negative mentions per minute over the last 24 hours,
//! the baseline's expectation and its band, and the alert's window shaded, as a PNG for the
//! email (inline) and the docs. Drawn with plotters and an embedded font (DejaVu Sans Mono,
//! licence in `alerts/fonts/`), so no system fonts are needed.

use crate::engine::SeriesPoint;
use plotters::prelude::*;
use std::sync::OnceLock;

const FONT: &[u8] = include_bytes!("../../../alerts/fonts/DejaVuSansMono.ttf");

fn font_ready() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok())
}

/// Why no chart was drawn (the alert goes out without one).
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// No series to draw.
    #[error("no points")]
    NoPoints,
    /// The embedded font could not be registered.
    #[error("the embedded font cannot be registered")]
    Font,
    /// Drawing failed.
    #[error("chart: {0}")]
    Draw(String),
    /// The drawn file could not be read back.
    #[error("chart: {0}")]
    Read(#[source] std::io::Error),
}

/// Renders the chart as PNG bytes. `marked` is the alert window (minute indices, inclusive).
///
/// # Errors
/// When there is nothing to draw or drawing fails.
pub fn render(points: &[SeriesPoint], marked: Option<(i64, i64)>, title: &str) -> Result<Vec<u8>, ChartError> {
    if points.is_empty() {
        return Err(ChartError::NoPoints);
    }
    if !font_ready() {
        return Err(ChartError::Font);
    }
    let path = std::env::temp_dir().join(format!(
        "crisiswatch-chart-{}-{:x}.png",
        std::process::id(),
        crate::hash::fnv1a(format!("{title}{:?}", std::time::SystemTime::now()).as_bytes())
    ));
    let result = draw(&path, points, marked, title).map_err(|e| ChartError::Draw(e.to_string()));
    let bytes = result.and_then(|()| std::fs::read(&path).map_err(ChartError::Read));
    let _ = std::fs::remove_file(&path);
    bytes
}

fn hhmm(minute: i64) -> String {
    let m = minute.rem_euclid(1440);
    format!("{:02}:{:02}", m / 60, m % 60)
}

fn draw(
    path: &std::path::Path,
    points: &[SeriesPoint],
    marked: Option<(i64, i64)>,
    title: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let (x0, x1) = (points[0].minute, points[points.len() - 1].minute + 1);
    let top = points.iter().map(|p| f64::from(p.mentions).max(p.upper)).fold(1.0, f64::max) * 1.1;
    let root = BitMapBackend::new(path, (720, 260)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 15))
        .margin(10)
        .x_label_area_size(24)
        .y_label_area_size(44)
        .build_cartesian_2d(x0..x1, 0f64..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(7)
        .y_labels(5)
        .x_label_formatter(&|m| hhmm(*m))
        .label_style(("sans-serif", 11))
        .light_line_style(RGBColor(238, 238, 238))
        .draw()?;
    if let Some((a, b)) = marked {
        chart.draw_series(std::iter::once(Rectangle::new(
            [(a.max(x0), 0.0), ((b + 1).min(x1), top)],
            RGBColor(255, 226, 222).filled(),
        )))?;
    }
    let band: Vec<(i64, f64)> =
        points.iter().map(|p| (p.minute, p.upper)).chain(points.iter().rev().map(|p| (p.minute, p.lower))).collect();
    chart.draw_series(std::iter::once(Polygon::new(band, RGBColor(222, 226, 232).filled())))?;
    chart
        .draw_series(LineSeries::new(points.iter().map(|p| (p.minute, p.expected)), RGBColor(130, 130, 130)))?
        .label("usual")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], RGBColor(130, 130, 130)));
    chart
        .draw_series(LineSeries::new(
            points.iter().map(|p| (p.minute, f64::from(p.mentions))),
            RGBColor(25, 90, 200).stroke_width(2),
        ))?
        .label("mentions")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], RGBColor(25, 90, 200).stroke_width(2)));
    chart
        .draw_series(LineSeries::new(points.iter().map(|p| (p.minute, f64::from(p.negative))), RGBColor(200, 35, 35)))?
        .label("negative")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], RGBColor(200, 35, 35)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 11))
        .background_style(WHITE.mix(0.8))
        .border_style(RGBColor(200, 200, 200))
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_png_with_the_spike() {
        let points: Vec<SeriesPoint> = (0..1440)
            .map(|m| {
                let spike = m > 1400;
                SeriesPoint {
                    minute: 29_000_000 + m,
                    mentions: if spike { 60 } else { 5 },
                    negative: if spike { 45 } else { 1 },
                    expected: 5.0,
                    lower: 0.5,
                    upper: 11.0,
                }
            })
            .collect();
        let png = render(&points, Some((29_001_400, 29_001_439)), "Acme: mentions per minute, last 24 h").unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert!(png.len() > 3000, "{} bytes", png.len());
        assert!(render(&[], None, "x").is_err());
    }
}
