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

fn cgroup_mount() -> PathBuf {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
    psi_syslogd::cgroup::cgroup2_mount(&mountinfo).expect("a cgroup2 mount (tests need cgroup v2)")
}

/// A cgroup v2 group made for the test, removed on drop.
struct TestCgroup {
    name: String,
    dir: PathBuf,
}

impl TestCgroup {
    fn create(name: &str) -> TestCgroup {
        let name = format!("/psi-syslogd-test-{name}-{}", std::process::id());
        let dir = cgroup_mount().join(&name[1..]);
        fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        TestCgroup { name, dir }
    }

    fn recreate(&self) {
        fs::create_dir(&self.dir).unwrap();
    }

    fn adopt(&self, pids: &[u32]) {
        for pid in pids {
            fs::write(self.dir.join("cgroup.procs"), pid.to_string()).unwrap();
        }
    }

    fn remove(&self) {
        for _ in 0..50 {
            if fs::remove_dir(&self.dir).is_ok() || !self.dir.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("cannot remove {}", self.dir.display());
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.dir);
    }
}

#[test]
fn an_episode_is_one_pressure_then_reminders_then_recovered() {
    let _lock = exclusive();
    let mut receiver = Receiver::new("episode");
    // A 100 ms window (privileged, in a user namespace) crosses many times a second.
    let _daemon = Daemon::spawn_command(Command::new("unshare").args([
        "--user",
        "--map-root-user",
        BIN,
        "-t",
        "cpu:some:10000:100000",
        "--repeat",
        "1s",
        "--recover-after",
        "1500ms",
        "--socket",
        receiver.path_str(),
    ]));
    receiver
        .wait_for(is_start, Duration::from_secs(5))
        .expect("start line");
    let load = CpuLoad::start(4);
    receiver
        .wait_for(
            |m| body(m).starts_with("event=pressure "),
            Duration::from_secs(10),
        )
        .expect("pressure");
    receiver.collect_for(Duration::from_millis(3500));
    drop(load);
    let recovered = receiver
        .wait_for(
            |m| body(m).starts_with("event=recovered "),
            Duration::from_secs(10),
        )
        .unwrap_or_else(|| panic!("no recovered: {:?}", receiver.received));
    let received = receiver.received.clone();
    assert_eq!(events(&received, "pressure").len(), 1, "{received:?}");
    let ongoing = events(&received, "ongoing");
    assert!(ongoing.len() >= 2, "reminders every second: {received:?}");
    let first = logfmt(body(ongoing[0]));
    assert_eq!(field(&first, "resource"), Some("cpu"));
    assert_eq!(field(&first, "cgroup"), Some("/"));
    let crossings: u64 = field(&first, "crossings").unwrap().parse().unwrap();
    assert!(crossings >= 2, "{:?}", ongoing[0]);
    let duration: f64 = field(&first, "duration_s").unwrap().parse().unwrap();
    assert!((0.9..2.5).contains(&duration), "{:?}", ongoing[0]);
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
    let mut receiver = Receiver::new("cgroup");
    let spec = format!("cpu:some:50000:2s:{}", group.name);
    let daemon = Daemon::spawn(&[
        "-t",
        &spec,
        "-t",
        "memory:some:10%:2s",
        "--repeat",
        "0",
        "--socket",
        receiver.path_str(),
    ]);
    receiver
        .wait_for(is_start, Duration::from_secs(5))
        .expect("start line");
    let load = CpuLoad::start(4);
    group.adopt(&load.pids());
    let crossing = receiver
        .wait_for(
            |m| body(m).starts_with("event=pressure "),
            Duration::from_secs(15),
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
            Duration::from_secs(5),
        )
        .unwrap_or_else(|| panic!("no lost: {:?}", receiver.received));
    assert!(lost.starts_with("<27>"), "{lost}");
    assert_eq!(
        field(&logfmt(body(&lost)), "cgroup"),
        Some(group.name.as_str())
    );
    // The closed descriptor no longer wakes the loop: CPU time stays flat.
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
            Duration::from_secs(5),
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
            Duration::from_secs(15),
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
        "the quiet system-wide trigger fired: {:?}",
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
        .wait_for(is_start, Duration::from_secs(5))
        .expect("start line");
    receiver
        .wait_for(
            |m| body(m).starts_with("event=waiting "),
            Duration::from_secs(5),
        )
        .expect("waiting");
    let group = TestCgroup::create("absent");
    assert_eq!(group.name, name);
    receiver
        .wait_for(
            |m| body(m).starts_with("event=rearmed "),
            Duration::from_secs(5),
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
        .wait_for(is_start, Duration::from_secs(5))
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
            Duration::from_secs(5),
        )
        .unwrap_or_else(|| panic!("no reload: {:?}", receiver.received));
    assert!(reload.starts_with("<30>"), "{reload}");
    assert!(body(&reload).contains("triggers=2 kept=1"), "{reload}");

    fs::write(&path, "trigger memory:some:10%:2s\ntriger cpu:some:1:2s\n").unwrap();
    daemon.signal(libc::SIGHUP);
    let failed = receiver
        .wait_for(
            |m| body(m).starts_with("event=reload_failed "),
            Duration::from_secs(5),
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
            Duration::from_secs(5),
        )
        .unwrap_or_else(|| panic!("no second reload_failed: {:?}", receiver.received));
    assert!(failed.contains("cpu:some:100000:1000000"), "{failed}");

    // The cpu trigger of the last good configuration is still armed.
    let _load = CpuLoad::start(4);
    receiver
        .wait_for(
            |m| body(m).starts_with("event=pressure resource=cpu"),
            Duration::from_secs(15),
        )
        .unwrap_or_else(|| panic!("the old trigger did not survive: {:?}", receiver.received));
}

#[test]
fn sigusr1_logs_one_status_line_per_trigger() {
    let _lock = exclusive();
    let mut receiver = Receiver::new("status");
    let daemon = Daemon::spawn(&[
        "-t",
        "memory:some:10%:2s",
        "-t",
        "io:full:15%:2s",
        "--socket",
        receiver.path_str(),
    ]);
    receiver
        .wait_for(is_start, Duration::from_secs(5))
        .expect("start line");
    daemon.signal(libc::SIGUSR1);
    receiver.collect_for(Duration::from_secs(1));
    let status = events(&receiver.received, "status");
    assert_eq!(status.len(), 2, "{:?}", receiver.received);
    let memory = logfmt(body(status[0]));
    assert_eq!(field(&memory, "resource"), Some("memory"));
    assert_eq!(field(&memory, "state"), Some("idle"));
    assert!(field(&memory, "avg10").is_some(), "{:?}", status[0]);
    assert_eq!(field(&memory, "duration_s"), Some("0.0"));
    assert!(
        status[1].contains("resource=io kind=full"),
        "{:?}",
        status[1]
    );
    assert!(status[0].starts_with("<30>"));
}

#[test]
fn heartbeat_lines_come_at_their_interval() {
    let _lock = exclusive();
    let mut receiver = Receiver::new("heartbeat");
    let _daemon = Daemon::spawn(&[
        "-t",
        "memory:some:10%:2s",
        "--heartbeat",
        "1s",
        "--socket",
        receiver.path_str(),
    ]);
    receiver
        .wait_for(is_start, Duration::from_secs(5))
        .expect("start line");
    let began = Instant::now();
    let mut arrivals = Vec::new();
    while arrivals.len() < 3 && began.elapsed() < Duration::from_secs(6) {
        let before = receiver.received.len();
        if receiver
            .wait_for(
                |m| body(m).starts_with("event=heartbeat ") && !m.ends_with('#'),
                Duration::from_secs(2),
            )
            .is_some()
        {
            arrivals.push(began.elapsed());
            for m in &mut receiver.received[before..] {
                m.push('#');
            }
            for m in receiver
                .received
                .iter_mut()
                .filter(|m| body(m).starts_with("event=heartbeat "))
            {
                if !m.ends_with('#') {
                    m.push('#');
                }
            }
        }
    }
    assert_eq!(arrivals.len(), 3, "{:?}", receiver.received);
    let gap = arrivals[2] - arrivals[1];
    assert!(
        gap > Duration::from_millis(700) && gap < Duration::from_millis(1300),
        "{arrivals:?}"
    );
    let beat = receiver
        .received
        .iter()
        .find(|m| body(m).starts_with("event=heartbeat"))
        .unwrap();
    assert!(
        body(beat).starts_with("event=heartbeat triggers=1 active=0 uptime_s="),
        "{beat}"
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
