//! `--stderr` under systemd: when stderr is the journal's stream (systemd, and
//! systemd-cat, name it in JOURNAL_STREAM), every line begins with `<N>`, its severity,
//! as sd-daemon(3) describes, and the journal files each line at its own priority.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Runs the daemon with stderr on a file, JOURNAL_STREAM naming `stream` (or that file
/// when `None`), until it has started; stops it and returns what it wrote.
fn stderr_with_journal_stream(name: &str, stream: Option<&str>) -> String {
    let path = scratch_dir(name).join("stderr");
    let file = fs::File::create(&path).unwrap();
    let metadata = file.metadata().unwrap();
    let own = format!("{}:{}", metadata.dev(), metadata.ino());
    let mut child = Command::new(BIN)
        .args(["-t", "memory:some:90%:2s", "--stderr"])
        .env("JOURNAL_STREAM", stream.unwrap_or(&own))
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .expect("spawn psi-syslogd");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !fs::read_to_string(&path)
        .unwrap_or_default()
        .contains("event=start")
    {
        assert!(Instant::now() < deadline, "no start line");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: kill has no memory arguments.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert!(wait_timeout(&mut child, Duration::from_secs(10)).success());
    fs::read_to_string(&path).unwrap()
}

#[test]
fn lines_carry_their_priority_only_when_stderr_is_the_journal_stream() {
    let text = stderr_with_journal_stream("stream-own", None);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("<6>event=start version="), "{text}");
    assert_eq!(lines[1], "<6>event=stop signal=SIGTERM");
    // Another stream (stderr redirected elsewhere by a wrapper): plain lines.
    let text = stderr_with_journal_stream("stream-other", Some("1:1"));
    assert!(text.starts_with("event=start version="), "{text}");
    assert!(!text.contains('<'), "{text}");
}

#[test]
fn the_journal_files_each_stderr_line_at_its_severity() {
    let _lock = exclusive();
    // systemd-cat connects the daemon's stdout and stderr to the journal's stream
    // socket, and `stream` sets JOURNAL_STREAM to that socket's device and inode, as
    // systemd does for a service (Debian 12's systemd-cat does not set it itself).
    let journal = PrivateJournal::start(
        r#"
        systemd-cat -t psi-stream sh -c 'JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) exec "$0" "$@"' \
            "$BIN" --stderr -t "cpu:some:50000:2s severity=crit" --repeat 0 &
        systemd-cat -t psi-stream-bad sh -c 'JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) exec "$0" "$@"' \
            "$BIN" --stderr -t "cpu:some:50000:2s severity=urgent" || true
        wait
    "#,
        &[("BIN", BIN)],
    );
    let priority_of = |export: &str, message: &str| -> Option<String> {
        export
            .split("\n\n")
            .find(|entry| {
                entry
                    .lines()
                    .any(|l| l.starts_with(&format!("MESSAGE={message}")))
            })
            .and_then(|entry| entry.lines().find_map(|l| l.strip_prefix("PRIORITY=")))
            .map(str::to_string)
    };
    let wait_for = |identifier: &str, message: &str| -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let export = journal.export(&[&format!("SYSLOG_IDENTIFIER={identifier}")]);
            if let Some(priority) = priority_of(&export, message) {
                return priority;
            }
            assert!(
                Instant::now() < deadline,
                "no '{message}' from {identifier} in the journal:\n{export}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    assert_eq!(wait_for("psi-stream", "event=start "), "6");
    assert_eq!(
        wait_for("psi-stream-bad", "psi-syslogd: invalid trigger"),
        "3",
        "the error is filed at err"
    );
    let load = CpuLoad::start(4);
    assert_eq!(
        wait_for("psi-stream", "event=pressure "),
        "2",
        "severity=crit"
    );
    drop(load);
}
