//! Substitution values: parsing them from the text of Event XML and their BinXML encoding.
//!
//! Windows stores the typed values of a record (EventID, times, GUIDs, SIDs…) as a
//! TemplateInstance's substitution array, so each value here knows its BinXML type byte
//! (MS-EVEN6 2.2.11) and its little-endian payload.

use chrono::DateTime;

use super::model::Instance;

/// BinXML value type bytes used by the writer (MS-EVEN6 2.2.11 / libevtx "Value types").
pub(crate) mod ty {
    pub(crate) const NULL: u8 = 0x00;
    pub(crate) const STRING: u8 = 0x01;
    pub(crate) const UINT8: u8 = 0x04;
    pub(crate) const UINT16: u8 = 0x06;
    pub(crate) const UINT32: u8 = 0x08;
    pub(crate) const UINT64: u8 = 0x0a;
    pub(crate) const BINARY: u8 = 0x0e;
    pub(crate) const GUID: u8 = 0x0f;
    pub(crate) const FILETIME: u8 = 0x11;
    pub(crate) const SID: u8 = 0x13;
    pub(crate) const HEXINT64: u8 = 0x15;
    pub(crate) const BINXML: u8 = 0x21;
}

/// One substitution value of a TemplateInstance.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// Absent optional value: a conditional substitution with it disappears when rendered.
    Null,
    U8(u8),
    U16(u16),
    U32(u32),
    U64(u64),
    HexInt64(u64),
    FileTime(u64),
    Guid([u8; 16]),
    Sid(Vec<u8>),
    Str(String),
    Binary(Vec<u8>),
    /// An embedded BinXML fragment (EventData/UserData), itself a TemplateInstance.
    BinXml(Box<Instance>),
}

impl Value {
    /// The BinXML type byte written in the substitution descriptor.
    pub(crate) fn type_byte(&self) -> u8 {
        match self {
            Value::Null => ty::NULL,
            Value::U8(_) => ty::UINT8,
            Value::U16(_) => ty::UINT16,
            Value::U32(_) => ty::UINT32,
            Value::U64(_) => ty::UINT64,
            Value::HexInt64(_) => ty::HEXINT64,
            Value::FileTime(_) => ty::FILETIME,
            Value::Guid(_) => ty::GUID,
            Value::Sid(_) => ty::SID,
            Value::Str(_) => ty::STRING,
            Value::Binary(_) => ty::BINARY,
            Value::BinXml(_) => ty::BINXML,
        }
    }
}

/// Why a text could not become a value; the caller adds the line and the field.
pub(crate) type ParseResult<T> = Result<T, &'static str>;

/// Decimal unsigned integer, exactly as `wevtutil` prints it (no sign, no spaces).
fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

pub(crate) fn parse_u8(text: &str) -> ParseResult<u8> {
    parse_decimal(text)
        .and_then(|v| u8::try_from(v).ok())
        .ok_or("a decimal number from 0 to 255")
}

pub(crate) fn parse_u16(text: &str) -> ParseResult<u16> {
    parse_decimal(text)
        .and_then(|v| u16::try_from(v).ok())
        .ok_or("a decimal number from 0 to 65535")
}

pub(crate) fn parse_u32(text: &str) -> ParseResult<u32> {
    parse_decimal(text)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or("a decimal number from 0 to 4294967295")
}

pub(crate) fn parse_u64(text: &str) -> ParseResult<u64> {
    parse_decimal(text).ok_or("a decimal number from 0 to 18446744073709551615")
}

/// Keywords are printed as `0x` + hex by `wevtutil`; accept the bare hex form too.
pub(crate) fn parse_hex64(text: &str) -> ParseResult<u64> {
    const WANT: &str = "a 64-bit hex number such as 0x8000000000000000";
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    if digits.is_empty() || digits.len() > 16 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(WANT);
    }
    u64::from_str_radix(digits, 16).map_err(|_| WANT)
}

/// Seconds between 1601-01-01 (FILETIME epoch) and 1970-01-01 (Unix epoch).
const FILETIME_UNIX_OFFSET_SECS: i64 = 11_644_473_600;

/// RFC 3339 time (up to 9 fraction digits) to FILETIME, truncated to its 100-ns resolution.
pub(crate) fn parse_filetime(text: &str) -> ParseResult<u64> {
    const WANT: &str = "an RFC 3339 UTC time such as 2024-05-14T01:02:33.5123456Z";
    let time = DateTime::parse_from_rfc3339(text).map_err(|_| WANT)?;
    let secs = time
        .timestamp()
        .checked_add(FILETIME_UNIX_OFFSET_SECS)
        .ok_or(WANT)?;
    let secs = u64::try_from(secs).map_err(|_| "a time after 1601-01-01T00:00:00Z")?;
    let ticks = u64::from(time.timestamp_subsec_nanos() / 100);
    secs.checked_mul(10_000_000)
        .and_then(|t| t.checked_add(ticks))
        .ok_or(WANT)
}

/// `{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}` (braces optional) to the GUID's on-disk layout
/// (first three groups little-endian, the last two as written).
pub(crate) fn parse_guid(text: &str) -> ParseResult<[u8; 16]> {
    const WANT: &str = "a GUID such as {BAF908EA-3421-4CA9-9B84-6689B8C6F85F}";
    let inner = text
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .unwrap_or(text);
    let groups: Vec<&str> = inner.split('-').collect();
    let lens = [8, 4, 4, 4, 12];
    if groups.len() != 5 || groups.iter().zip(lens).any(|(g, n)| g.len() != n) {
        return Err(WANT);
    }
    let hex: String = groups.concat();
    let bytes = parse_hex_bytes(&hex).map_err(|_| WANT)?;
    let mut out = [0u8; 16];
    if bytes.len() != 16 {
        return Err(WANT);
    }
    // Data1 (u32), Data2 (u16), Data3 (u16) are stored little-endian.
    for (dst, src) in [
        (0, 3),
        (1, 2),
        (2, 1),
        (3, 0),
        (4, 5),
        (5, 4),
        (6, 7),
        (7, 6),
    ] {
        out[dst] = bytes[src];
    }
    out[8..].copy_from_slice(&bytes[8..]);
    Ok(out)
}

/// `S-1-5-18` to the binary SID: revision, sub-authority count, 48-bit big-endian
/// authority, then little-endian 32-bit sub-authorities.
pub(crate) fn parse_sid(text: &str) -> ParseResult<Vec<u8>> {
    const WANT: &str = "a SID such as S-1-5-18";
    let rest = text.strip_prefix("S-").ok_or(WANT)?;
    let mut parts = rest.split('-');
    let revision = parts.next().and_then(parse_decimal).ok_or(WANT)?;
    let revision = u8::try_from(revision).map_err(|_| WANT)?;
    let authority = parts.next().and_then(parse_decimal).ok_or(WANT)?;
    if authority >= 1 << 48 {
        return Err(WANT);
    }
    let subs = parts
        .map(|p| parse_decimal(p).and_then(|v| u32::try_from(v).ok()))
        .collect::<Option<Vec<u32>>>()
        .ok_or(WANT)?;
    let count = u8::try_from(subs.len()).map_err(|_| WANT)?;
    if count > 15 {
        return Err(WANT);
    }
    let mut out = vec![revision, count];
    out.extend_from_slice(&authority.to_be_bytes()[2..]);
    for sub in subs {
        out.extend_from_slice(&sub.to_le_bytes());
    }
    Ok(out)
}

/// `<Binary>` content: an even number of hex digits (either case), as `wevtutil` prints.
pub(crate) fn parse_hex_bytes(text: &str) -> ParseResult<Vec<u8>> {
    const WANT: &str = "an even number of hex digits such as 5E0000C0";
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(WANT);
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|s| u8::from_str_radix(s, 16).ok())
                .ok_or(WANT)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filetime_keeps_100ns() {
        // 1970-01-01 is 116444736000000000 in FILETIME.
        assert_eq!(
            parse_filetime("1970-01-01T00:00:00.0000001Z"),
            Ok(116_444_736_000_000_001)
        );
        assert_eq!(
            parse_filetime("1970-01-01T00:00:00.123456789Z"),
            Ok(116_444_736_001_234_567)
        );
        assert!(parse_filetime("1500-01-01T00:00:00Z").is_err());
        assert!(parse_filetime("yesterday").is_err());
    }

    #[test]
    fn guid_layout() {
        let g = parse_guid("{00112233-4455-6677-8899-AABBCCDDEEFF}").unwrap();
        assert_eq!(
            g,
            [
                0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD,
                0xEE, 0xFF
            ]
        );
        assert!(parse_guid("{0011}").is_err());
    }

    #[test]
    fn sid_layout() {
        assert_eq!(
            parse_sid("S-1-5-18").unwrap(),
            vec![1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0]
        );
        assert!(parse_sid("S-1").is_err());
        assert!(parse_sid("X-1-5").is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_u16("5719"), Ok(5719));
        assert!(parse_u16("65536").is_err());
        assert!(parse_u16("-1").is_err());
        assert!(parse_u8(" 1").is_err());
        assert_eq!(parse_hex64("0x80000000000000"), Ok(0x80_0000_0000_0000));
        assert!(parse_hex64("0x").is_err());
        assert_eq!(parse_hex_bytes("5e0000C0"), Ok(vec![0x5e, 0, 0, 0xc0]));
        assert!(parse_hex_bytes("5").is_err());
        assert!(parse_hex_bytes("zz").is_err());
    }
}
