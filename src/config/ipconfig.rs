//! `ipconfig /all` as Windows prints it, in English or Japanese: the host name, then one
//! section per adapter (`Ethernet adapter vEthernet (Corp):`) of `Label . . . : value` lines,
//! where a value may go on under the label on lines of its own (several DNS servers).

use super::{Adapter, HostConfig};

/// What a label means, in every language hvtriage reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label {
    HostName,
    Description,
    Mac,
    Ipv4,
    Gateway,
    Dns,
    Media,
    Other,
}

fn label(text: &str) -> Label {
    let t = text.trim().to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| t.starts_with(w));
    if has(&["host name", "ホスト名"]) {
        Label::HostName
    } else if has(&["description", "説明"]) {
        Label::Description
    } else if has(&["physical address", "物理アドレス"]) {
        Label::Mac
    } else if has(&["ipv4 address", "ip address", "ipv4 アドレス", "ip アドレス"]) {
        Label::Ipv4
    } else if has(&["default gateway", "デフォルト ゲートウェイ"]) {
        Label::Gateway
    } else if has(&["dns servers", "dns サーバー"]) {
        Label::Dns
    } else if has(&["media state", "メディアの状態"]) {
        Label::Media
    } else {
        Label::Other
    }
}

/// Whether a text is `ipconfig /all` output.
pub fn looks_like(text: &str) -> bool {
    let head: String = text.chars().take(2_000).collect();
    head.contains("Windows IP Configuration") || head.contains("Windows IP 構成")
}

/// The adapter a section header names: `Ethernet adapter vEthernet (Corp):` →
/// `vEthernet (Corp)`; `イーサネット アダプター Ethernet 2:` → `Ethernet 2`.
fn section(line: &str) -> Option<String> {
    if line.starts_with(char::is_whitespace) || !line.trim_end().ends_with(':') {
        return None;
    }
    let body = line.trim_end().trim_end_matches(':');
    ["adapter ", "アダプター "]
        .iter()
        .find_map(|k| body.split_once(k).map(|(_, name)| name.trim().to_string()))
}

/// Reads `ipconfig /all` text into the host's configuration.
pub fn parse(text: &str, config: &mut HostConfig) {
    let mut current: Option<Adapter> = None;
    let mut last = Label::Other;
    for line in text.lines() {
        if let Some(name) = section(line) {
            if let Some(done) = current.take() {
                config.adapters.push(done);
            }
            current = Some(Adapter {
                name,
                ..Adapter::default()
            });
            last = Label::Other;
            continue;
        }
        let (what, value) = match line.split_once(':') {
            // A label line: dots between the words and the colon (`Host Name . . . :`).
            Some((left, right)) if left.contains(". .") || left.trim_end().ends_with('.') => {
                (label(left.trim_end_matches([' ', '.'])), right.trim())
            }
            // A value continued under its label (the second DNS server).
            _ if line.starts_with("    ") && !line.trim().is_empty() => (last, line.trim()),
            _ => continue,
        };
        last = what;
        let value = clean(value);
        if value.is_empty() {
            continue;
        }
        match (what, current.as_mut()) {
            (Label::HostName, _) => config.set_name(&value),
            (Label::Description, Some(a)) => a.description = value,
            (Label::Mac, Some(a)) => a.mac = value.replace(':', "-").to_uppercase(),
            (Label::Ipv4, Some(a)) => a.ipv4.push(value),
            (Label::Gateway, Some(a)) if looks_like_address(&value) => a.gateways.push(value),
            (Label::Dns, Some(a)) if looks_like_address(&value) => a.dns.push(value),
            (Label::Media, Some(a)) => a.up = Some(false),
            _ => {}
        }
    }
    if let Some(done) = current {
        config.adapters.push(done);
    }
}

/// `10.0.0.11(Preferred)` → `10.0.0.11`; `fe80::1%12` keeps its zone.
fn clean(value: &str) -> String {
    value
        .split(['(', '（'])
        .next()
        .unwrap_or(value)
        .trim()
        .to_string()
}

fn looks_like_address(value: &str) -> bool {
    value
        .chars()
        .all(|c| c.is_ascii_hexdigit() || ".:%".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EN: &str = "\r\nWindows IP Configuration\r\n\r\n   Host Name . . . . . . . . . . . . : HV01\r\n   Primary Dns Suffix  . . . . . . . : contoso.local\r\n\r\nEthernet adapter vEthernet (Corp):\r\n\r\n   Connection-specific DNS Suffix  . :\r\n   Description . . . . . . . . . . . : Hyper-V Virtual Ethernet Adapter\r\n   Physical Address. . . . . . . . . : 00-15-5D-01-02-03\r\n   IPv4 Address. . . . . . . . . . . : 10.0.0.11(Preferred)\r\n   Subnet Mask . . . . . . . . . . . : 255.255.255.0\r\n   Default Gateway . . . . . . . . . : 10.0.0.1\r\n   DNS Servers . . . . . . . . . . . : 10.0.0.10\r\n                                       10.0.0.12\r\n   NetBIOS over Tcpip. . . . . . . . : Enabled\r\n\r\nEthernet adapter Ethernet 2:\r\n\r\n   Media State . . . . . . . . . . . : Media disconnected\r\n   Description . . . . . . . . . . . : Intel(R) Ethernet Server Adapter I350-T2 #2\r\n";

    #[test]
    fn english_ipconfig_gives_adapters_addresses_gateways_and_dns() {
        assert!(looks_like(EN));
        let mut c = HostConfig::default();
        parse(EN, &mut c);
        assert_eq!(c.name, "HV01");
        assert_eq!(c.adapters.len(), 2);
        let v = &c.adapters[0];
        assert_eq!(v.name, "vEthernet (Corp)");
        assert_eq!(v.description, "Hyper-V Virtual Ethernet Adapter");
        assert_eq!(v.ipv4, ["10.0.0.11"]);
        assert_eq!(v.gateways, ["10.0.0.1"]);
        assert_eq!(v.dns, ["10.0.0.10", "10.0.0.12"]);
        assert_eq!(c.adapters[1].up, Some(false));
    }

    #[test]
    fn japanese_labels_read_the_same() {
        let ja = "Windows IP 構成\r\n\r\n   ホスト名. . . . . . . . . . . . . . . .: NODE02\r\n\r\nイーサネット アダプター vEthernet (Corp):\r\n\r\n   説明. . . . . . . . . . . . . . . . .: Hyper-V Virtual Ethernet Adapter\r\n   IPv4 アドレス . . . . . . . . . . . .: 10.1.0.12(優先)\r\n   デフォルト ゲートウェイ . . . . . . .: 10.1.0.1\r\n   DNS サーバー. . . . . . . . . . . . .: 10.1.0.10\r\n";
        assert!(looks_like(ja));
        let mut c = HostConfig::default();
        parse(ja, &mut c);
        assert_eq!(c.name, "NODE02");
        assert_eq!(c.adapters[0].ipv4, ["10.1.0.12"]);
        assert_eq!(c.adapters[0].gateways, ["10.1.0.1"]);
        assert_eq!(c.adapters[0].dns, ["10.1.0.10"]);
    }
}
