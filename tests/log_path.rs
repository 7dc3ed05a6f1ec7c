//! The log path against real receivers: a syslog socket that goes away and comes back,
//! one that is not there at start, syslog-ng on a stream socket, systemd-journald over
//! the native protocol, BusyBox syslogd in a time zone far from UTC, a hostile cgroup
//! name, and a supervisor's NOTIFY_SOCKET.
//!
//! Heartbeats number the lines: `--heartbeat 100ms` logs `uptime_s=` in tenths at a
//! fixed cadence (due times are multiples of the interval from the start), so a lost or
//! reordered line shows as a gap or a step back. Crossings come from privileged short
//! windows inside a user namespace (shared/NOTES.md) under four busy loops.

mod common;

use std::fs;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// Fires many times a second under `CpuLoad::start(4)`; needs CAP_SYS_RESOURCE, which
/// `unshare --user --map-root-user` gives.
const BUSY_TRIGGER: &str = "cpu:some:10000:100000";

/// A trigger that never fires, on a busy machine too: memory pressure of an empty
/// group stays zero. Arms without privilege.
fn quiet_trigger(group: &TestCgroup) -> String {
    group.spec("memory:some:10%:2s")
}

/// The daemon in a user namespace, where short windows arm.
fn privileged(args: &[&str]) -> Daemon {
    Daemon::spawn_command(
        Command::new("unshare")
            .args(["--user", "--map-root-user", BIN])
            .args(args),
    )
}

#[test]
fn a_receiver_restart_loses_no_line_and_keeps_the_order() {
    let _lock = exclusive();
    let heartbeat = Duration::from_millis(200);
    let mut receiver = Receiver::new("restart");
    let path = receiver.path.clone();
    let daemon = privileged(&[
        "-t",
        BUSY_TRIGGER,
        "--repeat",
        "0",
        "--heartbeat",
        "200ms",
        "--socket",
        receiver.path_str(),
    ]);
    receiver
        .wait_for(|m| is_event(m, "start"), Duration::from_secs(10))
        .expect("start line");
    let _load = CpuLoad::start(4);
    assert!(
        receiver.wait_until(
            |r| count_events(r, "pressure") >= 1 && count_events(r, "heartbeat") >= 2,
            Duration::from_secs(20)
        ),
        "no crossing under load: {:?}",
        receiver.received
    );

    // The syslogd stops as one does: it stops taking lines (the daemon's sends fail
    // with EPIPE), reads what its socket holds and closes it (ECONNREFUSED); then its
    // file goes (ENOENT), then a new socket is bound at the same path. The pauses
    // between those steps are the restart being played, not waits for anything.
    receiver.refuse();
    daemon.wait_for_stderr(
        |e| e.contains("cannot send to") && e.contains("Broken pipe"),
        Duration::from_secs(10),
    );
    let before = receiver.stop();
    std::thread::sleep(Duration::from_millis(700));
    fs::remove_file(&path).unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let mut receiver = Receiver::bind_at(&path);
    // The queue of the outage (the daemon says when it is all out), then lines made
    // after it.
    assert!(
        receiver.wait_until(
            |r| {
                count_events(r, "pressure") > 5
                    && count_events(r, "heartbeat") >= 12
                    && daemon.stderr().contains("takes lines again")
            },
            Duration::from_secs(30)
        ),
        "crossings and heartbeats after the restart: {:?}",
        receiver.received
    );
    let after = receiver.received.clone();
    let (status, stderr) = daemon.stop_with(libc::SIGTERM);
    assert!(status.success(), "{stderr}");

    let all: Vec<String> = before.iter().chain(&after).cloned().collect();
    for message in &all {
        assert!(!message.contains("dropped="), "nothing may drop: {message}");
    }
    // Before, during (the queue) and after the outage, which lasted 1.5 s or more.
    let numbers = assert_contiguous_heartbeats(&all, heartbeat);
    assert!(
        numbers.last().unwrap() - numbers.first().unwrap() >= 12,
        "{numbers:?}"
    );
    // Every line in the order it happened: header clocks never step back.
    let clocks: Vec<u32> = all.iter().map(|m| header_seconds(m)).collect();
    assert!(
        clocks
            .windows(2)
            .all(|w| w[0] <= w[1] || w[0] - w[1] > 3600),
        "out of order: {all:?}"
    );
    // The outage is reported once, and its end once.
    assert_eq!(stderr.matches("cannot send to").count(), 1, "{stderr}");
    assert_eq!(stderr.matches("takes lines again").count(), 1, "{stderr}");
}

#[test]
fn a_long_outage_drops_the_oldest_lines_and_counts_them_exactly() {
    let _lock = exclusive();
    let heartbeat = Duration::from_millis(100);
    let group = TestCgroup::create("overflow");
    let mut receiver = Receiver::new("overflow");
    let path = receiver.path.clone();
    let daemon = Daemon::spawn(&[
        "-t",
        &quiet_trigger(&group),
        "--heartbeat",
        "100ms",
        "--socket",
        receiver.path_str(),
    ]);
    assert!(
        receiver.wait_until(
            |r| count_events(r, "heartbeat") >= 3,
            Duration::from_secs(10)
        ),
        "heartbeats: {:?}",
        receiver.received
    );
    receiver.refuse();
    daemon.wait_for_stderr(|e| e.contains("cannot send to"), Duration::from_secs(10));
    let before = receiver.stop();
    fs::remove_file(&path).unwrap();
    // The outage itself: 14 s of heartbeats at 10 a second overflow the 128-line
    // queue by about a dozen.
    std::thread::sleep(Duration::from_secs(14));
    let mut receiver = Receiver::bind_at(&path);
    assert!(
        receiver.wait_until(
            |r| {
                count_events(r, "heartbeat") >= 130 && daemon.stderr().contains("takes lines again")
            },
            Duration::from_secs(30)
        ),
        "{} heartbeats after the outage",
        count_events(&receiver.received, "heartbeat")
    );
    let after = receiver.received.clone();
    drop(daemon);

    let first = &after[0];
    let dropped = number(first, "dropped");
    assert!(dropped > 0, "{first}");
    let last_before = heartbeat_number(before.last().unwrap(), heartbeat);
    let first_after = heartbeat_number(first, heartbeat);
    assert_eq!(
        dropped,
        first_after - last_before - 1,
        "dropped= must count exactly the heartbeats that never arrived: {before:?} {after:?}"
    );
    assert_contiguous_heartbeats(&before, heartbeat);
    let delivered = assert_contiguous_heartbeats(&after, heartbeat);
    assert!(delivered.len() >= 128, "{}", delivered.len());
    assert_eq!(
        after.iter().filter(|m| m.contains("dropped=")).count(),
        1,
        "{after:?}"
    );
}

#[test]
fn no_socket_at_start_then_the_start_line_and_crossings_arrive() {
    let _lock = exclusive();
    let dir = scratch_dir("late");
    let path = dir.join("log.sock");
    let mut daemon = privileged(&[
        "-t",
        BUSY_TRIGGER,
        "--repeat",
        "0",
        "--socket",
        path.to_str().unwrap(),
    ]);
    // Crossings happen while there is no socket: they queue behind the start line.
    // Armed once it says the socket is missing; then at least half a second of CPU
    // stall (the trigger's 10 ms in 100 ms, five times over) while it is still missing.
    daemon.wait_for_stderr(
        |e| e.contains("cannot reach the log socket"),
        Duration::from_secs(10),
    );
    let _load = CpuLoad::start(4);
    let cpu = Path::new("/proc/pressure/cpu");
    let stall_before = pressure_total_us(cpu, "some");
    wait_until("500 ms of CPU stall", Duration::from_secs(30), || {
        pressure_total_us(cpu, "some") - stall_before >= 500_000
    });
    assert!(daemon.is_running(), "the daemon must start anyway");
    let mut receiver = Receiver::bind_at(&path);
    let first = receiver
        .wait_for(|_| true, Duration::from_secs(10))
        .expect("the queue once the socket exists");
    assert!(is_event(&first, "start"), "{first}");
    receiver
        .wait_for(|m| is_event(m, "pressure"), Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no crossing: {:?}", receiver.received));
    let (status, stderr) = daemon.stop_with(libc::SIGTERM);
    assert!(status.success(), "{stderr}");
    let notes: Vec<&str> = stderr.lines().collect();
    assert!(
        notes[0].contains("cannot reach the log socket")
            && notes[0].contains(path.to_str().unwrap())
            && notes[0].contains("No such file or directory"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("cannot").count(), 1, "said once: {stderr}");
}

/// Waits until `path` holds a line `wanted` accepts; returns the whole file.
fn wait_for_file(path: &Path, wanted: impl Fn(&str) -> bool, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let text = fs::read_to_string(path).unwrap_or_default();
        if text.lines().any(&wanted) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "nothing wanted in {}:\n{text}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn syslog_ng_on_a_stream_socket_gets_the_same_lines() {
    let _lock = exclusive();
    let dir = scratch_dir("stream");
    let socket = dir.join("log.sock");
    let output = dir.join("messages");
    let _syslog_ng = syslog_ng(
        &dir,
        &format!(
            "options {{ keep-hostname(yes); }};\n\
             source s {{ unix-stream(\"{}\"); }};\n\
             destination d {{ file(\"{}\" template(\"$PROGRAM[$PID] $MSG\\n\")); }};\n\
             log {{ source(s); destination(d); }};\n",
            socket.display(),
            output.display()
        ),
    );
    let daemon = privileged(&[
        "-t",
        BUSY_TRIGGER,
        "--repeat",
        "0",
        "--socket",
        socket.to_str().unwrap(),
    ]);
    let pid = daemon.pid();
    let _load = CpuLoad::start(4);
    wait_until("five crossings stored", Duration::from_secs(30), || {
        complete_lines(&output)
            .iter()
            .filter(|l| l.contains(" event=pressure "))
            .count()
            >= 5
    });
    drop(daemon);
    // syslog-ng may be writing the next line: only whole lines count.
    let lines = complete_lines(&output);
    let text = lines.join("\n");
    assert!(
        lines[0].starts_with("psi-syslogd[") && lines[0].contains("] event=start version="),
        "{text}"
    );
    let crossings: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains(" event=pressure "))
        .collect();
    assert!(crossings.len() >= 5, "{text}");
    // One frame, one message: every line is whole, none runs into the next.
    for line in &lines {
        let (tag, message) = line.split_once(' ').unwrap();
        assert!(tag.starts_with("psi-syslogd["), "{line}");
        assert_eq!(message.matches("event=").count(), 1, "{line}");
        assert!(!line.contains('\0'), "{line:?}");
    }
    assert!(
        crossings[0].starts_with(&format!(
            "psi-syslogd[{pid}] event=pressure resource=cpu kind=some threshold_us=10000 "
        )),
        "{text}"
    );
}

/// The kernel refuses a newline in a cgroup name (cgroup_mkdir: EINVAL), so the hostile
/// name here carries quotes, `=`, a tab and an escape sequence; logfmt.rs's unit tests
/// cover the newline.
#[test]
fn a_hostile_cgroup_name_stays_inside_one_line() {
    let _lock = exclusive();
    let newline = cgroup_mount().join(format!("psi\nx{}", std::process::id()));
    assert_eq!(
        fs::create_dir(&newline).map_err(|e| e.raw_os_error()),
        Err(Some(libc::EINVAL)),
        "the kernel took a newline in a cgroup name"
    );
    // Short enough to stay whole within the least cgroup= budget (35 bytes) once escaped.
    let name = format!("\"{}\"=x\tevent=y \x1b", std::process::id());
    let cgroup = TestCgroup::create_named(&format!("/{name}"));
    let load = CpuLoad::start_in(&cgroup, 4);
    let mut receiver = Receiver::new("hostile");
    let spec = format!("{BUSY_TRIGGER}:/{name}");
    let daemon = privileged(&[
        "-t",
        &spec,
        "--repeat",
        "0",
        "--socket",
        receiver.path_str(),
    ]);
    assert!(
        receiver.wait_until(
            |r| count_events(r, "pressure") >= 3,
            Duration::from_secs(20)
        ),
        "no crossings in the cgroup: {:?}",
        receiver.received
    );
    let crossing = receiver
        .received
        .iter()
        .find(|m| is_event(m, "pressure"))
        .unwrap()
        .clone();
    drop(daemon);
    drop(load);
    for message in &receiver.received {
        assert!(
            !message.chars().any(|c| c.is_control()),
            "a control character went out: {message:?}"
        );
        let pairs = logfmt(body(message));
        assert_eq!(pairs[0].0, "event", "{message}");
        assert_eq!(
            pairs.iter().filter(|(k, _)| k == "event").count(),
            1,
            "a second event= was forged: {message}"
        );
        if is_event(message, "pressure") {
            assert_eq!(pairs.last().unwrap().0, "cgroup", "{message}");
        }
    }
    let pairs = logfmt(body(&crossing));
    assert_eq!(
        field(&pairs, "cgroup"),
        Some(format!("/{name}").as_str()),
        "{crossing}"
    );
    assert!(
        crossing.len() <= 240,
        "{} bytes: {crossing}",
        crossing.len()
    );
}

/// Runs `script` with `sh -euc` in private mount and IPC namespaces.
fn namespace(script: &str, variables: &[(&str, &Path)]) -> Background {
    let mut command = Command::new("unshare");
    command.args(["--mount", "--ipc", "sh", "-euc", script]);
    for (key, value) in variables {
        command.env(key, value);
    }
    Background::spawn("a namespace", &mut command)
}

#[test]
fn journald_stores_native_fields_that_journalctl_matches() {
    let _lock = exclusive();
    let dir = scratch_dir("journal");
    let journald = journald_binary();
    let script = format!(
        "{PRIVATE_JOURNALD}{}",
        r#"
        "$BIN" -t cpu:some:50000:2s --repeat 0 --journal 2> "$DIR/stderr" &
        echo "$!" > "$DIR/pid"
        wait
    "#
    );
    let namespace = namespace(
        &script,
        &[
            ("DIR", &dir),
            ("JOURNALD", journald),
            ("BIN", Path::new(BIN)),
        ],
    );
    let pid_file = dir.join("pid");
    let deadline = Instant::now() + Duration::from_secs(10);
    let pid = loop {
        if let Some(pid) = fs::read_to_string(&pid_file)
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok())
        {
            break pid;
        }
        assert!(Instant::now() < deadline, "the daemon did not start");
        std::thread::sleep(Duration::from_millis(50));
    };
    let journalctl = |matches: &[&str]| {
        let output = Command::new("nsenter")
            .arg("-t")
            .arg(namespace.pid().to_string())
            .args(["-m", "journalctl", "-D", "/run/log/journal", "-o", "export"])
            .args(matches)
            .output()
            .expect("nsenter journalctl");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    // Armed and announced before the load starts.
    wait_until(
        "the start entry in the journal",
        Duration::from_secs(15),
        || journalctl(&["MESSAGE_ID=e87fd34ddfbb402b9b08ad6f5787dd5f"]).contains("PSI_EVENT=start"),
    );
    let load = CpuLoad::start(4);
    let deadline = Instant::now() + Duration::from_secs(30);
    let export = loop {
        let export = journalctl(&["PSI_RESOURCE=cpu", "PSI_EVENT=pressure"]);
        if export.contains("PSI_EVENT=pressure") {
            break export;
        }
        assert!(
            Instant::now() < deadline,
            "journalctl PSI_RESOURCE=cpu found nothing"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    drop(load);
    let entry: Vec<(&str, &str)> = export
        .split("\n\n")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .collect();
    let get = |key: &str| {
        entry
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("no {key} in {entry:?}"))
    };
    let pid_text = pid.to_string();
    for (key, value) in [
        ("MESSAGE_ID", "71a5abde06ea4d8bb0ad4d7cb995c850"),
        ("PRIORITY", "4"),
        ("SYSLOG_FACILITY", "3"),
        ("SYSLOG_IDENTIFIER", "psi-syslogd"),
        ("SYSLOG_PID", pid_text.as_str()),
        ("_PID", pid_text.as_str()),
        ("PSI_EVENT", "pressure"),
        ("PSI_RESOURCE", "cpu"),
        ("PSI_KIND", "some"),
        ("PSI_THRESHOLD_US", "50000"),
        ("PSI_WINDOW_US", "2000000"),
        ("PSI_CGROUP", "/"),
    ] {
        assert_eq!(get(key), value, "{key}: {entry:?}");
    }
    for key in ["PSI_AVG10", "PSI_AVG60", "PSI_AVG300", "PSI_STALL_US"] {
        assert!(!get(key).is_empty(), "{key}");
    }
    let message = get("MESSAGE");
    assert!(
        message.starts_with("event=pressure resource=cpu kind=some threshold_us=50000 "),
        "{message}"
    );
    let start = journalctl(&["MESSAGE_ID=e87fd34ddfbb402b9b08ad6f5787dd5f"]);
    assert!(start.contains("PSI_EVENT=start"), "{start}");
    assert!(
        start.contains("PSI_SPECS=cpu:some:50000:2000000"),
        "{start}"
    );
}

#[test]
fn busybox_stores_the_local_time_of_the_event_far_from_utc() {
    let _lock = exclusive();
    let dir = scratch_dir("busybox-tz");
    let messages = dir.join("messages");
    // UTC+13:45 (POSIX TZ reverses the sign): no zone file needed, and a quarter-hour
    // offset catches any rounding of the offset to hours.
    let script = r#"
        mkdir -p "$DIR/dev"
        mount -t tmpfs tmpfs "$DIR/dev"
        cp -a /dev/null /dev/zero /dev/urandom "$DIR/dev/"
        mount --bind "$DIR/dev" /dev
        busybox syslogd -n -O "$DIR/messages" &
        while [ ! -S /dev/log ]; do sleep 0.05; done
        TZ=PSI-13:45 "$BIN" -t memory:some:90%:2s --heartbeat 1s &
        wait
    "#;
    let unix_now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    // The events happen between these two moments, whatever the machine's load.
    let earliest = unix_now();
    let _namespace = namespace(script, &[("DIR", &dir), ("BIN", Path::new(BIN))]);
    let text = wait_for_file(
        &messages,
        |l| l.contains("event=heartbeat "),
        Duration::from_secs(20),
    );
    let latest = unix_now();
    let local_seconds_of_day = |unix: i64| (unix + 13 * 3600 + 45 * 60).rem_euclid(86_400);
    for event in ["start", "heartbeat"] {
        let line = text
            .lines()
            .find(|l| l.contains(&format!("event={event} ")))
            .unwrap_or_else(|| panic!("no {event}: {text}"));
        // BusyBox -O: "Mmm dd hh:mm:ss HOST daemon.info psi-syslogd[PID]: ..."
        let clock: Vec<i64> = line[7..15].split(':').map(|p| p.parse().unwrap()).collect();
        let stored = clock[0] * 3600 + clock[1] * 60 + clock[2];
        let since_earliest = (stored - local_seconds_of_day(earliest)).rem_euclid(86_400);
        let show = |unix: i64| {
            let s = local_seconds_of_day(unix);
            format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
        };
        assert!(
            since_earliest <= latest - earliest,
            "stored {} but the event happened between {} and {} at UTC+13:45: {line}",
            &line[7..15],
            show(earliest),
            show(latest)
        );
    }
}

#[test]
fn the_supervisor_hears_ready_only_after_arming_and_stopping_at_exit() {
    let _lock = exclusive();
    let dir = scratch_dir("notify");
    let notify_path = dir.join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let receive = |notify: &UnixDatagram| {
        let mut buffer = [0u8; 1024];
        notify
            .recv(&mut buffer)
            .map(|n| String::from_utf8_lossy(&buffer[..n]).into_owned())
    };

    // A trigger the kernel refuses: no READY=1, ever.
    let (status, _, stderr) = run_to_exit(
        Command::new(BIN)
            .args(["-t", "cpu:some:10000:100000", "--stderr"])
            .env("NOTIFY_SOCKET", &notify_path),
    );
    assert_eq!(status.code(), Some(77), "{stderr}");
    notify
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(
        receive(&notify).is_err(),
        "READY=1 for a daemon that did not arm"
    );

    notify
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut receiver = Receiver::new("notify-log");
    let daemon = Daemon::spawn_command(
        Command::new(BIN)
            .args([
                "-t",
                "memory:some:90%:2s",
                "-t",
                "io:full:15%:2s",
                "--socket",
            ])
            .arg(receiver.path_str())
            .env("NOTIFY_SOCKET", &notify_path),
    );
    let ready = receive(&notify).expect("READY=1");
    // Armed and announced before READY=1: the start line is already waiting.
    let start = receiver
        .wait_for(|m| is_event(m, "start"), Duration::from_millis(50))
        .expect("the start line was sent before READY=1");
    assert!(start.contains("triggers=2"), "{start}");
    let fds = fs::read_dir(format!("/proc/{}/fd", daemon.pid()))
        .unwrap()
        .filter_map(|e| fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.starts_with("/proc/pressure"))
        .count();
    assert_eq!(fds, 2, "both triggers armed at READY=1");
    let mut lines = ready.lines();
    assert_eq!(lines.next(), Some("READY=1"), "{ready}");
    let status_line = lines.next().unwrap_or_default();
    assert!(
        status_line.starts_with("STATUS=2 trigger(s) armed, logging to "),
        "{ready}"
    );
    // A reload is bracketed by RELOADING=1 and READY=1, as systemd's Type=notify
    // reload protocol wants.
    daemon.signal(libc::SIGHUP);
    let reloading = receive(&notify).expect("RELOADING=1");
    assert!(
        reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="),
        "{reloading}"
    );
    let ready = receive(&notify).expect("READY=1 after the reload");
    assert!(
        ready.starts_with("READY=1\nSTATUS=2 trigger(s) armed"),
        "{ready}"
    );
    receiver
        .wait_for(|m| is_event(m, "reload"), Duration::from_secs(5))
        .expect("the reload line");
    let (status, stderr) = daemon.stop_with(libc::SIGTERM);
    assert!(status.success(), "{stderr}");
    assert_eq!(receive(&notify).expect("STOPPING=1"), "STOPPING=1");
}
