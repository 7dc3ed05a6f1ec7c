//! Faults injected into a running daemon, each against the real kernel, real pressure
//! and real receivers: too few descriptors, a receiver that stops reading, a receiver
//! stopped with SIGSTOP, a storm of SIGHUPs, the wall clock stepped an hour back and
//! forward, and /proc/pressure made unreadable. Each test checks what every fault must
//! leave intact: the daemon does not crash, does not spin (its CPU time from
//! /proc/PID/stat stays low: outside load can only make a spinning daemon look less
//! busy, never a quiet one busier), loses no line without saying `dropped=N`, and says
//! what happened in a line of its own.
//!
//! Heartbeats number the lines (see `common::heartbeat_number`). Pressure comes from
//! busy loops in a test cgroup with a privileged 100 ms-window trigger on that group
//! (in a user namespace): the loops compete with each other, so the group crosses
//! however busy the machine is, and goes quiet when they stop.

mod common;

use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;

/// Crosses many times a second on a group with `CpuLoad::start_in(.., 4)`; needs
/// CAP_SYS_RESOURCE, which `unshare --user --map-root-user` gives.
const BUSY_TRIGGER: &str = "cpu:some:10000:100000";

/// The daemon in a user namespace, where short windows arm.
fn privileged(args: &[&str]) -> Daemon {
    Daemon::spawn_command(
        Command::new("unshare")
            .args(["--user", "--map-root-user", BIN])
            .args(args),
    )
}

/// CPU time, in clock ticks, a daemon may use per second while it handles a crossing
/// or two and a few heartbeats a second: a healthy one uses well under 1 ms a second
/// here; a spinning one gets at least its share of a CPU even on a loaded machine
/// (13% with fifteen busy loops on two cores, 13 ticks a second).
const IDLE_TICKS_PER_SECOND: f64 = 2.0;

/// Asserts that the daemon used at most `IDLE_TICKS_PER_SECOND` over `elapsed`.
fn assert_not_spinning(daemon: &Daemon, ticks_before: u64, elapsed: Duration, what: &str) {
    let spent = daemon.cpu_ticks() - ticks_before;
    let allowed = (IDLE_TICKS_PER_SECOND * elapsed.as_secs_f64()).ceil() as u64 + 2;
    assert!(
        spent <= allowed,
        "{what}: the daemon used {spent} ticks of CPU in {elapsed:?} (at most {allowed})"
    );
    eprintln!("{what}: {spent} ticks of CPU in {elapsed:?}");
}

/// Every gap in the heartbeats among `lines` (in the order delivered) is owned up to: a
/// line between the heartbeats on either side of it says `dropped=N`, with N at least
/// the number of heartbeats missing. Returns the heartbeats missing and the sum of
/// the `dropped=` counts.
fn assert_losses_counted(lines: &[String], interval: Duration) -> (u64, u64) {
    let mut previous: Option<u64> = None;
    let mut dropped_since = 0;
    let (mut missing_total, mut dropped_total) = (0, 0);
    for line in lines {
        if let Some((_, count)) = line.rsplit_once(" dropped=") {
            let count: u64 = count.trim().parse().unwrap_or_else(|_| panic!("{line}"));
            dropped_since += count;
            dropped_total += count;
        }
        if !is_event(line, "heartbeat") {
            continue;
        }
        let number = heartbeat_number(line, interval);
        if let Some(previous) = previous {
            assert!(
                number > previous,
                "heartbeat {number} after {previous}: out of order or twice"
            );
            let missing = number - previous - 1;
            assert!(
                dropped_since >= missing,
                "{missing} heartbeat(s) between {previous} and {number} lost without \
                 dropped= (it said {dropped_since})"
            );
            missing_total += missing;
        }
        previous = Some(number);
        dropped_since = 0;
    }
    (missing_total, dropped_total)
}

/// The one place in `lines` where heartbeats are missing, which a stalled receiver
/// makes: checks that the first line after the gap says exactly how many lines were
/// dropped, that no other line says `dropped=`, and that the rest is in order.
/// Returns N.
fn assert_one_exact_gap(lines: &[String], interval: Duration) -> u64 {
    let beats: Vec<(usize, u64)> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| is_event(l, "heartbeat"))
        .map(|(i, l)| (i, heartbeat_number(l, interval)))
        .collect();
    let gaps: Vec<_> = beats
        .windows(2)
        .filter(|w| w[1].1 != w[0].1 + 1)
        .map(|w| (w[0], w[1]))
        .collect();
    assert_eq!(
        gaps.len(),
        1,
        "not one gap in the heartbeats: {:?}",
        beats.iter().map(|b| b.1).collect::<Vec<_>>()
    );
    let ((before_index, before), (_, after)) = gaps[0];
    assert!(
        after > before,
        "heartbeats out of order: {before} then {after}"
    );
    let first_after_gap = &lines[before_index + 1];
    let dropped: u64 = first_after_gap
        .rsplit_once(" dropped=")
        .and_then(|(_, n)| n.trim().parse().ok())
        .unwrap_or_else(|| {
            panic!("the first line after the gap has no dropped=: {first_after_gap}")
        });
    assert_eq!(
        dropped,
        after - before - 1,
        "dropped= must count exactly the heartbeats that never arrived \
         (heartbeat {before}, then {first_after_gap})"
    );
    let saying_dropped = lines.iter().filter(|l| l.contains(" dropped=")).count();
    assert_eq!(saying_dropped, 1, "dropped= said more than once");
    eprintln!("heartbeats {before} then {after}; the line after the gap: {first_after_gap}");
    dropped
}

// ---------------------------------------------------------------------------------
// The descriptor limit

/// `-t SPEC` for `count` triggers: one memory trigger, the rest CPU (the kernel takes
/// any number of triggers on one file).
fn many_triggers(count: usize) -> Vec<String> {
    let mut args = vec!["-t".to_string(), "memory:some:10%:2s".to_string()];
    for _ in 1..count {
        args.extend(["-t".to_string(), "cpu:some:50%:2s".to_string()]);
    }
    args
}

/// The soft and hard `Max open files` of a process, from /proc/PID/limits.
fn open_files_limits(pid: u32) -> (String, String) {
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap_or_else(|| panic!("{limits}"));
    let fields: Vec<&str> = line.split_whitespace().collect();
    (fields[3].to_string(), fields[4].to_string())
}

/// 40 triggers need more than 16 descriptors. With only the soft limit at 16 (the
/// hard one as it is), the daemon raises its soft limit to the hard one and runs.
#[test]
fn a_soft_descriptor_limit_too_low_for_the_triggers_is_raised() {
    let _lock = exclusive();
    let mut receiver = Receiver::new("nofile-soft");
    let mut daemon = Daemon::spawn_command(
        Command::new("prlimit")
            .args(["--nofile=16:", "--"])
            .arg(BIN)
            .args(many_triggers(40))
            .args(["--socket", receiver.path_str()]),
    );
    let start = receiver.wait_for(|m| is_event(m, "start"), Duration::from_secs(10));
    assert!(
        daemon.is_running(),
        "the daemon exited with the soft limit at 16 and a hard one that allows 40 \
         triggers: {}",
        daemon.stderr()
    );
    let start = start.unwrap_or_else(|| panic!("no start line: {}", daemon.stderr()));
    assert!(start.contains(" triggers=40 "), "{start}");
    let (soft, hard) = open_files_limits(daemon.pid());
    assert_eq!(soft, hard, "the soft limit was not raised to the hard one");
    let fds = fs::read_dir(format!("/proc/{}/fd", daemon.pid()))
        .unwrap()
        .filter_map(|e| fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.starts_with("/proc/pressure"))
        .count();
    assert_eq!(fds, 40, "every trigger armed");
    // And it says so, once, after the start line.
    let raised = receiver
        .wait_for(
            |m| is_event(m, "warning") && m.contains("RLIMIT_NOFILE"),
            Duration::from_secs(10),
        )
        .unwrap_or_else(|| panic!("the raise is not said: {:?}", receiver.received));
    assert!(
        raised.contains("of 16 is too low") && raised.contains(&format!("limit, {hard};")),
        "{raised}"
    );
    let (status, stderr) = daemon.stop_with(libc::SIGTERM);
    assert!(status.success(), "{status}: {stderr}");
}

/// With the hard limit at 16 too, 40 triggers cannot be armed: exit 71, one line that
/// names the limit, quotes the trigger it could not arm and says how to raise it; the
/// same as event=error in syslog.
#[test]
fn a_hard_descriptor_limit_too_low_for_the_triggers_exits_71_and_says_so() {
    let mut receiver = Receiver::new("nofile-hard");
    let (status, _, stderr) = run_to_exit(
        Command::new("prlimit")
            .args(["--nofile=16:16", "--"])
            .arg(BIN)
            .args(many_triggers(40))
            .args(["--socket", receiver.path_str()]),
    );
    assert_eq!(status.code(), Some(71), "{stderr}");
    eprintln!("{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("RLIMIT_NOFILE") || stderr.contains("Too many open files"),
        "names the limit: {stderr}"
    );
    assert!(
        stderr.contains("cpu:some:1000000:2000000"),
        "quotes the trigger it could not arm: {stderr}"
    );
    assert!(
        stderr.contains("LimitNOFILE=") && stderr.contains("ulimit -n"),
        "says how to raise the limit: {stderr}"
    );
    let error = receiver
        .wait_for(|m| is_event(m, "error"), Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no event=error in syslog: {:?}", receiver.received));
    assert_eq!(number(&error, "exit"), 71, "{error}");
    assert!(!receiver.received.iter().any(|m| is_event(m, "start")));
}

/// Armed within a hard limit of 16, then a reload asks for 41 triggers: it fails
/// saying why, and the old trigger keeps crossing.
#[test]
fn a_reload_beyond_the_descriptor_limit_fails_and_keeps_the_old_set() {
    let _lock = exclusive();
    let dir = scratch_dir("nofile-reload");
    let config = dir.join("psi-syslogd.conf");
    let old = "trigger cpu:some:50000:2s\nrepeat 0\nheartbeat 500ms\n";
    fs::write(&config, old).unwrap();
    let mut receiver = Receiver::new("nofile-reload");
    let daemon = Daemon::spawn_command(
        Command::new("prlimit")
            .args(["--nofile=16:16", "--"])
            .arg(BIN)
            .arg("-c")
            .arg(&config)
            .args(["--socket", receiver.path_str()]),
    );
    receiver
        .wait_for(|m| is_event(m, "start"), Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no start: {}", daemon.stderr()));
    let mut text = old.to_string();
    for _ in 0..40 {
        text.push_str("trigger memory:some:10%:2s\n");
    }
    fs::write(&config, text).unwrap();
    let ticks_before = daemon.cpu_ticks();
    let since = Instant::now();
    daemon.signal(libc::SIGHUP);
    let failed = receiver
        .wait_for(|m| is_event(m, "reload_failed"), Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no reload_failed: {:?}", receiver.received));
    eprintln!("{failed}");
    assert!(
        failed.contains("Too many open files") || failed.contains("RLIMIT_NOFILE"),
        "{failed}"
    );
    // The old trigger still crosses (four busy loops cross it however busy the
    // machine already is), and no descriptor of the failed set stays open.
    let _load = CpuLoad::start(4);
    let from = receiver.received.len();
    assert!(
        receiver.wait_until(
            |r| r[from..]
                .iter()
                .any(|m| is_event(m, "pressure") && m.contains("resource=cpu")),
            Duration::from_secs(30)
        ),
        "the old trigger did not survive: {:?}",
        receiver.received
    );
    let fds = fs::read_dir(format!("/proc/{}/fd", daemon.pid()))
        .unwrap()
        .filter_map(|e| fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.starts_with("/proc/pressure"))
        .count();
    assert_eq!(fds, 1, "the failed reload left descriptors open");
    assert_not_spinning(&daemon, ticks_before, since.elapsed(), "failed reload");
    let lines = receiver.received.clone();
    let (status, stderr) = daemon.stop_with(libc::SIGTERM);
    assert!(status.success(), "{status}: {stderr}");
    assert_losses_counted(&lines, Duration::from_millis(500));
}

// ---------------------------------------------------------------------------------
// A receiver that stops reading

/// How long the receiver stops reading. The issue asks for minutes; one minute is
/// what CI can afford twice over (with the SIGSTOP test), and it is 20 times what
/// the daemon's queue and the kernel's hold at five lines a second.
const STALL: Duration = Duration::from_secs(60);

/// The receiver stops calling recv for a minute while the group stays under
/// pressure: its socket fills (10 datagrams), then the daemon's queue (128 lines),
/// then the oldest lines go. The daemon goes on: heartbeats keep being made, SIGUSR1
/// is answered (its line arrives later, in its place), the episode stays active, CPU
/// and memory stay flat. When the receiver reads again the first line of the queue
/// says exactly how many were dropped, and everything else is there in order.
#[test]
fn a_receiver_that_stops_reading_for_a_minute_gets_an_exact_dropped_count() {
    let _lock = exclusive();
    let heartbeat = Duration::from_millis(200);
    let group = TestCgroup::create("stall");
    let mut receiver = Receiver::new("stall");
    let spawned = Instant::now();
    let daemon = stalled_receiver_daemon(&group, receiver.path_str());
    receiver
        .wait_for(|m| is_event(m, "start"), Duration::from_secs(10))
        .expect("start line");
    let load = CpuLoad::start_in(&group, 4);
    assert!(
        receiver.wait_until(
            |r| count_events(r, "pressure") == 1 && count_events(r, "heartbeat") >= 3,
            Duration::from_secs(30)
        ),
        "{:?}",
        receiver.received
    );

    // The stall: nobody reads the socket.
    let stall_started = Instant::now();
    let ticks_before = daemon.cpu_ticks();
    std::thread::sleep(STALL / 2);
    let rss_half = daemon.status_kb("VmRSS");
    std::thread::sleep(STALL * 5 / 6 - STALL / 2);
    // Answered while the receiver still does not read: the status line is made now.
    daemon.signal(libc::SIGUSR1);
    let usr1_at = spawned.elapsed();
    std::thread::sleep(STALL - STALL * 5 / 6);
    let rss_end = daemon.status_kb("VmRSS");
    let hwm = daemon.status_kb("VmHWM");
    assert_not_spinning(
        &daemon,
        ticks_before,
        stall_started.elapsed(),
        "stalled receiver",
    );
    eprintln!("VmRSS {rss_half} kB half-way, {rss_end} kB at the end; VmHWM {hwm} kB");
    assert!(
        rss_end <= rss_half + 64,
        "memory grew while the receiver stalled: {rss_half} kB, then {rss_end} kB"
    );
    assert!(hwm <= 8 * 1024, "VmHWM {hwm} kB");
    let resumed_at = spawned.elapsed();

    // It reads again: the queue, then new lines.
    assert!(
        receiver.wait_until(
            |r| {
                daemon.stderr().contains("takes lines again")
                    && r.last().is_some_and(|l| {
                        is_event(l, "heartbeat")
                            && Duration::from_millis(seconds_ms(l, "uptime_s")) > resumed_at
                    })
            },
            Duration::from_secs(30)
        ),
        "the queue was not delivered: {}",
        daemon.stderr()
    );
    drop(load);
    let recovered = receiver
        .wait_for(|m| is_event(m, "recovered"), Duration::from_secs(30))
        .unwrap_or_else(|| panic!("no recovered: {:?}", receiver.received));
    let lines = receiver.received.clone();
    let (status, stderr) = daemon.stop_with(libc::SIGTERM);
    assert!(status.success(), "{status}: {stderr}");

    let dropped = assert_one_exact_gap(&lines, heartbeat);
    let stall_lines = STALL.as_millis() as u64 / heartbeat.as_millis() as u64;
    assert!(
        dropped + 128 + 10 >= stall_lines - 10,
        "{dropped} dropped: the queue must have overflowed"
    );
    assert!(
        stderr.contains(&format!("({dropped} lines were dropped)")),
        "stderr must give the same count: {stderr}"
    );
    // The status line was made during the stall and arrived in its place.
    let status_index = lines
        .iter()
        .position(|l| is_event(l, "status"))
        .unwrap_or_else(|| panic!("SIGUSR1 was not answered: {lines:?}"));
    assert!(
        lines[status_index].contains(" state=active "),
        "{}",
        lines[status_index]
    );
    let next_beat = lines[status_index..]
        .iter()
        .find(|l| is_event(l, "heartbeat"))
        .expect("a heartbeat after the status line");
    let answered_by = Duration::from_millis(seconds_ms(next_beat, "uptime_s"));
    assert!(
        answered_by < resumed_at,
        "SIGUSR1 (sent {usr1_at:?} after the start) was answered only after the receiver \
         read again ({resumed_at:?}): next heartbeat at {answered_by:?}"
    );
    // The episode lived through it: every heartbeat of the stall counted it active.
    let stalled_beats: Vec<&String> = lines
        .iter()
        .filter(|l| is_event(l, "heartbeat"))
        .filter(|l| Duration::from_millis(seconds_ms(l, "uptime_s")) < resumed_at)
        .skip(3)
        .collect();
    assert!(
        stalled_beats.iter().all(|l| l.contains(" active=1 ")),
        "{stalled_beats:?}"
    );
    assert_eq!(count_events(&lines, "pressure"), 1, "one episode");
    assert!(
        recovered.ends_with(&format!("cgroup={}", group.name)),
        "{recovered}"
    );
}

// ---------------------------------------------------------------------------------
// A receiver stopped with SIGSTOP

/// The daemon of the stalled-receiver tests: the busy trigger on `group`, one episode
/// line per 10 minutes, recovery after 3 s, a heartbeat every 200 ms (which numbers the
/// lines), sending to `socket`.
fn stalled_receiver_daemon(group: &TestCgroup, socket: &str) -> Daemon {
    privileged(&[
        "-t",
        &group.spec(BUSY_TRIGGER),
        "--repeat",
        "10m",
        "--recover-after",
        "3s",
        "--heartbeat",
        "200ms",
        "--socket",
        socket,
    ])
}

/// syslog-ng on a datagram socket in `dir`, writing `PROGRAM[PID] MESSAGE` lines to
/// `dir/messages`. Returns it once its socket exists.
fn datagram_syslog_ng(dir: &Path) -> Background {
    syslog_ng(
        dir,
        &format!(
            "source s {{ unix-dgram(\"{}\"); }};\n\
             destination d {{ file(\"{}\" template(\"$PROGRAM[$PID] $MSG\\n\")); }};\n\
             log {{ source(s); destination(d); }};\n",
            dir.join("log.sock").display(),
            dir.join("messages").display()
        ),
    )
}

/// How long syslog-ng stays stopped: six times what the kernel and the daemon's queue
/// hold at five lines a second.
const STOPPED: Duration = Duration::from_secs(30);

/// A real syslog-ng, stopped with SIGSTOP for half a minute and resumed, while the
/// group stays under pressure: the same as a receiver that stops reading, through a
/// real receiver's own socket and file.
#[test]
fn a_receiver_stopped_with_sigstop_and_resumed_gets_an_exact_dropped_count() {
    let _lock = exclusive();
    let heartbeat = Duration::from_millis(200);
    let dir = scratch_dir("sigstop");
    let receiver = datagram_syslog_ng(&dir);
    let messages = dir.join("messages");
    let group = TestCgroup::create("sigstop");
    let spawned = Instant::now();
    let daemon = stalled_receiver_daemon(&group, dir.join("log.sock").to_str().unwrap());
    let pid = daemon.pid();
    let ours = |lines: Vec<String>| -> Vec<String> {
        let tag = format!("psi-syslogd[{pid}] ");
        lines
            .into_iter()
            .filter_map(|l| l.strip_prefix(&tag).map(|body| format!("]: {body}")))
            .collect()
    };
    let load = CpuLoad::start_in(&group, 4);
    wait_until(
        "a crossing and heartbeats stored",
        Duration::from_secs(30),
        || {
            let lines = ours(complete_lines(&messages));
            count_events(&lines, "pressure") == 1 && count_events(&lines, "heartbeat") >= 3
        },
    );

    receiver.signal_group(libc::SIGSTOP);
    let ticks_before = daemon.cpu_ticks();
    let stopped_at = Instant::now();
    std::thread::sleep(STOPPED / 2);
    let rss_half = daemon.status_kb("VmRSS");
    std::thread::sleep(STOPPED / 2);
    let rss_end = daemon.status_kb("VmRSS");
    assert_not_spinning(
        &daemon,
        ticks_before,
        stopped_at.elapsed(),
        "stopped receiver",
    );
    assert!(
        rss_end <= rss_half + 64,
        "memory grew while the receiver was stopped: {rss_half} kB, then {rss_end} kB"
    );
    let resumed_at = spawned.elapsed();
    receiver.signal_group(libc::SIGCONT);

    wait_until(
        "the queue and new lines stored",
        Duration::from_secs(60),
        || {
            let lines = ours(complete_lines(&messages));
            daemon.stderr().contains("takes lines again")
                && lines.iter().any(|l| {
                    is_event(l, "heartbeat")
                        && Duration::from_millis(seconds_ms(l, "uptime_s")) > resumed_at
                })
        },
    );
    drop(load);
    wait_until("recovered stored", Duration::from_secs(30), || {
        count_events(&ours(complete_lines(&messages)), "recovered") == 1
    });
    let (status, stderr) = daemon.stop_with(libc::SIGTERM);
    assert!(status.success(), "{status}: {stderr}");
    let lines = ours(complete_lines(&messages));
    let dropped = assert_one_exact_gap(&lines, heartbeat);
    assert!(
        stderr.contains(&format!("({dropped} lines were dropped)")),
        "stderr must give the same count: {stderr}"
    );
    assert_eq!(
        count_events(&lines, "pressure"),
        1,
        "one episode: {lines:?}"
    );
}

// ---------------------------------------------------------------------------------
// A SIGHUP storm

/// SIGHUPs every 2 ms for 8 s (about 4000) while the group crosses ten times a
/// second: signals that come faster than reloads merge, every reload keeps the
/// trigger (same spec), crossings go on being logged all through, nothing is lost
/// without dropped=, and the daemon neither crashes nor spins.
#[test]
fn a_sighup_storm_during_pressure_keeps_the_triggers_and_the_crossings() {
    let _lock = exclusive();
    let heartbeat = Duration::from_millis(200);
    let group = TestCgroup::create("sighup");
    let dir = scratch_dir("sighup");
    let config = dir.join("psi-syslogd.conf");
    fs::write(
        &config,
        format!(
            "trigger {}\nrepeat 0\nheartbeat 200ms\n",
            group.spec(BUSY_TRIGGER)
        ),
    )
    .unwrap();
    let mut receiver = Receiver::new("sighup");
    let daemon = privileged(&[
        "-c",
        config.to_str().unwrap(),
        "--socket",
        receiver.path_str(),
    ]);
    receiver
        .wait_for(|m| is_event(m, "start"), Duration::from_secs(10))
        .expect("start line");
    let _load = CpuLoad::start_in(&group, 4);
    assert!(
        receiver.wait_until(
            |r| count_events(r, "pressure") >= 3,
            Duration::from_secs(30)
        ),
        "{:?}",
        receiver.received
    );

    let storming = Arc::new(AtomicBool::new(true));
    let pid = daemon.pid() as libc::pid_t;
    let storm_from = receiver.received.len();
    let storm = {
        let storming = Arc::clone(&storming);
        std::thread::spawn(move || {
            let mut sent = 0u64;
            while storming.load(Ordering::SeqCst) {
                // SAFETY: kill has no memory arguments.
                unsafe { libc::kill(pid, libc::SIGHUP) };
                sent += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            sent
        })
    };
    let ticks_before = daemon.cpu_ticks();
    let storm_started = Instant::now();
    // The receiver keeps reading all through the storm.
    receiver.listen_for(Duration::from_secs(8));
    storming.store(false, Ordering::SeqCst);
    let sent = storm.join().unwrap();
    let storm_lasted = storm_started.elapsed();
    let storm_ticks = daemon.cpu_ticks() - ticks_before;
    let storm_to = receiver.received.len();
    eprintln!(
        "{sent} SIGHUPs in {storm_lasted:?} ({:.0}/s); the daemon used {storm_ticks} ticks",
        sent as f64 / storm_lasted.as_secs_f64()
    );
    // After it: the trigger still crosses.
    assert!(
        receiver.wait_until(
            |r| r[storm_to..]
                .iter()
                .filter(|l| is_event(l, "pressure"))
                .count()
                >= 5,
            Duration::from_secs(30)
        ),
        "no crossing after the storm: {:?}",
        &receiver.received[storm_to..]
    );
    let ticks_after = daemon.cpu_ticks();
    let quiet_started = Instant::now();
    receiver.listen_for(Duration::from_secs(2));
    assert_not_spinning(
        &daemon,
        ticks_after,
        quiet_started.elapsed(),
        "after the storm",
    );
    let (status, stderr) = daemon.stop_with(libc::SIGTERM);
    assert!(status.success(), "{status}: {stderr}");
    let lines = receiver.received.clone();

    let reloads: Vec<&String> = lines.iter().filter(|l| is_event(l, "reload")).collect();
    assert!(
        !reloads.is_empty() && reloads.len() as u64 <= sent,
        "{} reloads for {sent} SIGHUPs",
        reloads.len()
    );
    for reload in &reloads {
        assert!(
            body(reload).starts_with("event=reload triggers=1 kept=1"),
            "the trigger must be kept, not re-armed: {reload}"
        );
    }
    assert_eq!(count_events(&lines, "reload_failed"), 0, "{lines:?}");
    // Crossings all through the storm: at least one in every second of it, by the
    // daemon's own clock (the heartbeat before each).
    let mut second = None;
    let mut seconds_with_crossings = std::collections::BTreeSet::new();
    let mut beat_seconds = Vec::new();
    for line in &lines[storm_from..storm_to] {
        if is_event(line, "heartbeat") {
            let s = seconds_ms(line, "uptime_s") / 1000;
            second = Some(s);
            beat_seconds.push(s);
        } else if is_event(line, "pressure")
            && let Some(s) = second
        {
            seconds_with_crossings.insert(s);
        }
    }
    let (first, last) = (beat_seconds[0], *beat_seconds.last().unwrap());
    assert!(
        last - first >= 5,
        "heartbeats of the storm: {beat_seconds:?}"
    );
    for s in first..last {
        assert!(
            seconds_with_crossings.contains(&s),
            "no crossing logged in second {s} of the daemon's life, during the storm: \
             {seconds_with_crossings:?}"
        );
    }
    let (missing, dropped) = assert_losses_counted(&lines, heartbeat);
    eprintln!(
        "{} reloads logged, {missing} heartbeats missing, dropped= said {dropped}",
        reloads.len()
    );
}

// ---------------------------------------------------------------------------------
// The wall clock stepped

/// CLOCK_REALTIME stepped by the test and always put back: on drop, and by a guardian
/// process should the test process die first (a panic that aborts, SIGKILL, Ctrl-C on
/// the whole process group, which the guardian ignores). The true time is carried on
/// CLOCK_MONOTONIC from the moment the guard was made, so putting it back restores
/// the clock to within microseconds of where it would have been.
struct ClockStep {
    wall_at_start: libc::timespec,
    monotonic_at_start: libc::timespec,
    /// Written to (a byte) when the clock is back; closed unwritten if we die.
    guardian: Option<OwnedFd>,
    guardian_pid: libc::pid_t,
}

fn now(clock: libc::clockid_t) -> libc::timespec {
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `time` is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(clock, &mut time) };
    time
}

fn nanoseconds(time: &libc::timespec) -> i128 {
    time.tv_sec as i128 * 1_000_000_000 + time.tv_nsec as i128
}

fn timespec(nanoseconds: i128) -> libc::timespec {
    libc::timespec {
        tv_sec: nanoseconds.div_euclid(1_000_000_000) as libc::time_t,
        tv_nsec: nanoseconds.rem_euclid(1_000_000_000) as libc::c_long,
    }
}

/// The wall time that is true now: the start's, plus the monotonic time since.
fn true_wall_ns(wall_at_start: &libc::timespec, monotonic_at_start: &libc::timespec) -> i128 {
    nanoseconds(wall_at_start) + nanoseconds(&now(libc::CLOCK_MONOTONIC))
        - nanoseconds(monotonic_at_start)
}

impl ClockStep {
    fn new() -> ClockStep {
        let monotonic_at_start = now(libc::CLOCK_MONOTONIC);
        let wall_at_start = now(libc::CLOCK_REALTIME);
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe2 returns.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: the child calls only async-signal-safe functions (signal, read,
        // clock_gettime, clock_settime, _exit) before it exits.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
        if pid == 0 {
            // SAFETY: as above; every pointer points into this frame.
            unsafe {
                for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
                    libc::signal(signal, libc::SIG_IGN);
                }
                libc::close(fds[1]);
                let mut byte = 0u8;
                let n = loop {
                    let n = libc::read(fds[0], (&mut byte as *mut u8).cast(), 1);
                    if n >= 0 || *libc::__errno_location() != libc::EINTR {
                        break n;
                    }
                };
                if n != 1 {
                    let wall = timespec(true_wall_ns(&wall_at_start, &monotonic_at_start));
                    libc::clock_settime(libc::CLOCK_REALTIME, &wall);
                }
                libc::_exit(0);
            }
        }
        // SAFETY: the read end is ours to close; the write end becomes an OwnedFd.
        unsafe { libc::close(fds[0]) };
        ClockStep {
            wall_at_start,
            monotonic_at_start,
            // SAFETY: fds[1] is a descriptor we own and nothing else closes.
            guardian: Some(unsafe { OwnedFd::from_raw_fd(fds[1]) }),
            guardian_pid: pid,
        }
    }

    /// The true wall time now, in seconds since the epoch.
    fn true_seconds(&self) -> i64 {
        (true_wall_ns(&self.wall_at_start, &self.monotonic_at_start) / 1_000_000_000) as i64
    }

    /// Sets the wall clock to the true time plus `offset_seconds`.
    fn set(&self, offset_seconds: i64) {
        let wall = timespec(
            true_wall_ns(&self.wall_at_start, &self.monotonic_at_start)
                + offset_seconds as i128 * 1_000_000_000,
        );
        // SAFETY: `wall` is a valid timespec.
        let result = unsafe { libc::clock_settime(libc::CLOCK_REALTIME, &wall) };
        assert_eq!(
            result,
            0,
            "clock_settime (the test needs root with CAP_SYS_TIME): {}",
            std::io::Error::last_os_error()
        );
    }
}

impl Drop for ClockStep {
    fn drop(&mut self) {
        let wall = timespec(true_wall_ns(&self.wall_at_start, &self.monotonic_at_start));
        // SAFETY: `wall` is a valid timespec.
        let restored = unsafe { libc::clock_settime(libc::CLOCK_REALTIME, &wall) } == 0;
        if let Some(guardian) = self.guardian.take() {
            if restored {
                // SAFETY: one byte from a valid buffer to our own pipe.
                unsafe { libc::write(guardian.as_raw_fd(), [1u8].as_ptr().cast(), 1) };
            }
            drop(guardian);
        }
        // SAFETY: reaps our own child; the status pointer may be null.
        unsafe { libc::waitpid(self.guardian_pid, std::ptr::null_mut(), 0) };
    }
}

/// The seconds of the day a header's clock is off the true time (as -43200..43200).
fn header_offset(message: &str, true_seconds: i64) -> i64 {
    let off = (header_seconds(message) as i64 - true_seconds).rem_euclid(86_400);
    if off > 43_200 { off - 86_400 } else { off }
}

/// An episode runs; the wall clock is stepped an hour back, then (with the load gone
/// and the episode in its quiet period) an hour forward, to the true time. Reminders,
/// heartbeats and the end of the episode run on CLOCK_MONOTONIC: none comes early,
/// late or twice, and `recovered` waits its full quiet period across the forward
/// step. Each line's RFC 3164 timestamp follows the wall clock: true, an hour behind,
/// true again.
///
/// Stepping the host's clock is safe enough here: it goes only back, and for a few
/// seconds (files written meanwhile look an hour older, which makes builds redo work,
/// never skip it), under the test lock, and it is put back by a guard and by a
/// guardian process.
#[test]
fn the_wall_clock_stepped_an_hour_moves_timestamps_and_no_timer() {
    let _lock = exclusive();
    let heartbeat = Duration::from_millis(500);
    let group = TestCgroup::create("clock");
    let clock = ClockStep::new();
    let mut receiver = Receiver::new("clock");
    let daemon = privileged(&[
        "-t",
        &group.spec(BUSY_TRIGGER),
        "--repeat",
        "1s",
        "--recover-after",
        "3s",
        "--heartbeat",
        "500ms",
        "--socket",
        receiver.path_str(),
    ]);
    receiver
        .wait_for(|m| is_event(m, "start"), Duration::from_secs(10))
        .expect("start line");
    // Each line with the true time it was received at.
    let mut stamped: Vec<(String, i64)> = Vec::new();
    let take = |receiver: &mut Receiver, stamped: &mut Vec<(String, i64)>| {
        for line in receiver.received.drain(..) {
            stamped.push((line, clock.true_seconds()));
        }
    };
    let load = CpuLoad::start_in(&group, 4);
    let reminders =
        |lines: &[(String, i64)]| lines.iter().filter(|(l, _)| is_event(l, "ongoing")).count();
    let wait_reminders = |receiver: &mut Receiver, stamped: &mut Vec<(String, i64)>, n| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while reminders(stamped) < n {
            assert!(Instant::now() < deadline, "reminders: {stamped:?}");
            receiver.wait_for(|_| true, Duration::from_millis(200));
            take(receiver, stamped);
        }
    };
    wait_reminders(&mut receiver, &mut stamped, 2);

    clock.set(-3600);
    let stepped = reminders(&stamped);
    wait_reminders(&mut receiver, &mut stamped, stepped + 3);
    drop(load);
    // A crossing may still be on its way: the forward step comes inside the quiet
    // period, which must run its three seconds on the monotonic clock.
    std::thread::sleep(Duration::from_millis(200));
    clock.set(0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !stamped.iter().any(|(l, _)| is_event(l, "recovered")) {
        assert!(Instant::now() < deadline, "no recovered: {stamped:?}");
        receiver.wait_for(|_| true, Duration::from_millis(200));
        take(&mut receiver, &mut stamped);
    }
    // Two more heartbeats on the true clock.
    let beats = count_events(&receiver.received, "heartbeat");
    assert!(receiver.wait_until(
        |r| count_events(r, "heartbeat") >= beats + 2,
        Duration::from_secs(10)
    ));
    take(&mut receiver, &mut stamped);
    drop(clock);
    let (status, stderr) = daemon.stop_with(libc::SIGTERM);
    assert!(status.success(), "{status}: {stderr}");
    let lines: Vec<String> = stamped.iter().map(|(l, _)| l.clone()).collect();

    // Reminders once a second of the episode, through both steps.
    let ongoing: Vec<u64> = lines
        .iter()
        .filter(|l| is_event(l, "ongoing"))
        .map(|l| seconds_ms(l, "duration_s") / 1000)
        .collect();
    assert_eq!(
        ongoing,
        (1..=ongoing.len() as u64).collect::<Vec<_>>(),
        "reminders early, late or twice: {lines:?}"
    );
    assert_contiguous_heartbeats(&lines, heartbeat);
    // recovered came three seconds after the last crossing, by the reminders made in
    // between, not at the forward step.
    let recovered_index = lines.iter().position(|l| is_event(l, "recovered")).unwrap();
    let episode_s = seconds_ms(&lines[recovered_index], "duration_s") / 1000;
    let last_reminder = ongoing.last().copied().unwrap();
    assert!(
        last_reminder >= episode_s + 2,
        "recovered after the reminder of second {last_reminder}, but the last crossing \
         was in second {episode_s}: the quiet period was cut short"
    );
    // Timestamps: true, then an hour behind, then true again.
    let hours: Vec<i64> = stamped
        .iter()
        .map(|(line, received)| {
            let off = header_offset(line, *received);
            let hours = (off as f64 / 3600.0).round() as i64;
            assert!(
                (off - hours * 3600).abs() <= 120 && (hours == 0 || hours == -1),
                "a timestamp {off} s off the true time: {line}"
            );
            hours
        })
        .collect();
    let mut runs: Vec<(i64, usize)> = Vec::new();
    for hour in &hours {
        match runs.last_mut() {
            Some((h, n)) if h == hour => *n += 1,
            _ => runs.push((*hour, 1)),
        }
    }
    eprintln!("reminders {ongoing:?}; timestamps by hours off the true time: {runs:?}");
    assert_eq!(
        runs.iter().map(|r| r.0).collect::<Vec<_>>(),
        [0, -1, 0],
        "the timestamps do not follow the clock: {runs:?}"
    );
    assert!(runs[1].1 >= 4, "{runs:?}");
}

// ---------------------------------------------------------------------------------
// /proc/pressure made unreadable

/// An unprivileged daemon in a mount namespace of its own; once it runs, /proc/pressure
/// is covered there by a directory only root may enter. The triggers it armed keep
/// working (their descriptors are open), status lines still read them, a reload that
/// needs nothing new still works, and a reload that must open a pressure file fails
/// with the reason and keeps the old set.
#[test]
fn proc_pressure_made_unreadable_keeps_the_armed_triggers() {
    let _lock = exclusive();
    let heartbeat = Duration::from_millis(500);
    let dir = scratch_dir("unreadable");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    let config = dir.join("psi-syslogd.conf");
    let old = "trigger cpu:some:50000:2s\nrepeat 0\nheartbeat 500ms\n";
    fs::write(&config, old).unwrap();
    let mut receiver = Receiver::new("unreadable");
    fs::set_permissions(&receiver.path, fs::Permissions::from_mode(0o666)).unwrap();
    let daemon = Daemon::spawn_command(
        Command::new("unshare")
            .args(["--mount", "--propagation", "private", "setpriv"])
            .args(UNPRIVILEGED)
            .args([BIN, "-c"])
            .arg(&config)
            .args(["--socket", receiver.path_str()]),
    );
    receiver
        .wait_for(|m| is_event(m, "start"), Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no start: {}", daemon.stderr()));
    let pid = daemon.pid().to_string();
    let in_namespace = |script: &str| {
        Command::new("nsenter")
            .args(["-t", &pid, "-m", "sh", "-euc", script])
            .output()
            .expect("run nsenter")
    };
    let covered = in_namespace("mount -t tmpfs -o mode=0700 tmpfs /proc/pressure");
    assert!(covered.status.success(), "{covered:?}");
    let probe = Command::new("nsenter")
        .args(["-t", &pid, "-m", "setpriv"])
        .args(UNPRIVILEGED)
        .args(["cat", "/proc/pressure/cpu"])
        .output()
        .unwrap();
    assert!(
        !probe.status.success()
            && String::from_utf8_lossy(&probe.stderr).contains("Permission denied"),
        "the daemon's user can still read /proc/pressure: {probe:?}"
    );
    let ticks_before = daemon.cpu_ticks();
    let since = Instant::now();

    let _load = CpuLoad::start(4);
    let from = receiver.received.len();
    assert!(
        receiver.wait_until(
            |r| r[from..].iter().filter(|l| is_event(l, "pressure")).count() >= 2,
            Duration::from_secs(30)
        ),
        "the armed trigger went silent: {:?}",
        receiver.received
    );
    daemon.signal(libc::SIGUSR1);
    let status_line = receiver
        .wait_for(|m| is_event(m, "status"), Duration::from_secs(10))
        .expect("a status line");
    assert!(
        field(&logfmt(body(&status_line)), "avg10").is_some_and(|v| v.contains('.')),
        "the status line read nothing: {status_line}"
    );
    daemon.signal(libc::SIGHUP);
    let reload = receiver
        .wait_for(|m| is_event(m, "reload"), Duration::from_secs(10))
        .expect("a reload that needs no new file");
    assert!(
        body(&reload).starts_with("event=reload triggers=1 kept=1"),
        "{reload}"
    );

    fs::write(&config, format!("{old}trigger memory:some:10%:2s\n")).unwrap();
    daemon.signal(libc::SIGHUP);
    let failed = receiver
        .wait_for(|m| is_event(m, "reload_failed"), Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no reload_failed: {:?}", receiver.received));
    eprintln!("{failed}");
    let reason = field(&logfmt(body(&failed)), "reason").unwrap().to_string();
    assert!(
        reason.contains("/proc/pressure/memory") && reason.contains("Permission denied"),
        "{failed}"
    );
    assert!(reason.contains("memory:some:200000:2000000"), "{failed}");
    let from = receiver.received.len();
    assert!(
        receiver.wait_until(
            |r| r[from..].iter().filter(|l| is_event(l, "pressure")).count() >= 2,
            Duration::from_secs(30)
        ),
        "the old set did not survive the failed reload: {:?}",
        receiver.received
    );
    assert!(
        !receiver.received[from..]
            .iter()
            .any(|l| l.contains("resource=memory")),
        "the refused trigger is armed"
    );
    assert_not_spinning(
        &daemon,
        ticks_before,
        since.elapsed(),
        "unreadable /proc/pressure",
    );
    let lines = receiver.received.clone();
    let (status, stderr) = daemon.stop_with(libc::SIGTERM);
    assert!(status.success(), "{status}: {stderr}");
    assert_losses_counted(&lines, heartbeat);
    assert!(!lines.iter().any(|l| l.contains("dropped=")), "{lines:?}");
}
