//! The host's network as a small picture beside a finding's verdict: physical NIC → virtual
//! switch → the host's vEthernet → its gateway and DNS, the NIC that lost its link marked, and
//! any other adapter with a gateway of its own drawn as a second path.

use crate::config::{Adapter, HostConfig};
use html_escape::encode_text as text;
use std::fmt::Write as _;

const BOX_W: f64 = 150.0;
const BOX_H: f64 = 42.0;
const GAP: f64 = 34.0;
const ROW_H: f64 = 64.0;

/// The picture for `host`, whose NIC `down` lost its link; `None` without a configuration
/// that shows a switch with that uplink.
pub fn render(config: &HostConfig, down: &str) -> Option<String> {
    let description = config
        .adapters
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(down))
        .map_or(down, |a| a.description.as_str());
    let switch = config.switches.iter().find(|s| {
        s.uplinks
            .iter()
            .any(|u| u.eq_ignore_ascii_case(description))
    })?;
    let vethernet_name = format!("vEthernet ({})", switch.name);
    let vethernet = config
        .adapters
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(&vethernet_name));
    let others: Vec<&Adapter> = config
        .adapters
        .iter()
        .filter(|a| !a.name.eq_ignore_ascii_case(&vethernet_name))
        .filter(|a| a.up != Some(false) && !a.gateways.is_empty())
        .take(3)
        .collect();
    let rows = 1 + others.len();
    let width = 4.0 * BOX_W + 3.0 * GAP + 16.0;
    let height = rows as f64 * ROW_H + 8.0;
    let mut out = format!(
        r#"<svg class="net" viewBox="0 0 {width:.0} {height:.0}" width="{width:.0}" role="img" aria-label="network of {}">"#,
        text(&config.name)
    );
    let y = 8.0;
    let shared = if switch.shared_with_host == Some(false) {
        "not shared with the host"
    } else {
        "shared with the host"
    };
    node(&mut out, 8.0, y, &fit(description), "link down", true);
    arrow(&mut out, 8.0 + BOX_W, y, true);
    node(
        &mut out,
        8.0 + BOX_W + GAP,
        y,
        &format!("switch {}", fit(&switch.name)),
        shared,
        false,
    );
    arrow(&mut out, 8.0 + 2.0 * BOX_W + GAP, y, false);
    let addr = vethernet.map_or_else(String::new, |v| v.ipv4.join(" "));
    node(
        &mut out,
        8.0 + 2.0 * (BOX_W + GAP),
        y,
        &fit(&vethernet_name),
        &addr,
        false,
    );
    arrow(&mut out, 8.0 + 3.0 * BOX_W + 2.0 * GAP, y, false);
    let (gw, dns) = vethernet.map_or((String::new(), String::new()), |v| {
        (v.gateways.join(" "), v.dns.join(" "))
    });
    node(
        &mut out,
        8.0 + 3.0 * (BOX_W + GAP),
        y,
        &format!("gateway {}", dash(&gw)),
        &format!("DNS {}", dash(&dns)),
        false,
    );
    for (i, other) in others.iter().enumerate() {
        let y = y + (i + 1) as f64 * ROW_H;
        node(
            &mut out,
            8.0 + 2.0 * (BOX_W + GAP),
            y,
            &fit(&other.name),
            &other.ipv4.join(" "),
            false,
        );
        arrow(&mut out, 8.0 + 3.0 * BOX_W + 2.0 * GAP, y, false);
        node(
            &mut out,
            8.0 + 3.0 * (BOX_W + GAP),
            y,
            &format!("gateway {}", dash(&other.gateways.join(" "))),
            &format!("DNS {}", dash(&other.dns.join(" "))),
            false,
        );
    }
    out.push_str("</svg>");
    Some(out)
}

fn node(out: &mut String, x: f64, y: f64, title: &str, detail: &str, down: bool) {
    let class = if down { "box down" } else { "box" };
    let _ = write!(
        out,
        r#"<g class="{class}"><rect x="{x:.1}" y="{y:.1}" width="{BOX_W}" height="{BOX_H}" rx="6"/><text x="{:.1}" y="{:.1}">{}</text><text class="detail" x="{:.1}" y="{:.1}">{}</text></g>"#,
        x + 8.0,
        y + 17.0,
        text(title),
        x + 8.0,
        y + 33.0,
        text(&fit(detail))
    );
}

/// An arrow between two boxes of a row, crossed out where the link was lost.
fn arrow(out: &mut String, x: f64, y: f64, cut: bool) {
    let my = y + BOX_H / 2.0;
    let _ = write!(out, r#"<path class="link" d="M{x:.1} {my:.1}h{GAP:.1}"/>"#);
    if cut {
        let cx = x + GAP / 2.0;
        let _ = write!(
            out,
            r#"<path class="cut" d="M{:.1} {:.1}l10 10m0 -10l-10 10"/>"#,
            cx - 5.0,
            my - 5.0
        );
    }
}

/// Cut to what a box holds (about 22 characters).
fn fit(s: &str) -> String {
    if s.chars().count() <= 22 {
        s.to_string()
    } else {
        s.chars().take(21).collect::<String>() + "…"
    }
}

fn dash(s: &str) -> &str {
    if s.is_empty() {
        "—"
    } else {
        s
    }
}
