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
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A trigger that never fires on a quiet machine and arms without privilege.
const QUIET_TRIGGER: &str = "memory:some:90%:2s";
/// Fires many times a second under `CpuLoad::start(4)`; needs CAP_SYS_RESOURCE, which
/// `unshare --user --map-root-user` gives.
const BUSY_TRIGGER: &str = "cpu:some:10000:100000";

fn is_event(message: &str, event: &str) -> bool {
    body(message).starts_with(&format!("event={event} "))
}

/// The daemon in a user namespace, where short windows arm.
fn privileged(args: &[&str]) -> Daemon {
    Daemon::spawn_command(
        Command::new("unshare")
            .args(["--user", "--map-root-user", BIN])
            .args(args),
    )
}

/// `uptime_s=` of a heartbeat, in tenths of a second.
fn uptime_tenths(message: &str) -> u64 {
    let pairs = logfmt(body(message));
    let uptime = field(&pairs, "uptime_s").unwrap_or_else(|| panic!("no uptime_s: {message}"));
    let (seconds, tenth) = uptime.split_once('.').unwrap();
    seconds.parse::<u64>().unwrap() * 10 + tenth.parse::<u64>().unwrap()
}

/// The `hh:mm:ss` of an RFC 3164 header, in seconds of the day.
fn header_seconds(message: &str) -> u32 {
    let after_priority = message.split_once('>').unwrap().1;
    let clock = &after_priority[7..15];
    let parts: Vec<u32> = clock.split(':').map(|p| p.parse().unwrap()).collect();
    parts[0] * 3600 + parts[1] * 60 + parts[2]
}

/// Asserts that the heartbeats among `messages` come one interval after another, with
/// none missing and none out of order; returns their uptimes.
fn assert_contiguous_heartbeats(messages: &[String], interval_tenths: u64) -> Vec<u64> {
    let uptimes: Vec<u64> = messages
        .iter()
        .filter(|m| is_event(m, "heartbeat"))
        .map(|m| uptime_tenths(m))
        .collect();
    for pair in uptimes.windows(2) {
        assert_eq!(
            pair[1] - pair[0],
            interval_tenths,
            "a heartbeat is missing or out of order: {uptimes:?}"
        );
    }
    uptimes
}

#[test]
fn a_receiver_restart_loses_no_line_and_keeps_the_order() {
    let _lock = exclusive();
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
        .wait_for(|m| is_event(m, "start"), Duration::from_secs(5))
        .expect("start line");
    let _load = CpuLoad::start(4);
    receiver
        .wait_for(|m| is_event(m, "pressure"), Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no crossing under load: {:?}", receiver.received));
    let before = receiver.collect_for(Duration::from_millis(500)).to_vec();

    // The syslogd stops: its socket closes (sends fail with ECONNREFUSED), then the
    // file goes (ENOENT), then a new socket is bound at the same path.
    drop(receiver);
    std::thread::sleep(Duration::from_millis(700));
    fs::remove_file(&path).unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let mut receiver = Receiver::bind_at(&path);
    let after = receiver.collect_for(Duration::from_secs(4)).to_vec();
    let (status, stderr) = daemon.stop_with(libc::SIGTERM);
    assert!(status.success(), "{stderr}");

    let all: Vec<String> = before.iter().chain(&after).cloned().collect();
    for message in &all {
        assert!(!message.contains("dropped="), "nothing may drop: {message}");
    }
    let uptimes = assert_contiguous_heartbeats(&all, 2);
    // The outage lasted 1.5 s: the heartbeats of that time came with the queue.
    let outage_heartbeats = uptimes.len() as u64;
    assert!(
        uptimes.last().unwrap() - uptimes.first().unwrap() >= 25,
        "{uptimes:?}"
    );
    assert!(outage_heartbeats >= 12, "{uptimes:?}");
    let crossings_after = after.iter().filter(|m| is_event(m, "pressure")).count();
    assert!(
        crossings_after > 5,
        "crossings after the restart: {after:?}"
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
    let mut receiver = Receiver::new("overflow");
    let path = receiver.path.clone();
    let daemon = Daemon::spawn(&[
        "-t",
        QUIET_TRIGGER,
        "--heartbeat",
        "100ms",
        "--socket",
        receiver.path_str(),
    ]);
    receiver
        .wait_for(|m| is_event(m, "heartbeat"), Duration::from_secs(5))
        .expect("a heartbeat");
    let before = receiver.collect_for(Duration::from_millis(300)).to_vec();
    drop(receiver);
    fs::remove_file(&path).unwrap();
    // 14 s at 10 lines a second overflows the 128-line queue by about a dozen.
    std::thread::sleep(Duration::from_secs(14));
    let mut receiver = Receiver::bind_at(&path);
    let after = receiver.collect_for(Duration::from_secs(3)).to_vec();
    drop(daemon);

    let first = &after[0];
    let dropped: u64 = field(&logfmt(body(first)), "dropped")
        .unwrap_or_else(|| panic!("the first line after the outage has no dropped=: {first}"))
        .parse()
        .unwrap();
    assert!(dropped > 0);
    let last_before = uptime_tenths(before.last().unwrap());
    let first_after = uptime_tenths(first);
    assert_eq!(
        dropped,
        first_after - last_before - 1,
        "dropped= must count exactly the heartbeats that never arrived: {before:?} {after:?}"
    );
    assert_contiguous_heartbeats(&before, 1);
    let delivered = assert_contiguous_heartbeats(&after, 1);
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
    let _load = CpuLoad::start(4);
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        matches!(daemon.child.try_wait(), Ok(None)),
        "the daemon must start anyway"
    );
    let mut receiver = Receiver::bind_at(&path);
    let first = receiver
        .wait_for(|_| true, Duration::from_secs(4))
        .expect("the queue once the socket exists");
    assert!(is_event(&first, "start"), "{first}");
    receiver
        .wait_for(|m| is_event(m, "pressure"), Duration::from_secs(4))
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

/// A process group of its own; dropped, the group gets SIGTERM then SIGKILL.
struct Background(Child);

impl Background {
    fn spawn(command: &mut Command) -> Background {
        Background(
            command
                .process_group(0)
                .stdin(Stdio::null())
                .spawn()
                .expect("spawn a receiver"),
        )
    }

    fn signal_group(&self, signal: libc::c_int) {
        // SAFETY: kill has no memory arguments; the negative pid is our own group.
        unsafe { libc::kill(-(self.0.id() as libc::pid_t), signal) };
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.signal_group(libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline && matches!(self.0.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.signal_group(libc::SIGKILL);
        let _ = self.0.wait();
    }
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
    let config = dir.join("syslog-ng.conf");
    fs::write(
        &config,
        format!(
            "@version: 3.35\n\
             options {{ keep-hostname(yes); }};\n\
             source s {{ unix-stream(\"{}\"); }};\n\
             destination d {{ file(\"{}\" template(\"$PROGRAM[$PID] $MSG\\n\")); }};\n\
             log {{ source(s); destination(d); }};\n",
            socket.display(),
            output.display()
        ),
    )
    .unwrap();
    let _syslog_ng = Background::spawn(
        Command::new("syslog-ng")
            .args(["-F", "--no-caps", "-f"])
            .arg(&config)
            .arg("-R")
            .arg(dir.join("persist"))
            .arg("-p")
            .arg(dir.join("pid"))
            .arg("-c")
            .arg(dir.join("ctl")),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "syslog-ng made no socket");
        std::thread::sleep(Duration::from_millis(50));
    }
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
    wait_for_file(
        &output,
        |l| l.contains(" event=pressure "),
        Duration::from_secs(10),
    );
    std::thread::sleep(Duration::from_secs(1));
    drop(daemon);
    let text = fs::read_to_string(&output).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("psi-syslogd[") && lines[0].contains("] event=start version="),
        "{text}"
    );
    let crossings: Vec<&&str> = lines
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

/// A cgroup v2 group made for the test, removed when dropped (its processes first).
struct Cgroup {
    path: PathBuf,
}

impl Cgroup {
    fn mount() -> PathBuf {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
        mountinfo
            .lines()
            .find_map(|line| {
                let (left, right) = line.split_once(" - ")?;
                right
                    .starts_with("cgroup2 ")
                    .then(|| left.split(' ').nth(4).map(PathBuf::from))
                    .flatten()
            })
            .expect("a cgroup2 mount in /proc/self/mountinfo")
    }

    fn create(name: &str) -> Cgroup {
        let path = Cgroup::mount().join(name);
        fs::create_dir(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        Cgroup { path }
    }

    fn add(&self, pid: u32) {
        fs::write(self.path.join("cgroup.procs"), pid.to_string()).unwrap();
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while fs::remove_dir(&self.path).is_err() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The kernel refuses a newline in a cgroup name (cgroup_mkdir: EINVAL), so the hostile
/// name here carries quotes, `=`, a tab and an escape sequence; message.rs's unit tests
/// cover the newline.
#[test]
fn a_hostile_cgroup_name_stays_inside_one_line() {
    let _lock = exclusive();
    let newline = Cgroup::mount().join(format!("psi\nx{}", std::process::id()));
    assert_eq!(
        fs::create_dir(&newline).map_err(|e| e.raw_os_error()),
        Err(Some(libc::EINVAL)),
        "the kernel took a newline in a cgroup name"
    );
    // Short enough to stay whole within the 35-byte cgroup= budget once escaped.
    let name = format!("\"{}\"=x\tevent=y \x1b", std::process::id());
    let load = CpuLoad::start(4);
    let cgroup = Cgroup::create(&name);
    for pid in load.pids() {
        cgroup.add(pid);
    }
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
    let crossing = receiver
        .wait_for(|m| is_event(m, "pressure"), Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no crossing in the cgroup: {:?}", receiver.received));
    let _ = receiver.collect_for(Duration::from_millis(500));
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
    Background::spawn(&mut command)
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
    std::thread::sleep(Duration::from_millis(500));
    let load = CpuLoad::start(4);
    let journalctl = |matches: &[&str]| {
        let output = Command::new("nsenter")
            .arg("-t")
            .arg(namespace.0.id().to_string())
            .args(["-m", "journalctl", "-D", "/run/log/journal", "-o", "export"])
            .args(matches)
            .output()
            .expect("nsenter journalctl");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let deadline = Instant::now() + Duration::from_secs(15);
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
    let _namespace = namespace(script, &[("DIR", &dir), ("BIN", Path::new(BIN))]);
    let text = wait_for_file(
        &messages,
        |l| l.contains("event=heartbeat "),
        Duration::from_secs(10),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let expected_seconds_of_day = ((now + 13 * 3600 + 45 * 60) % 86_400) as i64;
    for event in ["start", "heartbeat"] {
        let line = text
            .lines()
            .find(|l| l.contains(&format!("event={event} ")))
            .unwrap_or_else(|| panic!("no {event}: {text}"));
        // BusyBox -O: "Mmm dd hh:mm:ss HOST daemon.info psi-syslogd[PID]: ..."
        let clock: Vec<i64> = line[7..15].split(':').map(|p| p.parse().unwrap()).collect();
        let stored = clock[0] * 3600 + clock[1] * 60 + clock[2];
        let off = (stored - expected_seconds_of_day).rem_euclid(86_400);
        let off = off.min(86_400 - off);
        assert!(
            off <= 5,
            "stored {} but the local time of the event at UTC+13:45 is {:02}:{:02}:{:02}: {line}",
            &line[7..15],
            expected_seconds_of_day / 3600,
            expected_seconds_of_day / 60 % 60,
            expected_seconds_of_day % 60
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
            .args(["-t", QUIET_TRIGGER, "-t", "io:full:15%:2s", "--socket"])
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
