//! Every documented exit status, produced for real.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let (status, stdout, stderr) = run_to_exit(Command::new(BIN).args(args));
    (status.code(), stdout, stderr)
}

/// Runs the daemon without CAP_SYS_RESOURCE, whatever the test runner has.
fn run_unprivileged(args: &[&str]) -> (Option<i32>, String, String) {
    let (status, stdout, stderr) = run_to_exit(
        Command::new("setpriv")
            .args([
                "--bounding-set",
                "-sys_resource",
                "--inh-caps",
                "-sys_resource",
                BIN,
            ])
            .args(args),
    );
    (status.code(), stdout, stderr)
}

/// Runs a shell script in a private mount namespace, where /proc/pressure can be
/// hidden or replaced without touching the machine.
fn run_in_mount_namespace(script: &str) -> (Option<i32>, String, String) {
    let (status, stdout, stderr) = run_to_exit(Command::new("unshare").args([
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        script,
        "sh",
        BIN,
    ]));
    (status.code(), stdout, stderr)
}

#[test]
fn bad_specs_and_options_exit_64_quoting_the_input() {
    let table: [(&[&str], &str); 10] = [
        (
            &["-t", "memory:some:15O000:1s"],
            "invalid trigger 'memory:some:15O000:1s'",
        ),
        (
            &["-t", "memory:some:150000"],
            "invalid trigger 'memory:some:150000'",
        ),
        (&["-t", "swap:some:1ms:2s"], "unknown resource 'swap'"),
        (&["-t", "cpu:some:3s:2s"], "longer than the window"),
        (&["-t", "cpu:some:1ms:20s"], "limit of 10s"),
        (&["--bogus"], "Unrecognized argument: --bogus"),
        (&["-t"], "No value provided for option '-t'"),
        (&["--facility", "daemonx"], "unknown facility 'daemonx'"),
        (&["--ident", "a b"], "invalid --ident \"a b\""),
        (
            &["--stderr", "--socket", "/dev/log"],
            "does not go with --stderr",
        ),
    ];
    for (args, expected) in table {
        let (code, stdout, stderr) = run(args);
        assert_eq!(code, Some(64), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn help_and_version_exit_0() {
    let (code, stdout, _) = run(&["--help"]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("Usage: psi-syslogd"));
    let (code, stdout, _) = run(&["-V"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        stdout,
        format!("psi-syslogd {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn a_window_off_the_2s_grid_without_cap_sys_resource_exits_77() {
    let (code, _, stderr) = run_unprivileged(&["-t", "cpu:some:100ms:1s", "--stderr"]);
    assert_eq!(code, Some(77), "{stderr}");
    assert!(stderr.contains("'cpu:some:100000:1000000'"), "{stderr}");
    assert!(stderr.contains("multiple of 2s"), "{stderr}");
    assert!(stderr.contains("CAP_SYS_RESOURCE"), "{stderr}");
}

#[test]
fn missing_psi_exits_69_and_says_how_to_enable_it() {
    // /proc/pressure hidden by an empty tmpfs: the kernel as built without CONFIG_PSI.
    let (code, _, stderr) = run_in_mount_namespace(
        "mount -t tmpfs tmpfs /proc/pressure && exec \"$1\" -t memory:some:10%:2s --stderr",
    );
    assert_eq!(code, Some(69), "{stderr}");
    assert!(stderr.contains("/proc/pressure/memory"), "{stderr}");
    assert!(
        stderr.contains("CONFIG_PSI") && stderr.contains("psi=1"),
        "{stderr}"
    );
}

#[test]
fn a_missing_resource_file_exits_69() {
    // irq pressure exists only with CONFIG_IRQ_TIME_ACCOUNTING; hide it to be sure.
    let (code, _, stderr) = run_in_mount_namespace(
        "mount -t tmpfs tmpfs /proc/pressure && exec \"$1\" -t irq:full:1ms:2s --stderr",
    );
    assert_eq!(code, Some(69), "{stderr}");
    assert!(stderr.contains("/proc/pressure/irq"), "{stderr}");
}

#[test]
fn other_os_errors_exit_71() {
    // More triggers than descriptors: EMFILE.
    let mut args = vec!["-t".to_string(), "memory:some:10%:2s".to_string()];
    for _ in 0..20 {
        args.extend(["-t".to_string(), "cpu:some:50%:2s".to_string()]);
    }
    let (status, _, stderr) = run_to_exit(
        Command::new("sh")
            .args(["-c", "ulimit -n 12 && exec \"$0\" \"$@\" --stderr", BIN])
            .args(&args),
    );
    assert_eq!(status.code(), Some(71), "{stderr}");
    assert!(stderr.contains("Too many open files"), "{stderr}");
    assert!(
        stderr.contains("cannot arm 'some 1000000 2000000' on /proc/pressure/cpu"),
        "{stderr}"
    );
}

#[test]
fn an_arming_error_also_reaches_syslog() {
    let mut receiver = Receiver::new("error");
    let (code, _, stderr) =
        run_unprivileged(&["-t", "cpu:some:1ms:1s", "--socket", receiver.path_str()]);
    assert_eq!(code, Some(77), "{stderr}");
    let error = receiver
        .wait_for(
            |m| body(m).starts_with("event=error "),
            Duration::from_secs(2),
        )
        .unwrap_or_else(|| panic!("no error line: {:?}", receiver.received));
    // daemon.err = 3 * 8 + 3
    assert!(error.starts_with("<27>"), "{error}");
    let pairs = logfmt(body(&error));
    assert_eq!(field(&pairs, "exit"), Some("77"));
    assert!(
        field(&pairs, "message").unwrap().contains("multiple of 2s"),
        "{error}"
    );
    assert!(
        !receiver
            .received
            .iter()
            .any(|m| body(m).starts_with("event=start"))
    );
}
