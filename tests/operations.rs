//! Issue 3 against the real kernel: episodes, cgroup triggers, the configuration file,
//! reload, status, heartbeat, --check and --print.

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

fn events<'a>(received: &'a [String], name: &str) -> Vec<&'a String> {
    let prefix = format!("event={name} ");
    received
        .iter()
        .filter(|m| body(m).starts_with(&prefix))
        .collect()
}

fn is_start(m: &str) -> bool {
    body(m).starts_with("event=start ")
}

/// On a group's own CPU pressure (its busy loops compete with each other), so the
/// episode starts however busy the machine is, and ends when they stop, however busy
/// it stays.
#[test]
fn an_episode_is_one_pressure_then_reminders_then_recovered() {
    let _lock = exclusive();
    let group = TestCgroup::create("episode");
    let mut receiver = Receiver::new("episode");
    // A 100 ms window (privileged, in a user namespace) crosses many times a second.
    let spec = group.spec("cpu:some:10000:100000");
    let _daemon = Daemon::spawn_command(Command::new("unshare").args([
        "--user",
        "--map-root-user",
        BIN,
        "-t",
        &spec,
        "--repeat",
        "1s",
        "--recover-after",
        "1500ms",
        "--socket",
        receiver.path_str(),
    ]));
    receiver
        .wait_for(is_start, Duration::from_secs(10))
        .expect("start line");
    let load = CpuLoad::start_in(&group, 4);
    // Three reminders: the load ran for three seconds of the episode.
    assert!(
        receiver.wait_until(|r| count_events(r, "ongoing") >= 3, Duration::from_secs(30)),
        "reminders every second: {:?}",
        receiver.received
    );
    drop(load);
    let recovered = receiver
        .wait_for(
            |m| body(m).starts_with("event=recovered "),
            Duration::from_secs(20),
        )
        .unwrap_or_else(|| panic!("no recovered: {:?}", receiver.received));
    let received = receiver.received.clone();
    assert_eq!(events(&received, "pressure").len(), 1, "{received:?}");
    let ongoing = events(&received, "ongoing");
    let first = logfmt(body(ongoing[0]));
    assert_eq!(field(&first, "resource"), Some("cpu"));
    assert_eq!(field(&first, "cgroup"), Some(group.name.as_str()));
    let crossings: u64 = field(&first, "crossings").unwrap().parse().unwrap();
    assert!(crossings >= 2, "{:?}", ongoing[0]);
    // One reminder a second of the episode, on the daemon's own clock: never early,
    // never two for one second, none skipped.
    let seconds: Vec<u64> = ongoing
        .iter()
        .map(|m| seconds_ms(m, "duration_s") / 1000)
        .collect();
    assert_eq!(
        seconds,
        (1..=seconds.len() as u64).collect::<Vec<_>>(),
        "{ongoing:?}"
    );
    // notice = 5: daemon.notice = 29
    assert!(recovered.starts_with("<29>"), "{recovered}");
    let pairs = logfmt(body(&recovered));
    let duration: f64 = field(&pairs, "duration_s").unwrap().parse().unwrap();
    assert!(duration >= 2.0, "{recovered}");
    assert!(
        field(&pairs, "peak_avg10").unwrap().contains('.'),
        "{recovered}"
    );
    assert_eq!(pairs.last().unwrap().0, "cgroup");
    let order: Vec<&str> = received
        .iter()
        .map(|m| body(m).split(' ').next().unwrap_or(""))
        .filter(|e| *e != "event=start")
        .collect();
    assert_eq!(order.first(), Some(&"event=pressure"), "{order:?}");
    assert_eq!(order.last(), Some(&"event=recovered"), "{order:?}");
}

#[test]
fn a_cgroup_trigger_fires_is_lost_and_rearmed() {
    let _lock = exclusive();
    let group = TestCgroup::create("cg");
    // A second trigger that must never speak: memory of an empty group stays at zero
    // stall on any machine, so a line for it would be a notification or a loss put on
    // the wrong trigger when the first one's descriptor goes and comes back.
    let quiet = TestCgroup::create("cg-quiet");
    let mut receiver = Receiver::new("cgroup");
    let spec = format!("cpu:some:50000:2s:{}", group.name);
    let daemon = Daemon::spawn(&[
        "-t",
        &spec,
        "-t",
        &quiet.spec("memory:some:10%:2s"),
        "--repeat",
        "0",
        "--socket",
        receiver.path_str(),
    ]);
    receiver
        .wait_for(is_start, Duration::from_secs(10))
        .expect("start line");
    let load = CpuLoad::start(4);
    group.adopt(&load.pids());
    let crossing = receiver
        .wait_for(
            |m| body(m).starts_with("event=pressure "),
            Duration::from_secs(30),
        )
        .unwrap_or_else(|| panic!("no cgroup crossing: {:?}", receiver.received));
    let pairs = logfmt(body(&crossing));
    assert_eq!(field(&pairs, "resource"), Some("cpu"), "{crossing}");
    assert_eq!(
        field(&pairs, "cgroup"),
        Some(group.name.as_str()),
        "{crossing}"
    );
    drop(load);
    group.remove();
    let lost = receiver
        .wait_for(
            |m| body(m).starts_with("event=lost "),
            Duration::from_secs(10),
        )
        .unwrap_or_else(|| panic!("no lost: {:?}", receiver.received));
    assert!(lost.starts_with("<27>"), "{lost}");
    assert_eq!(
        field(&logfmt(body(&lost)), "cgroup"),
        Some(group.name.as_str())
    );
    // The closed descriptor no longer wakes the loop: CPU time stays flat. The three
    // seconds are the subject (nothing is due in them); outside load can only make a
    // spinning daemon look less busy, never a quiet one busier.
    let before = daemon.cpu_ticks();
    std::thread::sleep(Duration::from_secs(3));
    let spent = daemon.cpu_ticks() - before;
    assert!(
        spent <= 2,
        "the daemon spun after losing its cgroup: {spent} ticks in 3 s"
    );

    group.recreate();
    let rearmed = receiver
        .wait_for(
            |m| body(m).starts_with("event=rearmed "),
            Duration::from_secs(10),
        )
        .unwrap_or_else(|| panic!("no rearmed: {:?}", receiver.received));
    assert!(rearmed.starts_with("<29>"), "{rearmed}");
    let load = CpuLoad::start(4);
    group.adopt(&load.pids());
    // Only what arrives from now on counts.
    let before: Vec<String> = std::mem::take(&mut receiver.received);
    receiver
        .wait_for(
            |m| body(m).starts_with("event=pressure ") && m.contains(&group.name),
            Duration::from_secs(30),
        )
        .unwrap_or_else(|| {
            panic!(
                "no crossing after re-arming: {before:?} then {:?}",
                receiver.received
            )
        });
    receiver.received.splice(0..0, before);
    drop(load);
    let memory = receiver
        .received
        .iter()
        .filter(|m| m.contains("resource=memory"))
        .count();
    assert_eq!(
        memory, 0,
        "the quiet trigger spoke: {:?}",
        receiver.received
    );
}

#[test]
fn a_missing_cgroup_exits_69_unless_waited_for() {
    let _lock = exclusive();
    let name = format!("/psi-syslogd-test-absent-{}", std::process::id());
    let spec = format!("io:full:20%:2s:{name}");
    let (status, _, stderr) = run_to_exit(Command::new(BIN).args(["-t", &spec, "--stderr"]));
    assert_eq!(status.code(), Some(69), "{stderr}");
    assert!(
        stderr.contains(&name) && stderr.contains("--wait-for-cgroups"),
        "{stderr}"
    );

    let mut receiver = Receiver::new("wait");
    let _daemon = Daemon::spawn(&[
        "-t",
        &spec,
        "--wait-for-cgroups",
        "--socket",
        receiver.path_str(),
    ]);
    receiver
        .wait_for(is_start, Duration::from_secs(10))
        .expect("start line");
    receiver
        .wait_for(
            |m| body(m).starts_with("event=waiting "),
            Duration::from_secs(10),
        )
        .expect("waiting");
    let group = TestCgroup::create("absent");
    assert_eq!(group.name, name);
    receiver
        .wait_for(
            |m| body(m).starts_with("event=rearmed "),
            Duration::from_secs(10),
        )
        .unwrap_or_else(|| panic!("no rearmed: {:?}", receiver.received));
}

fn config_file(name: &str, text: &str) -> PathBuf {
    let path = scratch_dir(name).join("psi-syslogd.conf");
    fs::write(&path, text).unwrap();
    path
}

#[test]
fn configuration_file_errors_exit_78_with_file_and_line() {
    let table = [
        (
            "trigger memory:some:15O000:1s\n",
            ":1: invalid trigger 'memory:some:15O000:1s'",
        ),
        (
            "# ok\nrepeat 5m\nbogus 1\n",
            ":3: unknown directive 'bogus'",
        ),
        ("facility nowhere\n", ":1: unknown facility 'nowhere'"),
        ("heartbeat soon\n", ":1: invalid heartbeat 'soon'"),
        ("trigger\n", ":1: 'trigger' needs a value"),
    ];
    for (text, expected) in table {
        let path = config_file("bad", text);
        let (status, _, stderr) = run_to_exit(Command::new(BIN).arg("-c").arg(&path));
        assert_eq!(status.code(), Some(78), "{text:?}: {stderr}");
        assert!(
            stderr.contains(&format!("{}{expected}", path.display())),
            "{text:?}: {stderr}"
        );
    }
    let (status, _, stderr) = run_to_exit(Command::new(BIN).args(["-c", "/nonexistent/psi.conf"]));
    assert_eq!(status.code(), Some(66), "{stderr}");
    assert!(stderr.contains("'/nonexistent/psi.conf'"), "{stderr}");
}

#[test]
fn reload_applies_a_new_file_and_a_broken_one_keeps_the_old_triggers() {
    let _lock = exclusive();
    let mut receiver = Receiver::new("reload");
    let path = config_file("reload", "trigger memory:some:10%:2s\nrepeat 0\n");
    let daemon = Daemon::spawn(&[
        "-c",
        path.to_str().unwrap(),
        "--socket",
        receiver.path_str(),
    ]);
    receiver
        .wait_for(is_start, Duration::from_secs(10))
        .expect("start line");

    fs::write(
        &path,
        "trigger memory:some:10%:2s\ntrigger cpu:some:50000:2s\nrepeat 0\n",
    )
    .unwrap();
    daemon.signal(libc::SIGHUP);
    let reload = receiver
        .wait_for(
            |m| body(m).starts_with("event=reload "),
            Duration::from_secs(10),
        )
        .unwrap_or_else(|| panic!("no reload: {:?}", receiver.received));
    assert!(reload.starts_with("<30>"), "{reload}");
    assert!(body(&reload).contains("triggers=2 kept=1"), "{reload}");

    fs::write(&path, "trigger memory:some:10%:2s\ntriger cpu:some:1:2s\n").unwrap();
    daemon.signal(libc::SIGHUP);
    let failed = receiver
        .wait_for(
            |m| body(m).starts_with("event=reload_failed "),
            Duration::from_secs(10),
        )
        .unwrap_or_else(|| panic!("no reload_failed: {:?}", receiver.received));
    assert!(failed.starts_with("<27>"), "{failed}");
    assert!(
        failed.contains(":2: unknown directive 'triger'"),
        "{failed}"
    );

    // A trigger the kernel refuses (1 s window, unprivileged) fails the reload too.
    fs::write(&path, "trigger cpu:some:100ms:1s\n").unwrap();
    daemon.signal(libc::SIGHUP);
    let failed = receiver
        .wait_for(
            |m| body(m).starts_with("event=reload_failed ") && m.contains("multiple of 2s"),
            Duration::from_secs(10),
        )
        .unwrap_or_else(|| panic!("no second reload_failed: {:?}", receiver.received));
    assert!(failed.contains("cpu:some:100000:1000000"), "{failed}");

    // The cpu trigger of the last good configuration is still armed.
    let _load = CpuLoad::start(4);
    receiver
        .wait_for(
            |m| body(m).starts_with("event=pressure resource=cpu"),
            Duration::from_secs(30),
        )
        .unwrap_or_else(|| panic!("the old trigger did not survive: {:?}", receiver.received));
}

/// On an empty group, so both triggers are idle whatever the machine does.
#[test]
fn sigusr1_logs_one_status_line_per_trigger() {
    let _lock = exclusive();
    let group = TestCgroup::create("status");
    let mut receiver = Receiver::new("status");
    let daemon = Daemon::spawn(&[
        "-t",
        &group.spec("memory:some:10%:2s"),
        "-t",
        &group.spec("io:full:15%:2s"),
        "--socket",
        receiver.path_str(),
    ]);
    receiver
        .wait_for(is_start, Duration::from_secs(10))
        .expect("start line");
    daemon.signal(libc::SIGUSR1);
    assert!(
        receiver.wait_until(|r| count_events(r, "status") >= 2, Duration::from_secs(10)),
        "{:?}",
        receiver.received
    );
    // A reload line marks the end: whatever SIGUSR1 made came before it.
    daemon.signal(libc::SIGHUP);
    receiver
        .wait_for(|m| is_event(m, "reload"), Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no reload: {:?}", receiver.received));
    let status = events(&receiver.received, "status");
    assert_eq!(status.len(), 2, "{:?}", receiver.received);
    let memory = logfmt(body(status[0]));
    assert_eq!(field(&memory, "resource"), Some("memory"));
    assert_eq!(field(&memory, "state"), Some("idle"));
    assert!(field(&memory, "avg10").is_some(), "{:?}", status[0]);
    assert_eq!(field(&memory, "duration_s"), Some("0.0"));
    assert_eq!(field(&memory, "cgroup"), Some(group.name.as_str()));
    assert!(
        status[1].contains("resource=io kind=full"),
        "{:?}",
        status[1]
    );
    assert!(status[0].starts_with("<30>"));
}

/// Heartbeats are due at multiples of the interval from the start, on the daemon's
/// monotonic clock: the k-th says uptime_s=k.x, and cannot arrive before k seconds
/// after the daemon was started. A busy machine can only delay them.
#[test]
fn heartbeat_lines_come_at_their_interval() {
    let _lock = exclusive();
    let group = TestCgroup::create("heartbeat");
    let mut receiver = Receiver::new("heartbeat");
    let spawned = Instant::now();
    let _daemon = Daemon::spawn(&[
        "-t",
        &group.spec("memory:some:10%:2s"),
        "--heartbeat",
        "1s",
        "--socket",
        receiver.path_str(),
    ]);
    receiver
        .wait_for(is_start, Duration::from_secs(10))
        .expect("start line");
    let mut arrivals = Vec::new();
    while arrivals.len() < 3 {
        let seen = count_events(&receiver.received, "heartbeat");
        assert!(
            receiver.wait_until(
                |r| count_events(r, "heartbeat") > seen,
                Duration::from_secs(10)
            ),
            "{:?}",
            receiver.received
        );
        arrivals.push(spawned.elapsed());
    }
    let beats = events(&receiver.received, "heartbeat");
    for (index, (beat, arrival)) in beats.iter().zip(&arrivals).enumerate() {
        let k = index as u64 + 1;
        assert_eq!(
            seconds_ms(beat, "uptime_s") / 1000,
            k,
            "heartbeat {k} is not due at {k} s: {beats:?}"
        );
        assert!(
            *arrival >= Duration::from_secs(k),
            "heartbeat {k} came {arrival:?} after the start: {beats:?}"
        );
    }
    assert!(
        body(beats[0]).starts_with("event=heartbeat triggers=1 active=0 uptime_s="),
        "{}",
        beats[0]
    );
}

#[test]
fn check_arms_every_trigger_and_prints_the_configuration() {
    let path = config_file(
        "check",
        "trigger memory:some:10%:2s\ntrigger io:full:15%:4s\nfacility local3\n",
    );
    let (status, stdout, stderr) =
        run_to_exit(Command::new(BIN).arg("-c").arg(&path).arg("--check"));
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains("2 trigger(s) accepted by the kernel"),
        "{stdout}"
    );
    assert!(
        stdout.contains("\ntrigger memory:some:200000:2000000\ntrigger io:full:600000:4000000\n"),
        "{stdout}"
    );
    assert!(stdout.contains("\nfacility local3\n"), "{stdout}");
    let (status, _, stderr) = run_to_exit(Command::new("setpriv").args([
        "--bounding-set",
        "-sys_resource",
        BIN,
        "--check",
        "-t",
        "cpu:some:1ms:1s",
    ]));
    assert_eq!(status.code(), Some(77), "{stderr}");
}

#[test]
fn print_shows_the_pressure_table() {
    let group = TestCgroup::create("print");
    let (status, stdout, stderr) =
        run_to_exit(Command::new(BIN).args(["--print", "--cgroup", &group.name]));
    assert_eq!(status.code(), Some(0), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("RESOURCE KIND"), "{stdout}");
    for (resource, kind, cgroup) in [
        ("cpu", "some", "/"),
        ("memory", "full", "/"),
        ("io", "some", group.name.as_str()),
    ] {
        assert!(
            lines.iter().any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.first() == Some(&resource) && f.get(1) == Some(&kind) && f.last() == Some(&cgroup)
            }),
            "{resource} {kind} {cgroup}: {stdout}"
        );
    }
    // A cgroup named by a trigger is printed too.
    let spec = format!("memory:some:10%:2s:{}", group.name);
    let (status, stdout, stderr) = run_to_exit(Command::new(BIN).args(["--print", "-t", &spec]));
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("memory") && l.ends_with(group.name.as_str())),
        "{stdout}"
    );
    let (status, _, stderr) =
        run_to_exit(Command::new(BIN).args(["--print", "--cgroup", "/no-such-group"]));
    assert_eq!(status.code(), Some(69), "{stderr}");
}
