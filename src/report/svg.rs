//! The timeline picture of the HTML report: inline SVG, one lane per host, a marker per entry
//! of the folded timeline, the findings' evidence ringed and labelled. Long quiet stretches are
//! cut out and drawn as a fixed-width break, so the minutes that matter get the width.

use super::i18n::Words;
use crate::analysis::{Analysis, Run};
use crate::signal::Signal;
use chrono::{DateTime, Offset, TimeZone, Timelike, Utc};
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Drawing width in SVG units; the picture scales to the page.
const WIDTH: f64 = 1200.0;
/// The column on the left that names the hosts.
const LABEL_W: f64 = 130.0;
const RIGHT_PAD: f64 = 16.0;
/// A silence longer than this between two events becomes a break in the axis.
const QUIET_MS: i64 = 5 * 60 * 1000;
/// At most this many breaks, so every segment stays wide enough to read.
const MAX_BREAKS: usize = 8;
const BREAK_W: f64 = 34.0;
const MIN_SEGMENT_W: f64 = 56.0;
/// Inner margin of a segment, so a marker at its edge is not drawn on the break.
const SEGMENT_PAD: f64 = 12.0;
const AXIS_H: f64 = 40.0;
const ROW_H: f64 = 18.0;
/// An evidence label is two lines: the event (`NETLOGON 5719`), then what it says.
const LABEL_ROW_H: f64 = 27.0;
/// Label rows a lane may grow to before a label that finds no room is left to its tooltip.
const MAX_LABEL_ROWS: usize = 6;
const LANE_PAD: f64 = 8.0;
/// Rows of markers (and of labels) per lane, so close events do not hide each other.
const MAX_ROWS: usize = 4;
/// Horizontal room one marker takes in its row.
const MARKER_SPAN: f64 = 14.0;
/// Markers of one lane and family closer than one marker's room merge (not evidence): a
/// bound on the picture's size, and no marker hides another.
const MERGE_PX: f64 = MARKER_SPAN;
/// Candidate tick steps, in seconds.
const TICK_STEPS: [i64; 18] = [
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
];
const MIN_TICK_PX: f64 = 84.0;

/// Which family of marker a signal is drawn as: an index into the shapes and the legend.
pub fn family(signal: &str) -> usize {
    match signal {
        "nic_link_down" => 0,
        "nic_link_up" => 1,
        "dc_unreachable" => 2,
        "cno_logon_token_failed" | "cluster_identity_failed" | "cluster_name_update_failed" => 3,
        "migration_started" => 4,
        "migration_failed"
        | "migration_limit_reached"
        | "destination_switch_missing"
        | "drain_move_failed" => 5,
        "migration_succeeded" => 6,
        "cluster_interface_failed"
        | "cluster_interface_unreachable"
        | "cluster_network_down"
        | "cluster_network_partitioned"
        | "node_removed" => 7,
        "cluster_network_up" => 8,
        // 1255: the protected network of one VM, what starts a Protected Network move.
        "vm_critical_network" => 9,
        _ => 10,
    }
}

/// Shape and colour of each family, in legend order.
const FAMILIES: [(Shape, &str); 11] = [
    (Shape::Down, "#d62828"),
    (Shape::Up, "#2b8a3e"),
    (Shape::Diamond, "#7b2cbf"),
    (Shape::Square, "#c2255c"),
    (Shape::Ring, "#1c7ed6"),
    (Shape::Cross, "#e03131"),
    (Shape::Dot, "#2f9e44"),
    (Shape::Bar, "#e8590c"),
    (Shape::Bar, "#37b24d"),
    (Shape::Hollow, "#e8590c"),
    (Shape::Small, "#868e96"),
];

#[derive(Clone, Copy)]
enum Shape {
    Down,
    Up,
    Diamond,
    Square,
    Ring,
    Cross,
    Dot,
    Bar,
    Hollow,
    Small,
}

/// One marker's SVG, centred on (x, y).
fn shape(family: usize, x: f64, y: f64) -> String {
    let (shape, colour) = FAMILIES
        .get(family)
        .copied()
        .unwrap_or(FAMILIES[FAMILIES.len() - 1]);
    let r = 6.0;
    match shape {
        Shape::Down => format!(
            r#"<path d="M{:.1} {:.1}h{:.1}l-{r:.1} {:.1}z" fill="{colour}"/>"#,
            x - r,
            y - r * 0.8,
            2.0 * r,
            1.8 * r
        ),
        Shape::Up => format!(
            r#"<path d="M{:.1} {:.1}h{:.1}l-{r:.1} -{:.1}z" fill="{colour}"/>"#,
            x - r,
            y + r * 0.8,
            2.0 * r,
            1.8 * r
        ),
        Shape::Diamond => format!(
            r#"<path d="M{x:.1} {:.1}l{r:.1} {r:.1}l-{r:.1} {r:.1}l-{r:.1} -{r:.1}z" fill="{colour}"/>"#,
            y - r
        ),
        Shape::Square => format!(
            r#"<rect x="{:.1}" y="{:.1}" width="10" height="10" fill="{colour}"/>"#,
            x - 5.0,
            y - 5.0
        ),
        Shape::Ring => format!(
            r##"<circle cx="{x:.1}" cy="{y:.1}" r="5" fill="#fff" stroke="{colour}" stroke-width="2.5"/>"##
        ),
        Shape::Cross => format!(
            r##"<circle cx="{x:.1}" cy="{y:.1}" r="6.5" fill="{colour}"/><path d="M{:.1} {:.1}l6 6m0 -6l-6 6" stroke="#fff" stroke-width="2"/>"##,
            x - 3.0,
            y - 3.0
        ),
        Shape::Dot => format!(r#"<circle cx="{x:.1}" cy="{y:.1}" r="6" fill="{colour}"/>"#),
        Shape::Bar => format!(
            r#"<rect x="{:.1}" y="{:.1}" width="5" height="14" rx="1" fill="{colour}"/>"#,
            x - 2.5,
            y - 7.0
        ),
        Shape::Hollow => format!(
            r##"<path d="M{:.1} {:.1}h{:.1}l-{r:.1} {:.1}z" fill="#fff" stroke="{colour}" stroke-width="2.2"/>"##,
            x - r,
            y - r * 0.8,
            2.0 * r,
            1.8 * r
        ),
        Shape::Small => format!(r#"<circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="{colour}"/>"#),
    }
}

/// A small stand-alone SVG of one family's marker, for the legend.
pub fn legend_icon(family: usize) -> String {
    format!(
        r#"<svg class="icon" width="16" height="16" viewBox="0 0 16 16" aria-hidden="true">{}</svg>"#,
        shape(family, 8.0, 8.0)
    )
}

/// The legend's ring around evidence.
pub fn evidence_icon() -> String {
    r#"<svg class="icon" width="16" height="16" viewBox="0 0 16 16" aria-hidden="true"><circle cx="8" cy="8" r="7" class="halo"/></svg>"#.to_string()
}

/// A stretch of time drawn to scale, and where it is drawn.
#[derive(Debug, Clone, PartialEq)]
struct Segment {
    start_ms: i64,
    end_ms: i64,
    x0: f64,
    width: f64,
}

/// Where each moment is drawn: segments to scale, breaks between them.
#[derive(Debug)]
struct Scale {
    segments: Vec<Segment>,
}

impl Scale {
    /// Cuts the sorted, distinct times into segments at the largest silences and shares the
    /// width among them by duration, each with a minimum so a lone event is still visible.
    fn new(times: &[i64], x0: f64, width: f64) -> Scale {
        let Some(&last) = times.last() else {
            return Scale {
                segments: Vec::new(),
            };
        };
        let mut gaps: Vec<(i64, usize)> = times
            .windows(2)
            .enumerate()
            .map(|(i, w)| (w[1] - w[0], i + 1))
            .filter(|&(gap, _)| gap > QUIET_MS)
            .collect();
        gaps.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut cuts: Vec<usize> = gaps.iter().take(MAX_BREAKS).map(|&(_, i)| i).collect();
        cuts.sort_unstable();
        let mut bounds = Vec::new();
        let mut begin = 0;
        for cut in cuts {
            bounds.push((times[begin], times[cut - 1]));
            begin = cut;
        }
        bounds.push((times[begin], last));
        let n = bounds.len() as f64;
        let room = (width - (n - 1.0) * BREAK_W - n * MIN_SEGMENT_W).max(0.0);
        let total: i64 = bounds.iter().map(|(a, b)| b - a).sum();
        let mut x = x0;
        let segments = bounds
            .into_iter()
            .map(|(start_ms, end_ms)| {
                let share = if total > 0 {
                    (end_ms - start_ms) as f64 / total as f64
                } else {
                    1.0 / n
                };
                let seg = Segment {
                    start_ms,
                    end_ms,
                    x0: x,
                    width: MIN_SEGMENT_W + room * share,
                };
                x += seg.width + BREAK_W;
                seg
            })
            .collect();
        Scale { segments }
    }

    /// The x of a moment; moments between segments go to the nearer edge.
    fn x(&self, t_ms: i64) -> f64 {
        let i = self
            .segments
            .partition_point(|s| s.start_ms <= t_ms)
            .saturating_sub(1);
        self.segments.get(i).map_or(0.0, |s| s.x_of(t_ms))
    }
}

impl Segment {
    fn x_of(&self, t_ms: i64) -> f64 {
        let span = self.end_ms - self.start_ms;
        if span <= 0 {
            return self.x0 + self.width / 2.0;
        }
        let inner = (self.width - 2.0 * SEGMENT_PAD).max(1.0);
        let f = ((t_ms - self.start_ms) as f64 / span as f64).clamp(0.0, 1.0);
        self.x0 + SEGMENT_PAD + f * inner
    }
}

/// One marker to draw: a run of the timeline (or several runs merged at one spot).
struct Marker<'a> {
    x: f64,
    x_last: f64,
    family: usize,
    count: usize,
    evidence: bool,
    signal: &'a Signal,
    row: usize,
    /// Where its label goes: the label row, and whether it ends at the marker instead of
    /// starting there. `None` for a marker without a label (not evidence, or no room).
    label: Option<(usize, bool)>,
    /// Whether `×count` fits beside the marker; else only its tooltip says it.
    show_count: bool,
    /// The time its tooltip shows: the report's zone, and UTC.
    when: String,
}

/// The picture.
pub fn render(a: &Analysis, runs: &[Run], w: &Words) -> String {
    let times = distinct_times(a, runs);
    let plot_w = WIDTH - LABEL_W - RIGHT_PAD;
    let scale = Scale::new(&times, LABEL_W, plot_w);
    let lanes = lanes(a, runs, &scale, w);
    let mut backgrounds = String::new();
    let mut body = String::new();
    let mut y = AXIS_H;
    for (host, markers) in &lanes {
        y = lane(&mut backgrounds, &mut body, host, markers, y, w);
    }
    let height = y + 22.0;
    let mut out = format!(
        r#"<svg class="timeline" viewBox="0 0 {WIDTH} {height:.0}" width="{WIDTH}" role="img" aria-label="{}">"#,
        attr(w.picture)
    );
    // Backgrounds first, then the grid and breaks over them, then the markers on top.
    out.push_str(&backgrounds);
    axis(&mut out, a, &scale, height);
    breaks(&mut out, &scale, height, w);
    out.push_str(&body);
    out.push_str("</svg>");
    out
}

fn distinct_times(a: &Analysis, runs: &[Run]) -> Vec<i64> {
    let mut times: Vec<i64> = runs
        .iter()
        .flat_map(|r| [r.first, r.last])
        .filter_map(|id| a.timeline.get(id))
        .map(|s| s.time.timestamp_millis())
        .collect();
    times.sort_unstable();
    times.dedup();
    times
}

/// Markers per host lane, in the order of the case's hosts (hosts without events get an
/// empty lane: that nothing happened there is worth seeing).
fn lanes<'a>(
    a: &'a Analysis,
    runs: &[Run],
    scale: &Scale,
    w: &Words,
) -> BTreeMap<(usize, String), Vec<Marker<'a>>> {
    let mut order: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, h) in a.hosts.iter().enumerate() {
        order.insert(h.key.as_str(), i);
    }
    let rank = |host: &str| order.get(host).copied().unwrap_or(usize::MAX);
    let mut lanes: BTreeMap<(usize, String), Vec<Marker<'a>>> = BTreeMap::new();
    for h in &a.hosts {
        lanes.entry((rank(&h.key), h.key.clone())).or_default();
    }
    for run in runs {
        let (Some(s), Some(last)) = (a.timeline.get(run.first), a.timeline.get(run.last)) else {
            continue;
        };
        let markers = lanes.entry((rank(&s.host), s.host.clone())).or_default();
        let marker = Marker {
            x: scale.x(s.time.timestamp_millis()),
            x_last: scale.x(last.time.timestamp_millis()),
            family: family(&s.name),
            count: run.count,
            evidence: run.evidence,
            signal: s,
            row: 0,
            label: None,
            show_count: false,
            when: tooltip_time(s.time, a.time_zone),
        };
        push_or_merge(markers, marker);
    }
    for markers in lanes.values_mut() {
        place(markers, w);
    }
    lanes
}

/// A moment for a tooltip: in the report's zone, with UTC beside it when that is another.
fn tooltip_time(t: DateTime<Utc>, tz: chrono_tz::Tz) -> String {
    if tz == chrono_tz::UTC {
        super::utc(t)
    } else {
        format!("{} ({})", super::local(t, tz), super::utc(t))
    }
}

/// Adds a marker, or folds it into the previous one of its family at the same spot, so a
/// lane never holds more markers than it has room for.
fn push_or_merge<'a>(markers: &mut Vec<Marker<'a>>, m: Marker<'a>) {
    if !m.evidence {
        // Measured from where the earlier marker starts, so merging cannot chain a whole
        // day into one marker: the lane keeps showing where the events are dense.
        let near = markers
            .iter_mut()
            .rev()
            .take(12)
            .find(|p| !p.evidence && p.family == m.family && (m.x - p.x).abs() < MERGE_PX);
        if let Some(p) = near {
            p.count += m.count;
            p.x_last = p.x_last.max(m.x_last);
            return;
        }
    }
    markers.push(m);
}

/// Gives each marker a row, and each evidence label a label row, so none overlap: a label goes
/// right of its marker in the first free row, else left of it, else (every row busy there) it
/// is not drawn and the marker's ring and tooltip still say it is evidence.
fn place(markers: &mut [Marker<'_>], w: &Words) {
    let mut row_end = [f64::MIN; MAX_ROWS];
    let mut labels: Vec<Vec<(f64, f64)>> = vec![Vec::new(); MAX_LABEL_ROWS];
    for m in markers.iter_mut() {
        m.row = free_row(
            &mut row_end,
            m.x - MARKER_SPAN / 2.0,
            m.x + MARKER_SPAN / 2.0,
        );
        if m.evidence {
            let (first, second) = label(m.signal, w);
            let width = text_width(&first).max(text_width(&second)) + 8.0;
            let right = (m.x - 4.0, m.x + width);
            let left = (m.x - width, m.x + 4.0);
            let fits = |span: (f64, f64)| span.0 >= LABEL_W && span.1 <= WIDTH;
            let choice = [(false, right), (true, left)]
                .into_iter()
                .filter(|(_, span)| fits(*span))
                .find_map(|(is_left, span)| {
                    let row = labels
                        .iter()
                        .position(|taken| taken.iter().all(|&(a, b)| span.1 <= a || span.0 >= b))?;
                    Some((is_left, span, row))
                });
            m.label = choice.map(|(is_left, span, row)| {
                labels[row].push(span);
                (row, is_left)
            });
        }
    }
    for i in 0..markers.len() {
        let m = &markers[i];
        let needed = m.x_last.max(m.x) + 8.0 + text_width(&format!("×{}", m.count));
        let next = markers[i + 1..].iter().take(64).find(|n| n.row == m.row);
        let fits = next.is_none_or(|n| n.x - MARKER_SPAN / 2.0 > needed);
        markers[i].show_count = markers[i].count > 1 && fits;
    }
}

/// The first row free at `from`, marked busy up to `to`; the last row when all are busy.
fn free_row(ends: &mut [f64; MAX_ROWS], from: f64, to: f64) -> usize {
    let row = ends
        .iter()
        .position(|&end| end <= from)
        .unwrap_or(MAX_ROWS - 1);
    ends[row] = ends[row].max(to);
    row
}

/// Rough width of a label in SVG units: CJK characters are about twice as wide.
fn text_width(s: &str) -> f64 {
    s.chars().map(char_width).sum()
}

/// Generous for a bold 11 px sans serif (DejaVu Sans Bold is wide): a label measured too
/// short would run into the next one.
fn char_width(c: char) -> f64 {
    match c {
        _ if (c as u32) >= 0x2E80 => 12.0,
        'A'..='H' | 'J'..='Z' | '0'..='9' | 'm' | 'w' | '#' | '%' | '@' => 8.2,
        'i' | 'j' | 'l' | 'I' | '.' | ',' | ':' | ';' | '\'' | '|' | '!' | ' ' | '(' | ')' => 4.2,
        _ => 7.0,
    }
}

/// `s`, cut with an ellipsis to about `width` units, so a long host name stays in its column.
fn fit(s: &str, width: f64) -> String {
    if text_width(s) <= width {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 8.0; // the ellipsis
    for c in s.chars() {
        used += char_width(c);
        if used > width {
            break;
        }
        out.push(c);
    }
    out + "…"
}

/// The two lines of an evidence marker's label: the event as engineers name it
/// (`NETLOGON 5719`), then its kind and the VM, adapter or domain it concerns.
fn label(s: &Signal, w: &Words) -> (String, String) {
    let kind = w.legend.get(family(&s.name)).copied().unwrap_or_default();
    let what = ["vm", "adapter", "domain"]
        .iter()
        .find_map(|k| s.fields.get(*k).filter(|v| !v.is_empty()));
    let second = match what {
        Some(v) => format!("{kind} · {v}"),
        None => kind.to_string(),
    };
    let cut = |text: String| {
        if text.chars().count() > 40 {
            text.chars().take(39).collect::<String>() + "…"
        } else {
            text
        }
    };
    (
        cut(super::event_name(&s.event.provider, s.event.event_id)),
        cut(second),
    )
}

/// Draws one lane: its background into `bg`, its name and markers into `out`; returns the
/// y where the next one starts.
fn lane(
    bg: &mut String,
    out: &mut String,
    host: &(usize, String),
    markers: &[Marker<'_>],
    y: f64,
    w: &Words,
) -> f64 {
    let label_rows = markers
        .iter()
        .filter_map(|m| m.label)
        .map(|(row, _)| row + 1)
        .max()
        .unwrap_or(0);
    let rows = markers.iter().map(|m| m.row + 1).max().unwrap_or(1);
    let marker_top = y + LANE_PAD + label_rows as f64 * LABEL_ROW_H;
    let height = 2.0 * LANE_PAD + label_rows as f64 * LABEL_ROW_H + rows as f64 * ROW_H;
    let _ = write!(
        bg,
        r#"<rect class="lane-bg" x="0" y="{y:.1}" width="{WIDTH}" height="{height:.1}"/>"#
    );
    let _ = write!(
        out,
        r#"<g class="lane" data-host="{}"><text class="host" x="8" y="{:.1}"><title>{}</title>{}</text>"#,
        attr(&host.1),
        marker_top + rows as f64 * ROW_H / 2.0 + 4.0,
        text(&host.1),
        text(&fit(&host.1, LABEL_W - 12.0))
    );
    for m in markers {
        let my = marker_top + m.row as f64 * ROW_H + ROW_H / 2.0;
        marker(out, m, my, y + LANE_PAD, w);
    }
    out.push_str("</g>");
    y + height
}

/// One marker, linked to its row of the table, with its text as a tooltip.
fn marker(out: &mut String, m: &Marker<'_>, my: f64, label_top: f64, w: &Words) {
    let s = m.signal;
    let class = if m.evidence {
        "marker evidence"
    } else {
        "marker"
    };
    let _ = write!(
        out,
        r##"<a href="#ev-{}" class="{class}" data-signal="{}"><title>{} {} · {} · {}{}</title>"##,
        s.id,
        attr(&s.name),
        text(&m.when),
        text(&s.host),
        text(&super::event_name(&s.event.provider, s.event.event_id)),
        text(s.text_in(w.lang)),
        if m.count > 1 {
            format!(" (×{})", m.count)
        } else {
            String::new()
        }
    );
    if m.x_last - m.x > 2.0 {
        let colour = FAMILIES.get(m.family).map_or("#868e96", |f| f.1);
        let _ = write!(
            out,
            r#"<line x1="{:.1}" y1="{my:.1}" x2="{:.1}" y2="{my:.1}" stroke="{colour}" stroke-width="3" stroke-opacity=".35"/>"#,
            m.x, m.x_last
        );
    }
    if m.evidence {
        let _ = write!(
            out,
            r#"<circle class="halo" cx="{:.1}" cy="{my:.1}" r="10"/>"#,
            m.x
        );
    }
    if let Some((row, left)) = m.label {
        let ly = label_top + row as f64 * LABEL_ROW_H + 11.0;
        let (lx, anchor) = if left {
            (m.x + 3.0, " text-anchor=\"end\"")
        } else {
            (m.x - 3.0, "")
        };
        let (first, second) = label(s, w);
        let _ = write!(
            out,
            r#"<line class="leader" x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}"/><text class="label" x="{lx:.1}" y="{ly:.1}"{anchor}><tspan class="id">{}</tspan><tspan x="{lx:.1}" dy="12">{}</tspan></text>"#,
            m.x,
            ly + 14.0,
            m.x,
            my - 9.0,
            text(&first),
            text(&second)
        );
    }
    out.push_str(&shape(m.family, m.x, my));
    if m.show_count {
        // Right of the marker, or left of it where the picture ends.
        let right = m.x_last.max(m.x) + 8.0;
        let (cx, anchor) = if right + 40.0 > WIDTH {
            (m.x - 9.0, " text-anchor=\"end\"")
        } else {
            (right, "")
        };
        let _ = write!(
            out,
            r#"<text class="count" x="{cx:.1}" y="{:.1}"{anchor}>×{}</text>"#,
            my + 4.0,
            m.count
        );
    }
    out.push_str("</a>");
}

/// The time axis on top: the date where it starts or changes, ticks in the report's zone, and
/// light grid lines down through the lanes.
fn axis(out: &mut String, a: &Analysis, scale: &Scale, height: f64) {
    let tz = a.time_zone;
    let _ = write!(
        out,
        r#"<text class="zone" x="8" y="30">{}</text>"#,
        text(tz.name())
    );
    let mut last_date = String::new();
    for seg in &scale.segments {
        let Some(start) = DateTime::<Utc>::from_timestamp_millis(seg.start_ms) else {
            continue;
        };
        let date = start.with_timezone(&tz).format("%Y-%m-%d").to_string();
        if date != last_date {
            let _ = write!(
                out,
                r#"<text class="date" x="{:.1}" y="13">{date}</text>"#,
                seg.x0 + 2.0
            );
            last_date = date;
        }
        for (t_ms, label) in ticks(seg, tz) {
            let x = seg.x_of(t_ms);
            let _ = write!(
                out,
                r#"<line class="grid" x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}"/><text class="tick" x="{x:.1}" y="30">{label}</text>"#,
                AXIS_H - 6.0,
                height - 22.0
            );
        }
    }
}

/// Tick times and labels of one segment: round steps of the zone's clock, about
/// [`MIN_TICK_PX`] apart; a segment of one moment gets one tick at it.
fn ticks(seg: &Segment, tz: chrono_tz::Tz) -> Vec<(i64, String)> {
    let Some(start) = DateTime::<Utc>::from_timestamp_millis(seg.start_ms) else {
        return Vec::new();
    };
    let offset_s = i64::from(
        tz.offset_from_utc_datetime(&start.naive_utc())
            .fix()
            .local_minus_utc(),
    );
    let label = |t_ms: i64, step: i64| {
        DateTime::<Utc>::from_timestamp_millis(t_ms).map_or_else(String::new, |t| {
            let local = t.with_timezone(&tz);
            // On an axis of hours, midnight says which day begins.
            let midnight = local.hour() == 0 && local.minute() == 0;
            let fmt = match step {
                s if s < 60 => "%H:%M:%S",
                s if s >= 3600 && midnight => "%m-%d",
                _ => "%H:%M",
            };
            local.format(fmt).to_string()
        })
    };
    let span_ms = seg.end_ms - seg.start_ms;
    if span_ms <= 0 {
        return vec![(seg.start_ms, label(seg.start_ms, 1))];
    }
    let px_per_s = (seg.width - 2.0 * SEGMENT_PAD) / (span_ms as f64 / 1000.0);
    let step = TICK_STEPS
        .iter()
        .copied()
        .find(|&s| s as f64 * px_per_s >= MIN_TICK_PX)
        .unwrap_or(86400);
    let local_start = seg.start_ms.div_euclid(1000) + offset_s;
    let mut tick = (local_start + step - 1).div_euclid(step) * step;
    let mut out = Vec::new();
    while (tick - offset_s) * 1000 <= seg.end_ms && out.len() < 64 {
        let t_ms = (tick - offset_s) * 1000;
        if t_ms >= seg.start_ms {
            out.push((t_ms, label(t_ms, step)));
        }
        tick += step;
    }
    out
}

/// The zigzag marks where quiet time was cut out, with how long it was.
fn breaks(out: &mut String, scale: &Scale, height: f64, w: &Words) {
    for pair in scale.segments.windows(2) {
        let x = pair[0].x0 + pair[0].width + BREAK_W / 2.0;
        let mut path = format!("M{x:.1} {:.1}", AXIS_H - 4.0);
        let mut y = AXIS_H - 4.0;
        let mut left = true;
        while y < height - 24.0 {
            y += 6.0;
            let dx = if left { -4.0 } else { 4.0 };
            let _ = write!(path, "L{:.1} {y:.1}", x + dx);
            left = !left;
        }
        let gap = duration(pair[1].start_ms - pair[0].end_ms, w.units);
        let _ = write!(
            out,
            r#"<g class="gap-mark"><title>{gap} · {}</title><path class="break" d="{path}"/><text class="gap" x="{x:.1}" y="{:.1}">{gap}</text></g>"#,
            w.quiet,
            height - 8.0,
        );
    }
}

/// A duration for the break labels, in the page's units (minute, hour, day): `53 min`,
/// `2 h 5 min`, `3 d 4 h`.
fn duration(ms: i64, [min, h, d]: [&str; 3]) -> String {
    let minutes = ms / 60_000;
    match minutes {
        m if m < 60 => format!("{m} {min}"),
        m if m < 24 * 60 => match m % 60 {
            0 => format!("{} {h}", m / 60),
            r => format!("{} {h} {r} {min}", m / 60),
        },
        m => format!("{} {d} {} {h}", m / (24 * 60), (m / 60) % 24),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_stretches_become_breaks_and_busy_minutes_get_the_width() {
        let min = 60_000;
        // Two events an hour before a burst of 100 s, then one two hours later.
        let times = [0, 14_000, 60 * min, 60 * min + 100_000, 180 * min];
        let scale = Scale::new(&times, 100.0, 1000.0);
        assert_eq!(scale.segments.len(), 3);
        let widths: Vec<f64> = scale.segments.iter().map(|s| s.width).collect();
        assert!(widths[1] > 4.0 * widths[0], "{widths:?}");
        assert!((scale.segments[2].width - MIN_SEGMENT_W).abs() < 1e-9);
        let end = scale.segments[2].x0 + scale.segments[2].width;
        assert!(
            (end - 1100.0).abs() < 1e-6,
            "the segments fill the width: {end}"
        );
        assert!(scale.x(60 * min) < scale.x(60 * min + 50_000));
    }

    #[test]
    fn breaks_are_bounded_however_many_silences() {
        let times: Vec<i64> = (0..100).map(|i| i * 3_600_000).collect();
        let scale = Scale::new(&times, 0.0, 1000.0);
        assert_eq!(scale.segments.len(), MAX_BREAKS + 1);
    }

    #[test]
    fn ticks_fall_on_round_times_of_the_zone() {
        let seg = Segment {
            start_ms: 1_000,
            end_ms: 600_000,
            x0: 0.0,
            width: 800.0,
        };
        let ticks = ticks(&seg, chrono_tz::Asia::Tokyo);
        assert!(ticks.len() >= 3, "{ticks:?}");
        assert!(ticks.iter().all(|(t, _)| t % 60_000 == 0), "{ticks:?}");
        // 600 s on 776 units: a minute would be under 84 units, so ticks go every 2 minutes.
        assert_eq!(ticks[0].1, "09:02");
        assert_eq!(ticks[1].1, "09:04");
    }

    #[test]
    fn long_host_names_are_cut_to_their_column() {
        assert_eq!(fit("HV01", 118.0), "HV01");
        let cut = fit("CLUSTER-NODE-WITH-A-VERY-LONG-NAME-01", 118.0);
        assert!(cut.ends_with('…') && text_width(&cut) <= 118.0, "{cut}");
    }

    #[test]
    fn durations_read_as_people_say_them() {
        let en = crate::report::i18n::words("en").units;
        assert_eq!(duration(53 * 60_000, en), "53 min");
        assert_eq!(duration(125 * 60_000, en), "2 h 5 min");
        assert_eq!(duration(26 * 3_600_000, en), "1 d 2 h");
        let ja = crate::report::i18n::words("ja").units;
        assert_eq!(duration(125 * 60_000, ja), "2 時間 5 分");
    }

    #[test]
    fn an_axis_of_hours_names_the_day_at_midnight() {
        let seg = Segment {
            start_ms: 0,
            end_ms: 3 * 86_400_000,
            x0: 0.0,
            width: 1000.0,
        };
        let labels: Vec<String> = ticks(&seg, chrono_tz::UTC)
            .into_iter()
            .map(|t| t.1)
            .collect();
        assert!(labels.contains(&"01-02".to_string()), "{labels:?}");
        assert!(labels.contains(&"12:00".to_string()), "{labels:?}");
    }
}
