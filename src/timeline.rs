//! One timeline across hosts: signals sorted by time, each event once however often it was
//! collected, host names and codes in one form.

use crate::signal::Signal;
use std::collections::HashSet;

/// The host key of a computer name: its first DNS label, upper case
/// (`HV01.contoso.local` and `hv01` are one host).
pub fn host_key(computer: &str) -> String {
    let name = computer.trim().trim_start_matches('\\');
    name.split('.').next().unwrap_or(name).to_uppercase()
}

/// An HRESULT / NTSTATUS / Win32 code as `0x` + 8 upper-case hex digits, from any form a log
/// writes: `0x80090311`, `-2146893039`, `2148074257`, or a message containing `(0x80090311)`.
pub fn normalize_code(text: &str) -> Option<String> {
    let text = text.trim();
    if let Ok(n) = text.parse::<i64>() {
        // Negative values are signed 32-bit codes written in decimal.
        let n = u32::try_from(n)
            .ok()
            .or_else(|| i32::try_from(n).ok().map(|n| n as u32))?;
        return Some(format!("0x{n:08X}"));
    }
    let lower = text.to_ascii_lowercase();
    let at = lower.find("0x")?;
    let digits: String = lower[at + 2..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let n = u32::from_str_radix(&digits, 16).ok()?;
    Some(format!("0x{n:08X}"))
}

/// Every code a text carries, each in the form of [`normalize_code`], in order, each once: a
/// 21502 message often holds a wrapper and its cause (`… (0x8007274C). … (0x80090311).`).
/// A text that is a code alone (`-1073741717`) gives that code.
pub fn all_codes(text: &str) -> Vec<String> {
    let text = text.trim();
    if text.parse::<i64>().is_ok() {
        return normalize_code(text).into_iter().collect();
    }
    let mut out: Vec<String> = Vec::new();
    let bytes = text.as_bytes();
    let mut at = 0;
    while let Some(found) = text[at..].find(['0']) {
        let start = at + found;
        at = start + 1;
        let prefixed = bytes
            .get(start + 1)
            .is_some_and(|b| *b == b'x' || *b == b'X');
        let word_start = start == 0 || !bytes[start - 1].is_ascii_alphanumeric();
        if !prefixed || !word_start {
            continue;
        }
        let digits = text[start + 2..]
            .bytes()
            .take_while(u8::is_ascii_hexdigit)
            .count();
        if (1..=8).contains(&digits) {
            if let Some(code) = normalize_code(&text[start..start + 2 + digits]) {
                if !out.contains(&code) {
                    out.push(code);
                }
            }
        }
        at = start + 2 + digits;
    }
    out
}

/// An NTSTATUS written as the little-endian bytes of a `<Binary>` item (`5E0000C0` →
/// `0xC000005E`), as NETLOGON 5719 carries it.
pub fn normalize_ntstatus_binary(hex: &str) -> Option<String> {
    let hex = hex.trim();
    if hex.len() < 8 {
        return None;
    }
    let mut bytes = [0u8; 4];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(format!("0x{:08X}", u32::from_le_bytes(bytes)))
}

/// Sorts signals by time (then host, channel, record id, so the order never depends on input
/// order), drops repeats of one event (same host, channel, record id and time), numbers them.
pub fn build(mut signals: Vec<Signal>) -> Vec<Signal> {
    signals.sort_by(|a, b| {
        (
            a.at,
            &a.host,
            &a.event.channel,
            a.event.record_id,
            &a.name,
            a.event.input,
        )
            .cmp(&(
                b.at,
                &b.host,
                &b.event.channel,
                b.event.record_id,
                &b.name,
                b.event.input,
            ))
    });
    // One record read from two inputs has one time too; one id at two times is two records
    // (a log cleared and begun again, or two logs of one host).
    let mut seen = HashSet::new();
    signals.retain(|s| {
        seen.insert((
            s.host.clone(),
            s.event.channel.to_lowercase(),
            s.event.record_id,
            s.time,
            s.name.clone(),
        ))
    });
    for (id, s) in signals.iter_mut().enumerate() {
        s.id = id;
    }
    signals
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_one_form_whatever_the_log_wrote() {
        for written in [
            "0x80090311",
            "-2146893039",
            "2148074257",
            "No authority could be contacted for authentication. (0x80090311).",
            "認証するときにどの機関にもアクセスできませんでした。 (0x80090311)。",
        ] {
            assert_eq!(
                normalize_code(written).as_deref(),
                Some("0x80090311"),
                "{written}"
            );
        }
        assert_eq!(normalize_code("-1073741717").as_deref(), Some("0xC000006B"));
        assert_eq!(normalize_code("1326").as_deref(), Some("0x0000052E"));
        assert_eq!(normalize_code("no code here"), None);
    }

    #[test]
    fn every_code_of_a_message_is_kept_in_order_once() {
        let message = "Migration failed (0x8007274C). Connection with 'HV02' failed: \
                       No authority (0x80090311). Again (0x8007274c). Not a code: 0x123456789, b0x1.";
        assert_eq!(all_codes(message), ["0x8007274C", "0x80090311"]);
        assert_eq!(all_codes("-1073741717"), ["0xC000006B"]);
        assert!(all_codes("no code").is_empty());
    }

    #[test]
    fn netlogon_binary_is_little_endian() {
        assert_eq!(
            normalize_ntstatus_binary("5E0000C0").as_deref(),
            Some("0xC000005E")
        );
        assert_eq!(normalize_ntstatus_binary("5E"), None);
    }

    #[test]
    fn host_keys_ignore_domain_and_case() {
        assert_eq!(host_key("HV01.contoso.local"), "HV01");
        assert_eq!(host_key("hv01"), "HV01");
        assert_eq!(host_key("\\\\hv02"), "HV02");
    }
}
