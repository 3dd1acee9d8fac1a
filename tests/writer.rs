//! Round trip: Event XML → `write_evtx` → read back by two independent readers (the `evtx`
//! crate with checksum validation, and python-evtx) → every value compared with the source.
//!
//! Inputs: every `*.xml` under `tests/data/writer/` and `fixtures/` (every fixture case's
//! Event XML), plus every `*.xml` under `$HVTRIAGE_XML_DIR` (recursively) when it is set.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use chrono::DateTime;
use evtx::{EvtxParser, ParserSettings};
use hvtriage::evtx_write::{write_evtx, WriteError};

/// Which reader produced an XML rendering: each has its own documented quirks.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Reader {
    Source,
    EvtxCrate,
    PythonEvtx,
}

fn xml_files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        panic!("cannot read directory {}", dir.display());
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            xml_files_under(&path, out);
        } else if path.extension().is_some_and(|e| e == "xml") {
            out.push(path);
        }
    }
}

fn input_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    xml_files_under(&root.join("tests/data/writer"), &mut files);
    xml_files_under(&root.join("fixtures"), &mut files);
    if let Some(dir) = std::env::var_os("HVTRIAGE_XML_DIR") {
        xml_files_under(Path::new(&dir), &mut files);
    }
    assert!(!files.is_empty(), "no *.xml inputs found");
    files
}

/// The source as one document: `wevtutil qe /f:xml` output has no common root.
fn as_document(xml: &str) -> String {
    let mut text = xml.trim_start_matches('\u{feff}').trim_start().to_owned();
    if text.starts_with("<?xml") {
        if let Some(end) = text.find("?>") {
            text.replace_range(..end + 2, "");
        }
    }
    match roxmltree::Document::parse(&text) {
        Ok(doc) if doc.root_element().tag_name().name() == "Events" => text,
        _ => format!("<Events>{text}</Events>"),
    }
}

/// FILETIME ticks (100 ns) of a time as one of the readers prints it.
fn time_ticks(text: &str, reader: Reader) -> Option<i128> {
    let time = match reader {
        // python-evtx prints `datetime.isoformat(" ")`: `2024-05-14 01:02:33.512345+00:00`.
        // FILETIME 0 (1601-01-01) comes out as `datetime.min`, printed without an offset.
        Reader::PythonEvtx if text == "0001-01-01 00:00:00" => {
            DateTime::parse_from_rfc3339("1601-01-01T00:00:00Z").ok()?
        }
        Reader::PythonEvtx => DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%:z").ok()?,
        _ => DateTime::parse_from_rfc3339(text).ok()?,
    };
    Some(
        i128::from(time.timestamp()) * 10_000_000 + i128::from(time.timestamp_subsec_nanos() / 100),
    )
}

/// Normalises one value for comparison. Each rule is a rendering difference, not a data
/// difference:
/// - literal CR is turned into LF by any XML parser (the readers print CR raw, the source
///   writes `&#13;`), so line ends are compared as LF;
/// - SystemTime is compared as an instant: exactly at 100 ns (FILETIME resolution) for the
///   evtx crate; within 3 µs for python-evtx, which converts FILETIME through a float
///   (`float(qword) * 1e-7`) into a µs `datetime`, so it drops the 100-ns digit and can be
///   2 µs off (see `assert_times_close`);
/// - Keywords (HexInt64) is compared as a number (python-evtx pads it to 16 digits);
/// - GUIDs (Provider/@Guid, Correlation/@ActivityID, @RelatedActivityID) and `<Binary>` hex
///   are compared case-insensitively (readers print GUID/hex in their own case);
/// - python-evtx prints BinaryType as base64 (not hex as Windows and the evtx crate do),
///   so its `<Binary>` text is decoded and compared as hex.
fn normalise(path: &str, name: &str, value: &str, reader: Reader, micro: bool) -> String {
    let value = value.replace("\r\n", "\n").replace('\r', "\n");
    if name == "@SystemTime" {
        if micro {
            // Compared separately, with a tolerance: see `assert_times_close`.
            return "checked by assert_times_close".to_owned();
        }
        if let Some(ticks) = time_ticks(&value, reader) {
            return format!("ticks:{ticks}");
        }
    }
    let element = path.rsplit('/').next().unwrap_or("");
    let local = element.split('[').next().unwrap_or("");
    if name.is_empty() && local.ends_with("Keywords") {
        if let Ok(v) = u64::from_str_radix(value.trim_start_matches("0x"), 16) {
            return format!("0x{v:x}");
        }
    }
    if reader == Reader::PythonEvtx && name.is_empty() && local.ends_with("Binary") {
        if let Some(bytes) = base64_decode(&value) {
            return bytes.iter().map(|b| format!("{b:02X}")).collect();
        }
    }
    if matches!(name, "@Guid" | "@ActivityID" | "@RelatedActivityID")
        || (name.is_empty() && local.ends_with("Binary"))
    {
        return value.to_uppercase();
    }
    value
}

/// Standard base64 (python-evtx's rendering of BinaryType), `None` when not base64.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|&c| c != b'=') {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        bits = (bits << 6) | v;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    Some(out)
}

/// The facts of one `<Event>`: (element path, attribute, value) and (element path, text).
/// Paths carry namespace URI, local name and sibling position, so order and nesting count.
fn event_facts(event: roxmltree::Node, reader: Reader, micro: bool) -> BTreeSet<String> {
    let mut facts = BTreeSet::new();
    collect_facts(event, String::new(), 0, reader, micro, &mut facts);
    facts
}

fn collect_facts(
    node: roxmltree::Node,
    parent: String,
    position: usize,
    reader: Reader,
    micro: bool,
    facts: &mut BTreeSet<String>,
) {
    let ns = node.tag_name().namespace().unwrap_or("");
    let path = format!("{parent}/{{{ns}}}{}[{position}]", node.tag_name().name());
    for attribute in node.attributes() {
        // python-evtx prints an optional substitution holding NullType as `attr=""` where
        // Windows (and the evtx crate) leave the attribute out.
        if reader == Reader::PythonEvtx && attribute.value().is_empty() {
            continue;
        }
        let name = format!("@{}", attribute.name());
        let value = normalise(&path, &name, attribute.value(), reader, micro);
        facts.insert(format!("{path} {name}={value:?}"));
    }
    let has_elements = node.children().any(|c| c.is_element());
    let text: String = node
        .children()
        .filter(|c| c.is_text())
        .filter_map(|c| c.text())
        .collect();
    // Whitespace between elements is layout, and an empty element has no text either way.
    let layout = has_elements && text.trim().is_empty();
    if !text.is_empty() && !layout {
        let value = normalise(&path, "", &text, reader, micro);
        facts.insert(format!("{path} text={value:?}"));
    }
    for (i, child) in node.children().filter(|c| c.is_element()).enumerate() {
        collect_facts(child, path.clone(), i, reader, micro, facts);
    }
}

fn record_id_of(facts: &BTreeSet<String>) -> Option<String> {
    facts
        .iter()
        .find(|f| f.contains("}EventRecordID[") && f.contains(" text="))
        .map(|f| f.rsplit("text=").next().unwrap_or("").to_owned())
}

/// Every `TimeCreated/@SystemTime` of a rendering, as FILETIME ticks, in document order.
fn system_times(xml: &str, reader: Reader) -> Vec<i128> {
    let doc = roxmltree::Document::parse(xml).expect("parses");
    doc.descendants()
        .filter(|n| n.tag_name().name() == "TimeCreated")
        .filter_map(|n| n.attribute("SystemTime"))
        .map(|t| time_ticks(t, reader).unwrap_or_else(|| panic!("{reader:?} time {t:?}")))
        .collect()
}

/// python-evtx's times must be within 3 µs of the source's: it truncates to µs (up to
/// 0.9 µs lost) and its float conversion (`float(qword) * 1e-7 - 11644473600`, a double near
/// 1.7e9 s) is off by up to ~2 µs. The evtx crate check compares the same times exactly.
fn assert_times_close(file: &Path, source: &[i128], python: &[i128]) {
    assert_eq!(
        source.len(),
        python.len(),
        "{}: number of times",
        file.display()
    );
    for (i, (want, got)) in source.iter().zip(python).enumerate() {
        assert!(
            (want - got).abs() <= 30,
            "{}: event #{i} SystemTime is {got} ticks as read by python-evtx, source {want}",
            file.display()
        );
    }
}

fn source_events(xml: &str, micro: bool) -> Vec<BTreeSet<String>> {
    let text = as_document(xml);
    let doc = roxmltree::Document::parse(&text).expect("source parses");
    doc.root_element()
        .children()
        .filter(|c| c.is_element())
        .map(|e| event_facts(e, Reader::Source, micro))
        .collect()
}

fn rendered_facts(xml: &str, reader: Reader, micro: bool) -> BTreeSet<String> {
    let doc = roxmltree::Document::parse(xml)
        .unwrap_or_else(|e| panic!("{reader:?} printed XML that does not parse ({e}):\n{xml}"));
    event_facts(doc.root_element(), reader, micro)
}

/// Compares event by event, naming the file and the differing facts.
fn assert_same_events(
    file: &Path,
    reader: Reader,
    expected: &[BTreeSet<String>],
    actual: &[BTreeSet<String>],
) {
    assert_eq!(
        expected.len(),
        actual.len(),
        "{}: {reader:?} read {} records, the source has {} events",
        file.display(),
        actual.len(),
        expected.len()
    );
    for (i, (want, got)) in expected.iter().zip(actual).enumerate() {
        let missing: Vec<_> = want.difference(got).collect();
        let extra: Vec<_> = got.difference(want).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{}: event #{i} (EventRecordID {:?}) differs as read by {reader:?}\n  missing: {missing:#?}\n  extra: {extra:#?}",
            file.display(),
            record_id_of(want)
        );
    }
}

fn evtx_crate_xml(bytes: Vec<u8>) -> Vec<String> {
    let settings = ParserSettings::new().validate_checksums(true);
    let mut parser = EvtxParser::from_buffer(bytes)
        .expect("evtx crate opens the file")
        .with_configuration(settings);
    parser
        .records()
        .map(|r| r.expect("evtx crate reads every record without error").data)
        .collect()
}

fn python_xml(path: &Path) -> Vec<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pyevtx_dump.py");
    let output = Command::new("python3")
        .arg(&script)
        .arg(path)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run python3 ({e}); install Python 3 and then: pip install python-evtx")
        });
    assert!(
        output.status.success(),
        "tests/pyevtx_dump.py failed (status {:?}): {}\nInstall the reader with: pip install python-evtx",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).expect("pyevtx_dump.py prints UTF-8");
    stdout
        .lines()
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).expect("JSON line");
            if let Some(error) = record.get("error") {
                panic!(
                    "python-evtx could not render record {}: {error}",
                    record["id"]
                );
            }
            record["xml"].as_str().expect("xml field").to_owned()
        })
        .collect()
}

fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hvtriage-writer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

#[test]
fn every_value_round_trips_through_the_evtx_crate() {
    for file in input_files() {
        let xml = std::fs::read_to_string(&file).expect("read input");
        let bytes = write_evtx(&xml).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let expected = source_events(&xml, false);
        let actual: Vec<_> = evtx_crate_xml(bytes)
            .iter()
            .map(|x| rendered_facts(x, Reader::EvtxCrate, false))
            .collect();
        assert_same_events(&file, Reader::EvtxCrate, &expected, &actual);
    }
}

#[test]
fn every_value_round_trips_through_python_evtx() {
    for (n, file) in input_files().into_iter().enumerate() {
        let xml = std::fs::read_to_string(&file).expect("read input");
        let bytes = write_evtx(&xml).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let path = temp_path(&format!("py-{n}.evtx"));
        std::fs::write(&path, &bytes).expect("write temp evtx");
        let expected = source_events(&xml, true);
        let actual: Vec<_> = python_xml(&path)
            .iter()
            .map(|x| rendered_facts(x, Reader::PythonEvtx, true))
            .collect();
        assert_same_events(&file, Reader::PythonEvtx, &expected, &actual);
        let python_times: Vec<i128> = python_xml(&path)
            .iter()
            .flat_map(|x| system_times(x, Reader::PythonEvtx))
            .collect();
        let source_times = system_times(&as_document(&xml), Reader::Source);
        assert_times_close(&file, &source_times, &python_times);
        let _ = std::fs::remove_file(&path);
    }
    let _ = std::fs::remove_dir(temp_path("x").parent().expect("temp dir"));
}

/// The XML comparison folds CR into LF (XML parsers do); the JSON rendering keeps the
/// stored string exactly, so check there that `&#13;&#10;` was stored as CR LF.
#[test]
fn line_ends_are_stored_exactly() {
    let file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/writer/hyperv_ha_21502_ja.xml");
    let xml = std::fs::read_to_string(file).expect("read input");
    let mut parser = EvtxParser::from_buffer(write_evtx(&xml).expect("writes")).expect("opens");
    let json: Vec<String> = parser
        .records_json()
        .map(|r| r.expect("record").data)
        .collect();
    assert_eq!(json.len(), 1);
    assert!(
        json[0].contains("のライブ マイグレーションに失敗しました。\\r\\n\\r\\n仮想マシン 'VM01'"),
        "{}",
        json[0]
    );
}

/// The project's reader takes substitution 3 as the EventID without rendering: check it on
/// the values the evtx crate parses from every written record.
#[test]
fn substitution_3_is_the_event_id() {
    for file in input_files() {
        let xml = std::fs::read_to_string(&file).expect("read input");
        let bytes = write_evtx(&xml).expect("writes");
        let ids: Vec<String> = source_events(&xml, false)
            .iter()
            .map(|facts| {
                facts
                    .iter()
                    .find(|f| f.contains("}EventID[") && f.contains(" text="))
                    .map(|f| {
                        f.rsplit("text=")
                            .next()
                            .unwrap_or("")
                            .trim_matches('"')
                            .to_owned()
                    })
                    .expect("source EventID")
            })
            .collect();
        let mut seen = Vec::new();
        let settings = Arc::new(ParserSettings::new().validate_checksums(true));
        let mut parser = EvtxParser::from_buffer(bytes).expect("opens");
        for chunk in parser.chunks() {
            let mut chunk = chunk.expect("chunk");
            let mut chunk = chunk.parse(settings.clone()).expect("chunk parses");
            for record in chunk.iter() {
                let record = record.expect("record");
                let instances = record.template_instances().expect("instances");
                let values = &instances.first().expect("a TemplateInstance").values;
                assert_eq!(values.len(), 20, "Windows' System template has 20 values");
                seen.push(values[3].to_string());
            }
        }
        assert_eq!(seen, ids, "{}", file.display());
    }
}

/// ~3000 events of three shapes: several chunks, each valid and self-contained.
fn many_events() -> String {
    let mut xml = String::from("<Events>\n");
    for i in 0..3000u32 {
        let (provider, channel, data) = match i % 3 {
            0 => (
                r#"<Provider Name="NETLOGON"/>"#,
                "System",
                format!("<EventData><Data>CONTOSO{i}</Data><Data>%%1311</Data><Binary>5E0000C0</Binary></EventData>"),
            ),
            1 => (
                r#"<Provider Name="Microsoft-Windows-FailoverClustering" Guid="{BAF908EA-3421-4CA9-9B84-6689B8C6F85F}"/>"#,
                "System",
                format!(r#"<EventData><Data Name="ResourceName">Cluster Name {i}</Data><Data Name="ErrorCode">-1073741717</Data></EventData>"#),
            ),
            _ => (
                r#"<Provider Name="Microsoft-Windows-Hyper-V-VMMS" Guid="{6066F867-7CA1-4418-85FD-36E3F9C0600C}"/>"#,
                "Microsoft-Windows-Hyper-V-VMMS-Admin",
                format!(r#"<UserData><VmlEventLog xmlns="http://www.microsoft.com/Windows/Virtualization/Events"><Parameter0>VM{i}</Parameter0><Parameter1>8F233F6C-28E0-44B7-8A16-C57D0D72DB61</Parameter1><Parameter2>1</Parameter2></VmlEventLog></UserData>"#),
            ),
        };
        let event_id = 1000 + i % 7;
        let record_id = 100 + u64::from(i);
        xml.push_str(&format!(
            r#"<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System>{provider}<EventID>{event_id}</EventID><Version>0</Version><Level>4</Level><Task>0</Task><Opcode>0</Opcode><Keywords>0x8000000000000000</Keywords><TimeCreated SystemTime="2024-05-14T01:{:02}:{:02}.{:07}Z"/><EventRecordID>{record_id}</EventRecordID><Correlation/><Execution ProcessID="4" ThreadID="8"/><Channel>{channel}</Channel><Computer>HV01.contoso.local</Computer><Security UserID="S-1-5-18"/></System>{data}</Event>
"#,
            i / 60 % 60,
            i % 60,
            i * 7
        ));
    }
    xml.push_str("</Events>\n");
    xml
}

fn le_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

#[test]
fn multi_chunk_file_is_valid_and_deterministic() {
    let xml = many_events();
    let bytes = write_evtx(&xml).expect("writes");
    assert_eq!(
        bytes,
        write_evtx(&xml).expect("writes again"),
        "output is deterministic"
    );

    // File header.
    assert_eq!(&bytes[..8], b"ElfFile\0");
    assert_eq!(
        le_u32(&bytes, 124),
        crc32fast::hash(&bytes[..120]),
        "file header CRC32"
    );
    let chunk_count = usize::from(u16::from_le_bytes([bytes[42], bytes[43]]));
    assert!(
        chunk_count >= 3,
        "3000 events take several chunks, got {chunk_count}"
    );
    assert_eq!(bytes.len(), 4096 + chunk_count * 65536);
    assert_eq!(
        u64::from_le_bytes(bytes[24..32].try_into().unwrap()),
        3100,
        "next record id"
    );

    // Every chunk's header and record CRC32s validate, and each template is defined once
    // per chunk: a TemplateInstance (0x0C 0x01 id offset) whose offset points just past
    // itself carries the definition, whose GUID starts with the id.
    for (n, chunk) in bytes[4096..].chunks(65536).enumerate() {
        assert_eq!(&chunk[..8], b"ElfChnk\0");
        let free = le_u32(chunk, 48) as usize;
        assert_eq!(
            le_u32(chunk, 52),
            crc32fast::hash(&chunk[512..free]),
            "chunk {n} data CRC"
        );
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&chunk[..120]);
        hasher.update(&chunk[128..512]);
        assert_eq!(
            le_u32(chunk, 124),
            hasher.finalize(),
            "chunk {n} header CRC"
        );
        assert!(
            chunk[free..].iter().all(|&b| b == 0),
            "chunk {n} free space is zeroed"
        );

        let mut definitions = std::collections::BTreeMap::<u32, usize>::new();
        let mut references = BTreeSet::new();
        for pos in 512..free.saturating_sub(10) {
            if chunk[pos] == 0x0c && chunk[pos + 1] == 0x01 {
                let id = le_u32(chunk, pos + 2);
                let offset = le_u32(chunk, pos + 6) as usize;
                if offset == pos + 10 && le_u32(chunk, offset + 4) == id {
                    *definitions.entry(id).or_default() += 1;
                } else if offset < pos && le_u32(chunk, offset + 4) == id {
                    references.insert(id);
                }
            }
        }
        // 3 System templates + 3 EventData/UserData templates.
        assert_eq!(
            definitions.len(),
            6,
            "chunk {n}: distinct templates defined"
        );
        assert!(
            definitions.values().all(|&c| c == 1),
            "chunk {n}: {definitions:?}"
        );
        assert!(references.iter().all(|id| definitions.contains_key(id)));
        assert!(
            !references.is_empty(),
            "chunk {n}: later records reference templates"
        );
    }

    // The evtx crate (checksums validated) reads all records, in order, with their values.
    let records = evtx_crate_xml(bytes);
    assert_eq!(records.len(), 3000);
    let expected = source_events(&xml, false);
    let actual: Vec<_> = records
        .iter()
        .map(|x| rendered_facts(x, Reader::EvtxCrate, false))
        .collect();
    assert_same_events(
        Path::new("many_events"),
        Reader::EvtxCrate,
        &expected,
        &actual,
    );
}

fn error_of(xml: &str) -> WriteError {
    match write_evtx(xml) {
        Ok(_) => panic!("expected an error for:\n{xml}"),
        Err(e) => e,
    }
}

const GOOD_SYSTEM_HEAD: &str = r#"<Provider Name="NETLOGON"/><EventID Qualifiers="0">5719</EventID><Level>2</Level><Keywords>0x80000000000000</Keywords>"#;

fn event_on_line_3(system_tail: &str, data: &str) -> String {
    format!(
        "<Events>\n<!-- line 2 -->\n<Event xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\">\n<System>{GOOD_SYSTEM_HEAD}{system_tail}<Channel>System</Channel><Computer>HV01</Computer></System>\n{data}</Event>\n</Events>\n"
    )
}

fn assert_names_line(error: WriteError, line: u32, what: &str) {
    let message = error.to_string();
    assert!(
        message.contains(&format!("line {line}")),
        "message should name line {line}: {message}"
    );
    assert!(
        message.contains(what),
        "message should mention {what:?}: {message}"
    );
}

const TIME: &str = r#"<TimeCreated SystemTime="2024-05-14T01:02:33.0000000Z"/>"#;
const RECORD: &str = "<EventRecordID>7</EventRecordID>";

#[test]
fn error_not_well_formed_names_the_line() {
    let xml = "<Events>\n<Event>\n<System>\n</Event>\n</Events>\n";
    assert_names_line(error_of(xml), 4, "not well-formed");
    // Bare-sequence input keeps its line numbers too.
    let bare =
        "<Event><System/></Event>\n<Event>\n<System><EventID>1 & 2</EventID></System></Event>\n";
    assert_names_line(error_of(bare), 3, "&amp;");
}

#[test]
fn error_missing_record_id_names_the_line() {
    let xml = event_on_line_3(TIME, "");
    assert_names_line(error_of(&xml), 3, "<EventRecordID>1</EventRecordID>");
}

#[test]
fn error_missing_time_names_the_line() {
    let xml = event_on_line_3(RECORD, "");
    assert_names_line(error_of(&xml), 3, "TimeCreated SystemTime");
}

#[test]
fn error_bad_time_names_the_line() {
    let xml = event_on_line_3(
        &format!(r#"<TimeCreated SystemTime="2024-05-14 01:02:33"/>{RECORD}"#),
        "",
    );
    assert_names_line(error_of(&xml), 4, "RFC 3339");
}

#[test]
fn error_event_id_not_u16_names_the_line() {
    let xml = event_on_line_3(TIME, "")
        .replace("5719</EventID>", "70000</EventID>")
        .replace("<Channel>", &format!("{RECORD}<Channel>"));
    assert_names_line(error_of(&xml), 4, "0 to 65535");
}

#[test]
fn error_bad_binary_hex_names_the_line() {
    let xml = event_on_line_3(
        &format!("{TIME}{RECORD}"),
        "<EventData><Data>x</Data>\n<Binary>5E0000C</Binary></EventData>",
    );
    assert_names_line(error_of(&xml), 6, "even number of hex digits");
}

#[test]
fn error_record_too_large_names_the_line() {
    let big = "x".repeat(40_000);
    let xml = event_on_line_3(
        &format!("{TIME}{RECORD}"),
        &format!("<EventData><Data>{big}</Data></EventData>"),
    );
    assert_names_line(error_of(&xml), 3, "shorten");
}

#[test]
fn error_too_deep_names_the_line() {
    let deep = format!("{}{}", "<a>\n".repeat(80), "</a>".repeat(80));
    let xml = event_on_line_3(
        &format!("{TIME}{RECORD}"),
        &format!("<UserData>\n{deep}</UserData>"),
    );
    assert_names_line(error_of(&xml), 68, "nested more than 64 deep");
}

#[test]
fn odd_inputs_do_not_panic() {
    for xml in [
        "",
        "   ",
        "<Events/>",
        "<?xml version=\"1.0\"?><Events></Events>",
        "<Event/>",
        "<<<",
        "<Events><Event><System><EventRecordID>1</EventRecordID></System></Event></Events>",
    ] {
        let _ = write_evtx(xml);
    }
    let empty = write_evtx("<Events/>").expect("an empty log is fine");
    assert_eq!(empty.len(), 4096, "header only");
}

#[test]
fn error_wrong_root_names_the_line() {
    assert_names_line(error_of("\n<Log><Event/></Log>"), 2, "<Events>");
}

/// The evtx crate ends a chunk at the first record carrying the header's last id, so a
/// repeated EventRecordID (merged logs of two hosts) must start a new chunk.
#[test]
fn repeated_record_ids_start_a_new_chunk() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/writer/netlogon_5719.xml");
    let one = std::fs::read_to_string(file).expect("read input");
    let xml = format!("<Events>{one}{}{one}</Events>", one.replace("HV01", "HV02"));
    let bytes = write_evtx(&xml).expect("writes");
    assert_eq!(
        u16::from_le_bytes([bytes[42], bytes[43]]),
        3,
        "three chunks"
    );
    let records = evtx_crate_xml(bytes);
    assert_eq!(records.len(), 3);
    assert!(records[1].contains("HV02"));
}
