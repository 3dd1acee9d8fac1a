//! The template reader (`input::template`) gives, for every record it reads, exactly the
//! event the XML route gives (the crate renders Event XML, `parse_event` reads it): on every
//! record of the real samples and of the fixtures' EVTX files. Read from bytes, the shapes one
//! chunk builds serve the file's later chunks, as the reader shares them.

mod common;

use evtx::{EvtxParser, ParserSettings};
use hvtriage::input::template::{self, Shapes};
use hvtriage::input::xml::{parse_event, Seen};
use hvtriage::input::{Everything, RawEvent};
use std::path::Path;

fn key(e: &RawEvent) -> String {
    format!(
        "{} {} {:?} {:?} {} {:?} {:?} {:?}",
        e.record_id, e.time, e.provider, e.event_id, e.input, e.channel, e.computer, e.data
    )
}

/// What one route gives for a record, in a form that compares.
fn summary(seen: Seen, event: Option<&RawEvent>) -> (String, String, String, u64, Option<String>) {
    (
        seen.time.to_rfc3339(),
        seen.computer,
        seen.channel,
        seen.record_id,
        event.map(key),
    )
}

/// (records compared, records the template reader read), and every difference.
fn compare(
    path: &Path,
    differences: &mut Vec<String>,
    from_bytes_read: &mut usize,
) -> (usize, usize) {
    let Ok(parser) = EvtxParser::from_path(path) else {
        return (0, 0);
    };
    let mut parser = parser.with_configuration(ParserSettings::default().num_threads(1));
    let (mut compared, mut direct) = (0, 0);
    // Read from bytes, the chunks share the shapes they build, as `input::evtx` reads them.
    let known = std::sync::Arc::new(template::Known::default());
    for chunk in parser.chunks() {
        let Ok(mut chunk) = chunk else { continue };
        let Ok(mut parsed) = chunk.parse(std::sync::Arc::new(ParserSettings::default())) else {
            continue;
        };
        let mut shapes = Shapes::default();
        let mut bytes_shapes = Shapes::sharing(&known);
        for record in parsed.iter().filter_map(Result::ok) {
            if record.recovered {
                continue;
            }
            let Ok(instances) = record.template_instances() else {
                continue;
            };
            let fast = template::read(&record, &instances, &mut shapes, 0, &Everything);
            // The record read from its bytes alone, as a sound chunk is read.
            let start = record.binxml_offset as usize;
            let binxml = &record.chunk.data[start..start + record.binxml_size as usize];
            let from_bytes =
                template::read_bytes(record.chunk.data, binxml, &mut bytes_shapes, 0, &Everything);
            let Ok(xml) = record.into_xml() else { continue };
            let Ok(doc) = roxmltree::Document::parse(&xml.data) else {
                continue;
            };
            let Ok((seen, event)) = parse_event(0, doc.root_element(), &Everything) else {
                continue;
            };
            compared += 1;
            let slow = summary(seen, event.as_ref());
            let mut differs = |route: &str, (quick_seen, quick_event): (Seen, Option<RawEvent>)| {
                let quick = summary(quick_seen, quick_event.as_ref());
                if slow != quick && differences.len() < 20 {
                    differences.push(format!(
                        "{}: record {}\n  xml:   {slow:?}\n  {route}: {quick:?}",
                        path.display(),
                        xml.event_record_id
                    ));
                }
            };
            if let Some(read) = from_bytes {
                differs("from bytes", read);
                *from_bytes_read += 1;
            }
            let Some(read) = fast else {
                continue;
            };
            direct += 1;
            differs("template", read);
        }
    }
    (compared, direct)
}

#[test]
fn the_template_reader_gives_the_xml_routes_event_for_every_record_it_reads() {
    let mut files = common::files(&common::samples(), "evtx");
    files.extend(common::files(&common::root().join("fixtures"), "evtx"));
    let mut differences = Vec::new();
    let (mut compared, mut direct, mut from_bytes) = (0, 0, 0);
    for file in &files {
        let (c, d) = compare(file, &mut differences, &mut from_bytes);
        compared += c;
        direct += d;
    }
    assert!(
        differences.is_empty(),
        "the template reader differs:\n{}",
        differences.join("\n")
    );
    eprintln!(
        "{direct} of {compared} records read through their template, {from_bytes} from their bytes"
    );
    assert!(compared > 20_000, "{compared} records compared");
    // Windows writes nearly every record as one plain template instance.
    assert!(
        direct * 10 >= compared * 9,
        "only {direct} of {compared} records read through their template"
    );
    assert!(
        from_bytes * 10 >= compared * 9,
        "only {from_bytes} of {compared} records read from their bytes"
    );
}
