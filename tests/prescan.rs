//! The raw chunk scan agrees with the `evtx` crate on every chunk it can read: same records,
//! same event ids; it never skips a chunk that holds a wanted event.

mod common;

use evtx::binxml::value_variant::BinXmlValue;
use evtx::{EvtxChunkData, ParserSettings};
use hvtriage::input::prescan::scan;
use hvtriage::input::Wanted;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Wants exactly one id.
struct One(u32);

impl Wanted for One {
    fn id(&self, id: u32) -> bool {
        id == self.0
    }
    fn event(&self, _: &str, id: u32) -> bool {
        id == self.0
    }
}

/// For each chunk of a file: the scan, and the ids the crate finds (None: unreadable chunk).
fn chunks(path: &std::path::Path) -> Vec<(Vec<u8>, Option<Vec<u16>>)> {
    let bytes = std::fs::read(path).unwrap();
    let mut out = Vec::new();
    for chunk in bytes.get(4096..).unwrap_or_default().chunks_exact(65536) {
        if chunk.iter().all(|b| *b == 0) {
            continue;
        }
        let ids = EvtxChunkData::new(chunk.to_vec(), false)
            .ok()
            .and_then(|mut data| {
                let settings = Arc::new(ParserSettings::new());
                let mut parsed = data.parse(settings).ok()?;
                let ids: Vec<u16> = parsed
                    .iter()
                    .filter_map(Result::ok)
                    .filter_map(
                        |r| match r.template_instances().ok()?.first()?.values.get(3) {
                            Some(BinXmlValue::UInt16Type(id)) => Some(*id),
                            _ => None,
                        },
                    )
                    .collect();
                Some(ids)
            });
        out.push((chunk.to_vec(), ids));
    }
    out
}

fn files() -> Vec<std::path::PathBuf> {
    let mut files = common::files(&common::samples(), "evtx");
    files.extend(common::files(
        &common::root().join("fixtures/seed-001"),
        "evtx",
    ));
    files
}

#[test]
fn a_chunk_is_skipped_only_when_the_crate_finds_no_wanted_id_in_it() {
    let mut skipped = 0;
    for path in files() {
        for (chunk, ids) in chunks(&path) {
            let Some(ids) = ids else { continue };
            for id in ids.iter().copied().collect::<BTreeSet<_>>() {
                assert!(
                    scan(&chunk, &One(u32::from(id))).read,
                    "{}: a chunk with id {id} was skipped",
                    path.display()
                );
            }
            // An id no record has: the chunk may be skipped (when every record has Windows' shape).
            if !scan(&chunk, &One(65_000)).read {
                skipped += 1;
            }
        }
    }
    assert!(skipped > 50, "the scan skips almost nothing: {skipped}");
}

#[test]
fn the_scan_counts_the_records_of_clean_chunks() {
    for path in common::files(&common::root().join("fixtures/seed-001"), "evtx") {
        for (chunk, ids) in chunks(&path) {
            let ids = ids.expect("fixture chunks are clean");
            assert_eq!(
                scan(&chunk, &One(65_000)).records,
                ids.len() as u64,
                "{}",
                path.display()
            );
        }
    }
}

#[test]
fn garbage_never_panics() {
    let mut state = 0x2545F4914F6CDD1Du64;
    for round in 0..2000 {
        let mut chunk = b"ElfChnk\0".to_vec();
        chunk.resize(65536, 0);
        for byte in chunk.iter_mut().skip(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *byte = if round % 2 == 0 {
                (state >> 56) as u8
            } else {
                (state >> 60) as u8
            };
        }
        if round % 3 == 0 {
            chunk[48..52].copy_from_slice(&600u32.to_le_bytes());
            chunk[512..516].copy_from_slice(b"\x2a\x2a\x00\x00");
        }
        let _ = scan(&chunk, &One(27));
    }
}

#[test]
fn with_the_catalogue_most_chunks_of_a_noisy_log_are_skipped() {
    let catalogue = hvtriage::signal::Catalogue::builtin();
    let path = common::root().join("fixtures/seed-001/HV01/System.evtx");
    let all = chunks(&path);
    let read = all
        .iter()
        .filter(|(chunk, _)| scan(chunk, &catalogue).read)
        .count();
    // The seed-001 chain sits in one or two chunks; Kernel-Boot 27 noise shares the link-down
    // id, so a few more chunks are candidates.
    assert!(read < all.len(), "{read} of {} chunks read", all.len());
}

#[test]
fn a_chunk_holding_an_event_the_catalogue_wants_is_always_read() {
    let catalogue = hvtriage::signal::Catalogue::builtin();
    let mut checked = 0;
    for path in files() {
        let bytes = std::fs::read(&path).unwrap();
        for chunk in bytes.get(4096..).unwrap_or_default().chunks_exact(65536) {
            let Ok(mut data) = EvtxChunkData::new(chunk.to_vec(), false) else {
                continue;
            };
            let Ok(mut parsed) = data.parse(Arc::new(ParserSettings::new())) else {
                continue;
            };
            let wanted = parsed
                .iter()
                .filter_map(Result::ok)
                .filter_map(|r| r.into_xml().ok())
                .any(|xml| {
                    let doc = roxmltree::Document::parse(&xml.data).unwrap();
                    let provider = doc
                        .descendants()
                        .find(|n| n.has_tag_name("Provider"))
                        .and_then(|n| n.attribute("Name"))
                        .unwrap_or("");
                    let id = doc
                        .descendants()
                        .find(|n| n.has_tag_name("EventID"))
                        .and_then(|n| n.text())
                        .and_then(|t| t.parse().ok())
                        .unwrap_or(0);
                    catalogue.event(provider, id)
                });
            if wanted {
                checked += 1;
                assert!(
                    scan(chunk, &catalogue).read,
                    "{}: a chunk with a wanted event was skipped",
                    path.display()
                );
            }
        }
    }
    assert!(
        checked >= 10,
        "too few chunks with wanted events: {checked}"
    );
}
