//! `scripts/start-local.sh --check-ports`: the check the script makes before it starts
//! anything. A port another process holds stops it, naming the port, the variable that moves
//! it and (when `ss` may show it) the process; free ports pass. Nothing is started.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/start-local.sh")
}

/// A port nothing listens on right now (bound to port 0 and let go).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn check_ports(ingress: u16, sim: u16, processor: u16) -> Output {
    Command::new("bash")
        .arg(script())
        .arg("--check-ports")
        .env("XCS_LOCAL_INGRESS_PORT", ingress.to_string())
        .env("XCS_LOCAL_SIM_PORT", sim.to_string())
        .env("XCS_LOCAL_PROCESSOR_PORT", processor.to_string())
        .output()
        .expect("bash runs the script")
}

#[test]
fn a_held_port_stops_the_script_naming_it_and_how_to_move_it() {
    let held = TcpListener::bind("127.0.0.1:0").expect("a listener");
    let port = held.local_addr().expect("its address").port();

    let out = check_ports(free_port(), port, free_port());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("port {port}, for the Xero simulator, is taken")),
        "{stderr}"
    );
    assert!(stderr.contains("XCS_LOCAL_SIM_PORT="), "{stderr}");
    assert!(stderr.contains("FAILED: not starting"), "{stderr}");
    if stderr.contains("pid=") {
        // ss may show processes here: the holder is this test.
        assert!(
            stderr.contains(&format!("held by pid {}", std::process::id())),
            "{stderr}"
        );
    }
    drop(held);
}

#[test]
fn free_ports_pass_and_a_port_given_twice_does_not() {
    let (ingress, sim, processor) = (free_port(), free_port(), free_port());
    let out = check_ports(ingress, sim, processor);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("ports free"), "{stderr}");

    let out = check_ports(ingress, ingress, processor);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("given twice"), "{stderr}");
}
