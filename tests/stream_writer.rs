//! The streaming writer (for cases of many gigabytes) writes what `write_evtx` writes.

mod common;

use hvtriage::evtx_write::{write_evtx, StreamWriter};

#[test]
fn parts_written_one_by_one_make_the_same_file() {
    let xml =
        std::fs::read_to_string(common::root().join("fixtures/seed-001/HV01/System.xml")).unwrap();
    let events: Vec<&str> = xml.lines().filter(|l| l.starts_with("<Event ")).collect();
    assert!(events.len() > 2000);
    let mut writer = StreamWriter::new(std::io::Cursor::new(Vec::new())).unwrap();
    for part in events.chunks(700) {
        writer.push(&part.join("\n")).unwrap();
    }
    let streamed = writer.finish().unwrap().into_inner();
    assert!(
        streamed == write_evtx(&xml).unwrap(),
        "streamed file differs"
    );
}
