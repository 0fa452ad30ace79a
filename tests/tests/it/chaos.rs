//! The short chaos run (issue 6) as part of the test suite: `chaos --short` sends about a
//! thousand signed deliveries through the whole system while RabbitMQ, PostgreSQL and the
//! processors are killed and Xero misbehaves, and fails unless nothing acknowledged was lost or
//! booked twice, and unless Xero's quantities of the tracked shop's SKUs end at its store's
//! levels (see `tests/src/bin/chaos/`). It starts its own RabbitMQ node and PostgreSQL
//! cluster, so the shared servers the other tests use are never killed.

use std::process::Command;

#[test]
fn a_short_chaos_run_loses_nothing_and_books_nothing_twice() {
    let output = Command::new(env!("CARGO_BIN_EXE_chaos"))
        .arg("--short")
        .output()
        .expect("the chaos binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "the chaos run failed ({}); its report is above",
        output.status
    );
    for line in ["DUPLICATES", "LOST", "STOCK MISMATCHES"] {
        let value = stdout
            .lines()
            .find(|l| l.starts_with(line))
            .and_then(|l| l.split_whitespace().last())
            .unwrap_or_else(|| panic!("the report has a {line} line"));
        assert_eq!(value, "0", "{line}");
    }
}
