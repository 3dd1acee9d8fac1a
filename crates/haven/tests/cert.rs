//! `haven cert` through the binary: QEMU's file layout, keys kept private,
//! no overwriting, and one sentence with exit status 2 on bad input.

mod common;

use common::haven;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

/// A directory removed on drop, also when the test fails.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn refused(out: &Output, words: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(words), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one sentence: {stderr}");
}

#[test]
fn a_ca_signs_node_certificates_in_qemus_layout() {
    let tmp = TempDir(std::env::temp_dir().join(format!("haven-cert-cli-{}", std::process::id())));
    let (ca, node) = (tmp.0.join("ca"), tmp.0.join("node-a"));
    let out = haven(&["cert", "ca", "--dir", path(&ca)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = haven(&[
        "cert",
        "node",
        "--ca",
        path(&ca),
        "--name",
        "node-a",
        "--ip",
        "10.0.0.1",
        "--dns",
        "a.example",
        "--dir",
        path(&node),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (file, mode) in [
        ("ca-cert.pem", 0o644),
        ("server-cert.pem", 0o644),
        ("server-key.pem", 0o600),
        ("client-cert.pem", 0o644),
        ("client-key.pem", 0o600),
        ("dh-params.pem", 0o644),
    ] {
        let meta = std::fs::metadata(node.join(file)).expect(file);
        assert_eq!(meta.permissions().mode() & 0o777, mode, "{file}");
    }
    // A directory made without the DH group gets it by itself, once.
    let dh = std::fs::read_to_string(node.join("dh-params.pem")).unwrap();
    assert!(dh.starts_with("-----BEGIN DH PARAMETERS-----"), "{dh}");
    refused(
        &haven(&["cert", "dh-params", "--dir", path(&node)]),
        "exists already",
    );
    std::fs::remove_file(node.join("dh-params.pem")).unwrap();
    let out = haven(&["cert", "dh-params", "--dir", path(&node)]);
    assert!(out.status.success());
    assert_eq!(
        std::fs::read_to_string(node.join("dh-params.pem")).unwrap(),
        dh
    );
    refused(
        &haven(&["cert", "dh-params", "--dir", path(&tmp.0.join("nowhere"))]),
        "is not a directory",
    );
    refused(
        &haven(&["cert", "ca", "--dir", path(&ca)]),
        "exists already",
    );
    refused(
        &haven(&[
            "cert",
            "node",
            "--ca",
            path(&ca),
            "--name",
            "node-a",
            "--dir",
            path(&node),
        ]),
        "exists already",
    );
    refused(
        &haven(&[
            "cert",
            "node",
            "--ca",
            path(&ca),
            "--name",
            "bad name",
            "--dir",
            path(&tmp.0.join("x")),
        ]),
        "not a valid host name",
    );
    refused(
        &haven(&[
            "cert",
            "node",
            "--ca",
            path(&tmp.0.join("none")),
            "--name",
            "b",
            "--dir",
            path(&tmp.0.join("y")),
        ]),
        "cannot read",
    );
}
