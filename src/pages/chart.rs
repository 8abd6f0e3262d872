//! Line charts drawn on the server as SVG: no script, no third party, and
//! styled by the page's stylesheet (the series differ by dash as well as
//! by colour).

use chrono::NaiveDate;

pub struct Series<'a> {
    pub label: String,
    pub values: &'a [i64],
    /// A CSS class: `accepted`, `refused`.
    pub class: &'static str,
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 40.0;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A "nice" top of the axis: 1, 2 or 5 times a power of ten.
fn axis_top(max: i64) -> i64 {
    if max <= 0 {
        return 1;
    }
    let mut step = 1i64;
    loop {
        for m in [1, 2, 5] {
            if step * m >= max {
                return step * m;
            }
        }
        step = step.saturating_mul(10);
    }
}

/// One chart: `days` along the bottom, each series a line.
pub fn lines(title: &str, days: &[NaiveDate], series: &[Series<'_>]) -> String {
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .max()
        .unwrap_or(0);
    let top = axis_top(max);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let n = days.len().max(1);
    let x = |i: usize| {
        if n == 1 {
            LEFT + plot_w / 2.0
        } else {
            LEFT + plot_w * i as f64 / (n - 1) as f64
        }
    };
    let y = |v: i64| TOP + plot_h - plot_h * v as f64 / top as f64;
    let mut out = String::with_capacity(4096);
    out.push_str(&format!(
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
        escape(title)
    ));
    // Grid and vertical axis: 0, half, top.
    for v in [0, top / 2, top] {
        let yy = y(v);
        out.push_str(&format!(
            "<line class=\"grid\" x1=\"{LEFT}\" y1=\"{yy:.1}\" x2=\"{:.1}\" y2=\"{yy:.1}\"/>",
            WIDTH - RIGHT
        ));
        out.push_str(&format!(
            "<text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{v}</text>",
            LEFT - 6.0,
            yy + 4.0
        ));
    }
    // Days: the first, the middle and the last.
    if let (Some(first), Some(last)) = (days.first(), days.last()) {
        let mut marks = vec![(0, first)];
        if n > 2 {
            marks.push((n / 2, &days[n / 2]));
        }
        if n > 1 {
            marks.push((n - 1, last));
        }
        for (i, d) in marks {
            out.push_str(&format!(
                "<text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                x(i),
                HEIGHT - BOTTOM + 18.0,
                d.format("%d/%m")
            ));
        }
    }
    for s in series {
        let points: Vec<String> = s
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v)))
            .collect();
        out.push_str(&format!(
            "<polyline class=\"series {}\" fill=\"none\" points=\"{}\"><title>{}</title></polyline>",
            s.class,
            points.join(" "),
            escape(&s.label)
        ));
    }
    // Legend.
    let mut lx = LEFT;
    for s in series {
        let ly = HEIGHT - 8.0;
        out.push_str(&format!(
            "<line class=\"series {}\" x1=\"{lx:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\"/>",
            s.class,
            ly - 4.0,
            lx + 24.0,
            ly - 4.0
        ));
        out.push_str(&format!(
            "<text class=\"legend\" x=\"{:.1}\" y=\"{ly:.1}\">{}</text>",
            lx + 30.0,
            escape(&s.label)
        ));
        lx += 40.0 + 8.0 * s.label.chars().count() as f64;
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_has_a_line_per_series_and_escapes_its_words() {
        let days: Vec<NaiveDate> = (1..=3)
            .map(|d| NaiveDate::from_ymd_opt(2026, 3, d).unwrap())
            .collect();
        let svg = lines(
            "Matomo <audience>",
            &days,
            &[
                Series {
                    label: "acceptés".into(),
                    values: &[1, 4, 2],
                    class: "accepted",
                },
                Series {
                    label: "refusés".into(),
                    values: &[0, 1, 3],
                    class: "refused",
                },
            ],
        );
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("Matomo &lt;audience&gt;"));
        assert!(
            !svg.contains("style="),
            "styled by the stylesheet, as the CSP wants"
        );
        assert_eq!(axis_top(4), 5);
        assert_eq!(axis_top(0), 1);
        assert_eq!(axis_top(101), 200);
    }
}
