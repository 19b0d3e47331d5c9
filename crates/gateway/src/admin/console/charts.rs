//! Charts rendered on the server as inline SVG strings: no script, no
//! `style` attributes or elements (colours and fonts are presentation
//! attributes such as `fill=` and `font-size=`, which a CSP of
//! `style-src 'self'` does not block), every piece of text XML-escaped.
//! Each chart has a fixed `viewBox` (it scales with its container), a
//! `<title>` naming it (and one per point or bar, for screen readers and
//! hover), a y axis with 3-5 round ticks from zero, and a legend. Empty data
//! renders a chart that says "no data" rather than NaN coordinates.

use std::fmt::Write as _;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 360.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 624.0;
const TOP: f64 = 44.0;
const BOTTOM: f64 = 260.0;
const LEGEND_Y: f64 = 304.0;
const LEGEND_COLUMNS: usize = 4;
const LEGEND_ROWS: usize = 2;
const MAX_X_LABELS: usize = 8;
const FONT: &str = "font-family=\"system-ui, sans-serif\"";

/// Colour-blind-safe palette (Okabe-Ito), cycled.
const PALETTE: &[&str] = &["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"];

/// Escapes text for XML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters other than tab and newline are not allowed in XML 1.0.
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Round tick values from 0 to at least `max`: 3 to 5 of them, with a step of 1, 2 or 5 times a power of ten.
pub fn ticks(max: f64) -> Vec<f64> {
    let max = if max.is_finite() && max > 0.0 { max } else { 1.0 };
    let raw = max / 4.0;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let step = [1.0, 2.0, 5.0, 10.0].into_iter().find(|s| *s >= norm - 1e-9).unwrap_or(10.0) * mag;
    let n = (max / step - 1e-9).ceil().max(1.0) as usize;
    // Rounding the product avoids 0.30000000000000004 and its kind.
    let round = |v: f64| (v / mag * 1000.0).round() / 1000.0 * mag;
    let mut t: Vec<f64> = (0..=n).map(|i| round(i as f64 * step)).collect();
    if t.len() < 3 {
        t.push(round((n + 1) as f64 * step));
    }
    t
}

/// A tick label: `1.5k`, `2M`, `0.25`, `40`.
pub fn format_value(v: f64) -> String {
    let trim = |s: String| {
        if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
    };
    let a = v.abs();
    if a >= 1e9 {
        format!("{}G", trim(format!("{:.2}", v / 1e9)))
    } else if a >= 1e6 {
        format!("{}M", trim(format!("{:.2}", v / 1e6)))
    } else if a >= 1e4 {
        format!("{}k", trim(format!("{:.2}", v / 1e3)))
    } else {
        trim(format!("{v:.3}"))
    }
}

/// A finite, non-negative value (a negative one is drawn at zero).
fn clean(v: f64) -> Option<f64> {
    v.is_finite().then_some(v.max(0.0))
}

fn open(out: &mut String, title: &str, desc: &str) {
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" \
         aria-labelledby=\"chart-title\" class=\"chart\"><title id=\"chart-title\">{}</title><desc>{}</desc>",
        escape(title),
        escape(desc)
    );
    let _ = write!(
        out,
        "<text x=\"{LEFT}\" y=\"24\" font-size=\"16\" font-weight=\"600\" fill=\"#222222\" {FONT}>{}</text>",
        escape(title)
    );
}

fn no_data(title: &str) -> String {
    let mut out = String::new();
    open(&mut out, title, "no data");
    let _ = write!(
        out,
        "<rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#cccccc\"/>\
         <text x=\"{}\" y=\"{}\" font-size=\"14\" text-anchor=\"middle\" fill=\"#666666\" {FONT}>no data</text></svg>",
        RIGHT - LEFT,
        BOTTOM - TOP,
        (LEFT + RIGHT) / 2.0,
        (TOP + BOTTOM) / 2.0
    );
    out
}

/// The y axis: grid lines, tick labels and the unit; returns the y of a value.
fn y_axis(out: &mut String, max: f64, unit: &str) -> impl Fn(f64) -> f64 + use<> {
    let t = ticks(max);
    let top = *t.last().unwrap_or(&1.0);
    let y = move |v: f64| BOTTOM - (v / top) * (BOTTOM - TOP);
    out.push_str("<g class=\"y-axis\">");
    for v in &t {
        let yy = y(*v);
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{RIGHT}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#e5e5e5\"/>\
             <text x=\"{}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\" fill=\"#555555\" {FONT}>{}</text>",
            LEFT - 6.0,
            yy + 4.0,
            escape(&format_value(*v))
        );
    }
    let _ = write!(
        out,
        "<line x1=\"{LEFT}\" x2=\"{LEFT}\" y1=\"{TOP}\" y2=\"{BOTTOM}\" stroke=\"#999999\"/>\
         <line x1=\"{LEFT}\" x2=\"{RIGHT}\" y1=\"{BOTTOM}\" y2=\"{BOTTOM}\" stroke=\"#999999\"/>\
         <text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\" fill=\"#555555\" {FONT}>{}</text></g>",
        RIGHT,
        24,
        escape(unit)
    );
    y
}

/// X labels under the axis, at most [`MAX_X_LABELS`] of them (evenly thinned).
fn x_labels(out: &mut String, labels: &[String], x: impl Fn(usize) -> f64) {
    let every = labels.len().div_ceil(MAX_X_LABELS).max(1);
    out.push_str("<g class=\"x-axis\">");
    for (i, l) in labels.iter().enumerate().filter(|(i, _)| i % every == 0) {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#555555\" {FONT}>{}</text>",
            x(i),
            BOTTOM + 18.0,
            escape(l)
        );
    }
    out.push_str("</g>");
}

/// The legend: a swatch and a name per entry, in rows under the chart.
fn legend(out: &mut String, names: &[&str]) {
    let room = LEGEND_COLUMNS * LEGEND_ROWS;
    let col_w = (RIGHT - LEFT) / LEGEND_COLUMNS as f64;
    out.push_str("<g class=\"legend\">");
    for (i, name) in names.iter().enumerate().take(room) {
        let shown = if names.len() > room && i == room - 1 {
            format!("+{} more", names.len() - room + 1)
        } else {
            name.to_string()
        };
        let (x, y) = (LEFT + (i % LEGEND_COLUMNS) as f64 * col_w, LEGEND_Y + (i / LEGEND_COLUMNS) as f64 * 22.0);
        let colour = if names.len() > room && i == room - 1 { "#999999" } else { PALETTE[i % PALETTE.len()] };
        let _ = write!(
            out,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{colour}\"/>\
             <text x=\"{:.1}\" y=\"{y:.1}\" font-size=\"12\" fill=\"#222222\" {FONT}>{}</text>",
            y - 10.0,
            x + 18.0,
            escape(&shown)
        );
    }
    out.push_str("</g>");
}

/// A line chart: one line per series over `x_labels` (values past the
/// labels are ignored; a missing or non-finite value breaks the line).
pub fn line_chart(title: &str, x_labels_: &[String], series: &[(String, Vec<f64>)], unit: &str) -> String {
    let n = x_labels_.len();
    let max = series
        .iter()
        .flat_map(|(_, v)| v.iter().take(n).filter_map(|x| clean(*x)))
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    let Some(max) = max.filter(|_| n > 0) else {
        return no_data(title);
    };
    let mut out = String::with_capacity(4096);
    open(&mut out, title, &format!("line chart, {} series over {n} points, in {unit}", series.len()));
    let y = y_axis(&mut out, max, unit);
    let x = |i: usize| if n == 1 { (LEFT + RIGHT) / 2.0 } else { LEFT + i as f64 * (RIGHT - LEFT) / (n - 1) as f64 };
    x_labels(&mut out, x_labels_, x);
    for (s, (name, values)) in series.iter().enumerate() {
        let colour = PALETTE[s % PALETTE.len()];
        let _ = write!(out, "<g class=\"series\"><title>{}</title>", escape(name));
        // Runs of consecutive finite values, each one polyline.
        let mut run: Vec<String> = Vec::new();
        let flush = |run: &mut Vec<String>, out: &mut String| {
            if run.len() > 1 {
                let _ = write!(
                    out,
                    "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>",
                    run.join(" ")
                );
            }
            run.clear();
        };
        for i in 0..n {
            match values.get(i).and_then(|v| clean(*v)) {
                Some(v) => run.push(format!("{:.1},{:.1}", x(i), y(v))),
                None => flush(&mut run, &mut out),
            }
        }
        flush(&mut run, &mut out);
        for (i, v) in values.iter().take(n).enumerate() {
            let Some(v) = clean(*v) else { continue };
            let _ = write!(
                out,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{colour}\"><title>{}</title></circle>",
                x(i),
                y(v),
                escape(&format!("{name}, {}: {} {unit}", x_labels_[i], format_value(v)))
            );
        }
        out.push_str("</g>");
    }
    let names: Vec<&str> = series.iter().map(|(n, _)| n.as_str()).collect();
    legend(&mut out, &names);
    out.push_str("</svg>");
    out
}

/// A bar chart: one bar per label (values past the labels are ignored; a
/// missing or non-finite value draws no bar).
pub fn bar_chart(title: &str, labels: &[String], values: &[f64], unit: &str) -> String {
    let n = labels.len();
    let max =
        values.iter().take(n).filter_map(|v| clean(*v)).fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    let Some(max) = max.filter(|_| n > 0) else {
        return no_data(title);
    };
    let mut out = String::with_capacity(4096);
    open(&mut out, title, &format!("bar chart, {n} bars, in {unit}"));
    let y = y_axis(&mut out, max, unit);
    let slot = (RIGHT - LEFT) / n as f64;
    let x = |i: usize| LEFT + (i as f64 + 0.5) * slot;
    x_labels(&mut out, labels, x);
    let colour = PALETTE[0];
    out.push_str("<g class=\"bars\">");
    for (i, l) in labels.iter().enumerate() {
        let Some(v) = values.get(i).and_then(|v| clean(*v)) else { continue };
        let w = (slot * 0.7).max(1.0);
        let top = y(v);
        let _ = write!(
            out,
            "<rect x=\"{:.1}\" y=\"{top:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"{colour}\"><title>{}</title></rect>",
            x(i) - w / 2.0,
            BOTTOM - top,
            escape(&format!("{l}: {} {unit}", format_value(v)))
        );
    }
    out.push_str("</g>");
    legend(&mut out, &[if unit.is_empty() { title } else { unit }]);
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny XML checker: every tag closes in order, attributes are quoted,
    /// `&` starts an entity, no `<` inside text or attribute values.
    /// Returns the element names in document order.
    fn well_formed(xml: &str) -> Vec<String> {
        let mut stack: Vec<String> = Vec::new();
        let mut names = Vec::new();
        let b = xml.as_bytes();
        let mut i = 0;
        let check_text = |t: &str| {
            let mut rest = t;
            while let Some(p) = rest.find('&') {
                rest = &rest[p..];
                let end = rest.find(';').expect("entity ends with ;");
                let ent = &rest[1..end];
                assert!(matches!(ent, "amp" | "lt" | "gt" | "quot" | "#39"), "unknown entity &{ent}; in {t:?}");
                rest = &rest[end..];
            }
            assert!(!t.contains('>'), "raw > in text {t:?}");
        };
        while i < b.len() {
            if b[i] == b'<' {
                let end = xml[i..].find('>').expect("tag ends") + i;
                let tag = &xml[i + 1..end];
                assert!(!tag.contains('<'), "< inside a tag: {tag:?}");
                if let Some(name) = tag.strip_prefix('/') {
                    assert_eq!(stack.pop().as_deref(), Some(name), "closing {name}");
                } else {
                    let self_closing = tag.ends_with('/');
                    let body = tag.trim_end_matches('/');
                    let name: String = body.chars().take_while(|c| !c.is_whitespace()).collect();
                    assert!(!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
                    // Attributes: name="value" pairs, nothing else.
                    let mut attrs = body[name.len()..].trim();
                    while !attrs.is_empty() {
                        let eq = attrs.find("=\"").unwrap_or_else(|| panic!("unquoted attribute in {tag:?}"));
                        let an = &attrs[..eq];
                        assert!(an.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':'), "{an:?}");
                        assert_ne!(an, "style", "no style attributes");
                        assert!(!an.starts_with("on"), "no event handlers");
                        let rest = &attrs[eq + 2..];
                        let close = rest.find('"').expect("attribute value closes");
                        check_text(&rest[..close]);
                        attrs = rest[close + 1..].trim_start();
                    }
                    names.push(name.clone());
                    if !self_closing {
                        stack.push(name);
                    }
                }
                i = end + 1;
            } else {
                let end = xml[i..].find('<').map_or(b.len(), |p| p + i);
                check_text(&xml[i..end]);
                assert!(!stack.is_empty() || xml[i..end].trim().is_empty(), "text outside the root");
                i = end;
            }
        }
        assert!(stack.is_empty(), "unclosed: {stack:?}");
        assert_eq!(names.first().map(String::as_str), Some("svg"));
        names
    }

    fn days(n: usize) -> Vec<String> {
        (1..=n).map(|d| format!("2025-01-{d:02}")).collect()
    }

    #[test]
    fn ticks_are_round_and_few() {
        assert_eq!(ticks(100.0), [0.0, 50.0, 100.0]);
        assert_eq!(ticks(37.0), [0.0, 10.0, 20.0, 30.0, 40.0]);
        assert_eq!(ticks(7.0), [0.0, 2.0, 4.0, 6.0, 8.0]);
        assert_eq!(ticks(0.3), [0.0, 0.1, 0.2, 0.3]);
        assert_eq!(ticks(0.0), [0.0, 0.5, 1.0]);
        assert_eq!(ticks(f64::NAN), [0.0, 0.5, 1.0]);
        for m in [0.001, 0.9, 1.0, 3.0, 11.0, 99.0, 101.0, 999.0, 12_345.0, 7e9] {
            let t = ticks(m);
            assert!((3..=5).contains(&t.len()), "{m}: {t:?}");
            assert!(*t.last().unwrap() >= m && t[0] == 0.0, "{m}: {t:?}");
        }
        assert_eq!(format_value(1500.0), "1500");
        assert_eq!(format_value(15_000.0), "15k");
        assert_eq!(format_value(2_500_000.0), "2.5M");
        assert_eq!(format_value(0.25), "0.25");
    }

    #[test]
    fn line_chart_is_well_formed_with_axis_legend_and_titles() {
        let s = vec![("alpha-bot".to_string(), vec![1.0, 5.0, 37.0]), ("beta".to_string(), vec![0.0, 2.0, 3.0])];
        let svg = line_chart("Requests per day", &days(3), &s, "requests");
        let names = well_formed(&svg);
        assert!(svg.contains("viewBox=\"0 0 640 360\""));
        assert!(names.iter().filter(|n| *n == "title").count() >= 1 + 2 + 6, "chart, series and point titles");
        assert_eq!(names.iter().filter(|n| *n == "polyline").count(), 2);
        for tick in ["0", "10", "20", "30", "40"] {
            assert!(svg.contains(&format!("{FONT}>{tick}</text>")), "tick {tick}");
        }
        assert!(svg.contains(">alpha-bot</text>") && svg.contains(">beta</text>"), "legend");
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        assert!(!svg.contains("style") && !svg.contains("<script"));
    }

    #[test]
    fn text_is_escaped() {
        let evil = "<script>alert(1)</script> & \"q\" 'a'".to_string();
        let s = vec![(evil.clone(), vec![1.0, 2.0])];
        let labels = vec![evil.clone(), "b&b".to_string()];
        for svg in [
            line_chart(&evil, &labels, &s, &evil),
            bar_chart(&evil, &labels, &[1.0, 2.0], &evil),
            line_chart(&evil, &[], &[], &evil),
        ] {
            well_formed(&svg);
            assert!(!svg.contains("<script"), "{svg}");
            assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot; &#39;a&#39;"));
        }
        assert!(bar_chart("t", &labels, &[1.0, 2.0], "u").contains(">b&amp;b</text>"));
    }

    #[test]
    fn empty_or_broken_data_says_no_data() {
        for svg in [
            line_chart("t", &[], &[("a".into(), vec![1.0])], "u"),
            line_chart("t", &days(3), &[], "u"),
            line_chart("t", &days(3), &[("a".into(), vec![f64::NAN, f64::INFINITY])], "u"),
            bar_chart("t", &[], &[], "u"),
            bar_chart("t", &days(2), &[f64::NAN], "u"),
        ] {
            well_formed(&svg);
            assert!(svg.contains(">no data</text>"), "{svg}");
            assert!(!svg.contains("NaN"));
        }
        // All zeros is data: a flat line on a 0..1 axis.
        let svg = line_chart("t", &days(2), &[("a".into(), vec![0.0, 0.0])], "u");
        assert!(!svg.contains("no data") && svg.contains("<polyline"));
        // A gap breaks the line; one point is a lone dot.
        let svg = line_chart("t", &days(4), &[("a".into(), vec![1.0, f64::NAN, 2.0, 3.0])], "u");
        assert_eq!(well_formed(&svg).iter().filter(|n| *n == "polyline").count(), 1);
        let svg = line_chart("t", &days(1), &[("a".into(), vec![4.0])], "u");
        assert!(svg.contains("<circle cx=\"344.0\""));
    }

    #[test]
    fn bar_chart_has_bars_ticks_and_a_legend() {
        let labels = vec!["alpha".to_string(), "beta".to_string(), "gamma".to_string()];
        let svg = bar_chart("Cost by agent", &labels, &[0.5, 1.25, 0.0], "USD");
        let names = well_formed(&svg);
        assert_eq!(names.iter().filter(|n| *n == "rect").count(), 3 + 1, "three bars and a legend swatch");
        assert!(svg.contains("alpha: 0.5 USD") && svg.contains(">USD</text>"));
        for tick in ["0", "0.5", "1", "1.5"] {
            assert!(svg.contains(&format!("{FONT}>{tick}</text>")), "tick {tick}: {svg}");
        }
    }

    #[test]
    fn many_series_and_labels_stay_inside_the_view() {
        let s: Vec<(String, Vec<f64>)> = (0..12).map(|i| (format!("s{i}"), vec![i as f64; 90])).collect();
        let labels: Vec<String> = (0..90).map(|d| format!("d{d}")).collect();
        let svg = line_chart("t", &labels, &s, "u");
        well_formed(&svg);
        assert!(svg.contains(">+5 more</text>"));
        let shown = labels.iter().filter(|l| svg.contains(&format!(">{l}</text>"))).count();
        assert!(shown <= MAX_X_LABELS, "{shown} x labels");
    }
}
