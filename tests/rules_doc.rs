//! docs/RULES.md's worked example, run: its files are written, turned into EVTX, and the rule
//! passes `rules test` and finds what the page says.

mod common;

use predicates::prelude::*;

/// The code blocks of the page that name a file: (path, content).
fn files_of_the_page() -> Vec<(String, String)> {
    let page = std::fs::read_to_string(common::root().join("docs/RULES.md")).unwrap();
    let mut out = Vec::new();
    let mut lines = page.lines();
    while let Some(line) = lines.next() {
        if let Some(path) = line
            .strip_prefix("```")
            .and_then(|l| l.split_once(" file="))
            .map(|(_, p)| p)
        {
            let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
            out.push((path.to_string(), body.join("\n") + "\n"));
        }
    }
    out
}

#[test]
fn the_worked_example_passes_rules_test() {
    let dir = std::env::temp_dir().join(format!("hvtriage-rules-doc-{}", std::process::id()));
    let files = files_of_the_page();
    assert_eq!(files.len(), 3, "the page names two cases and one rule");
    for (path, body) in &files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, body).unwrap();
        if path.extension().is_some_and(|x| x == "xml") {
            common::hvtriage()
                .arg("fixture")
                .arg(&path)
                .arg("-o")
                .arg(path.with_extension("evtx"))
                .assert()
                .success();
        }
    }
    common::hvtriage()
        .current_dir(&dir)
        .args(["rules", "check", "my-rules"])
        .assert()
        .success();
    common::hvtriage()
        .current_dir(&dir)
        .args(["rules", "test", "my-rules"])
        .assert()
        .success()
        .stdout(predicate::str::contains("pass  account-mapping"))
        .stdout(predicate::str::contains("(high, HV01, VM7)"));
    common::hvtriage()
        .current_dir(&dir)
        .args(["cases/account-mapping", "--rules", "my-rules"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "failed: account mapping (0x80070534)",
        ));
    std::fs::remove_dir_all(dir).ok();
}
