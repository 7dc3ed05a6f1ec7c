//! The alert rules in packaging/ against the real syslog daemons: rsyslog (and a
//! central rsyslog over TCP), syslog-ng, BusyBox syslogd and systemd-journald each run
//! for real with the rule files as shipped (only paths rewritten), psi-syslogd logs to
//! them, busy loops make real CPU pressure, and each test asserts what the receiver
//! stored, where the rule routed it, and that the alert command ran for event=pressure
//! and for nothing else. tests/deps.sh installs the daemons; a missing one fails.

mod common;

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const PACKAGING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/packaging");

/// The trigger every test arms: 50 ms of CPU stall in 2 s fires within about 2 s of
/// four busy loops on two cores (shared/NOTES.md), and needs no privilege.
const CPU_TRIGGER: &str = "cpu:some:50000:2s";

/// How long a crossing may take to reach the receiver and its alert command.
const PRESSURE_TIMEOUT: Duration = Duration::from_secs(40);

/// Where tests/deps.sh unpacks rsyslog (it conflicts with syslog-ng-core as a package).
fn rsyslog_root() -> PathBuf {
    let root = PathBuf::from(
        std::env::var("PSI_SYSLOGD_RSYSLOG_ROOT")
            .unwrap_or_else(|_| "/opt/psi-syslogd-tests/rsyslog".into()),
    );
    assert!(
        root.join("usr/sbin/rsyslogd").is_file(),
        "no rsyslogd under {}: run tests/deps.sh",
        root.display()
    );
    root
}

/// A file from packaging/, as shipped, with only the given paths rewritten. A rewrite
/// that no longer matches fails, so the test cannot drift from the file.
fn shipped(relative: &str, rewrites: &[(&str, &str)]) -> String {
    let path = Path::new(PACKAGING).join(relative);
    let mut text =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    for (from, to) in rewrites {
        assert!(
            text.contains(from),
            "{relative} no longer contains '{from}'"
        );
        text = text.replace(from, to);
    }
    text
}

/// The alert command the rules run: appends every line it reads to `output`.
fn alert_command(dir: &Path, output: &Path) -> PathBuf {
    let path = dir.join("psi-alert");
    fs::write(
        &path,
        format!(
            "#!/bin/sh\nwhile IFS= read -r line; do printf '%s\\n' \"$line\" >> '{}'; done\n",
            output.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

/// Waits until `path` holds a line for which `wanted` is true; returns that line.
fn wait_for_line(path: &Path, wanted: impl Fn(&str) -> bool, timeout: Duration) -> Option<String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(line) = read(path).lines().find(|l| wanted(l)) {
            return Some(line.to_string());
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_for_path(path: &Path, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} did not appear within {timeout:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn is_event(line: &str, event: &str, pid: u32) -> bool {
    line.contains(&format!("psi-syslogd[{pid}]")) && line.contains(&format!(" event={event} "))
}

/// Sends a line that looks like a pressure event but comes from another program: the
/// rules must route and alert on psi-syslogd's lines only.
fn send_impostor(socket: &Path) {
    let status = Command::new("logger")
        .arg("-u")
        .arg(socket)
        .args(["-t", "impostor", "-p", "daemon.warning"])
        .arg("event=pressure resource=cpu kind=some impostor=1")
        .status()
        .expect("run logger (bsdutils)");
    assert!(status.success(), "logger failed: {status}");
}

/// The line a test sends, until the alert command has it, to know that a follower
/// (`logread -f`, `journalctl --follow`) reads the log before the daemon starts: a
/// follower starts at the end of the log, and on a busy machine the daemon's first
/// `event=pressure` may come at once.
const ATTACH_MARKER: &str = "event=pressure attach-marker=1";

/// Shell lines for a namespace script: send ATTACH_MARKER as psi-syslogd (with `logger
/// ARGS`) every 100 ms until the alert command `$ALERTS` has it.
fn attach_follower(logger_args: &str) -> String {
    format!(
        r#"
        until grep -qs 'attach-marker=1' "$ALERTS"; do
            logger {logger_args} -i -t psi-syslogd -p daemon.warning "{ATTACH_MARKER}"
            sleep 0.1
        done
"#
    )
}

/// Every line of an alert command's output is an event=pressure of `pid` (or the
/// test's ATTACH_MARKER).
fn assert_alerts_only_pressure(alerts: &Path, pid: u32) {
    let text = read(alerts);
    assert!(!text.is_empty(), "the alert command never ran");
    for line in text.lines().filter(|l| !l.ends_with(ATTACH_MARKER)) {
        assert!(
            is_event(line, "pressure", pid),
            "the alert command ran for a line that is not this daemon's event=pressure: \
             {line}\nall alerts:\n{text}"
        );
    }
}

/// rsyslog's module directory in the unpacked package: usr/lib/MULTIARCH/rsyslog.
fn rsyslog_modules(root: &Path) -> PathBuf {
    fs::read_dir(root.join("usr/lib"))
        .expect("usr/lib in the unpacked rsyslog")
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.path().join("rsyslog"))
        .find(|dir| dir.join("imuxsock.so").is_file())
        .unwrap_or_else(|| panic!("no rsyslog modules under {}/usr/lib", root.display()))
}

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

fn rsyslogd(name: &'static str, root: &Path, config: &Path) -> Background {
    let modules = rsyslog_modules(root);
    // -N1 checks the configuration and exits: rsyslogd runs on with an action it
    // could not parse, so this is where a broken rule file shows.
    let check = Command::new(root.join("usr/sbin/rsyslogd"))
        .args(["-N1", "-f"])
        .arg(config)
        .arg("-M")
        .arg(&modules)
        .output()
        .expect("run rsyslogd -N1");
    let diagnostics = String::from_utf8_lossy(&check.stderr);
    assert!(
        check.status.success() && !diagnostics.contains("error"),
        "{name}: rsyslogd -N1 refused {}: {diagnostics}",
        config.display()
    );
    Background::spawn(
        name,
        Command::new(root.join("usr/sbin/rsyslogd"))
            .args(["-n", "-iNONE", "-f"])
            .arg(config)
            .arg("-M")
            .arg(&modules),
    )
}

/// rsyslog with packaging/rsyslog/{psi-syslogd,alert,forward}.conf, forwarding to a
/// second rsyslog on 127.0.0.1 with packaging/rsyslog/central.conf: the host's own
/// routing and alert, and the fleet's.
#[test]
fn rsyslog_routes_alerts_and_forwards_to_a_central_rsyslog() {
    let _lock = exclusive();
    let root = rsyslog_root();
    let dir = scratch_dir("rsyslog");
    let port = free_tcp_port().to_string();
    let port_setting = format!("port=\"{port}\"");

    // The central server.
    let central_dir = dir.join("central");
    fs::create_dir_all(central_dir.join("work")).unwrap();
    let central_alerts = central_dir.join("alerts");
    let central_alert = alert_command(&central_dir, &central_alerts);
    let per_host = format!("{}/%hostname%.log", central_dir.display());
    let central_config = format!(
        "global(workDirectory=\"{work}\")\n{rules}",
        work = central_dir.join("work").display(),
        rules = shipped(
            "rsyslog/central.conf",
            &[
                ("port=\"514\"", &port_setting),
                ("/var/log/psi-syslogd/%hostname%.log", &per_host),
                ("/usr/local/sbin/psi-alert", central_alert.to_str().unwrap()),
            ],
        )
    );
    fs::write(central_dir.join("rsyslog.conf"), central_config).unwrap();
    let mut central = rsyslogd("central rsyslogd", &root, &central_dir.join("rsyslog.conf"));

    // The host: its own socket, every line also to all.log with facility and severity.
    let socket = dir.join("log.sock");
    let routed = dir.join("psi-syslogd.log");
    let alerts = dir.join("alerts");
    let alert = alert_command(&dir, &alerts);
    fs::create_dir_all(dir.join("work")).unwrap();
    let host_config = format!(
        r#"global(workDirectory="{work}" localHostName="fleet-host-1")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{socket}" CreatePath="on")
template(name="TestAll" type="string"
         string="%syslogfacility-text% %syslogseverity-text% %programname% %procid%|%msg:2:$%\n")
action(type="omfile" file="{all}" template="TestAll")
{routing}
{alert}
{forward}
"#,
        work = dir.join("work").display(),
        socket = socket.display(),
        all = dir.join("all.log").display(),
        routing = shipped(
            "rsyslog/psi-syslogd.conf",
            &[("/var/log/psi-syslogd.log", routed.to_str().unwrap())],
        ),
        alert = shipped(
            "rsyslog/alert.conf",
            &[("/usr/local/sbin/psi-alert", alert.to_str().unwrap())],
        ),
        forward = shipped(
            "rsyslog/forward.conf",
            &[
                ("logs.example.net", "127.0.0.1"),
                ("port=\"514\"", &port_setting),
            ],
        ),
    );
    fs::write(dir.join("rsyslog.conf"), host_config).unwrap();
    let mut host = rsyslogd("rsyslogd", &root, &dir.join("rsyslog.conf"));
    wait_for_path(&socket, Duration::from_secs(10));

    let pid = run_against_receiver(&dir, &socket, &routed, &alerts, "the omprog alert");
    host.assert_running();
    central.assert_running();
    let all = read(&dir.join("all.log"));
    assert!(
        all.contains(&format!(
            "daemon warning psi-syslogd {pid}|event=pressure resource=cpu kind=some "
        )),
        "{all}"
    );
    // The omprog alert, with facility and severity.
    assert!(
        read(&alerts).starts_with(&format!(
            "fleet-host-1 psi-syslogd[{pid}] daemon.warning: event=pressure "
        )),
        "{}",
        read(&alerts)
    );

    // The fleet: the central server filed the events under the originating host.
    let central_file = central_dir.join("fleet-host-1.log");
    let pressure = wait_for_line(
        &central_file,
        |l| is_event(l, "pressure", pid),
        Duration::from_secs(10),
    )
    .unwrap_or_else(|| panic!("nothing forwarded to {}", central_file.display()));
    assert!(
        pressure.contains(&format!(
            " fleet-host-1 psi-syslogd[{pid}]: event=pressure "
        )),
        "{pressure}"
    );
    assert!(!read(&central_file).contains("impostor"));
    wait_for_line(
        &central_alerts,
        |l| is_event(l, "pressure", pid),
        Duration::from_secs(10),
    )
    .expect("the central omprog alert ran");
    assert_alerts_only_pressure(&central_alerts, pid);
    assert!(read(&central_alerts).starts_with("fleet-host-1 psi-syslogd["));
}

/// syslog-ng with packaging/syslog-ng/{psi-syslogd,alert}.conf.
#[test]
fn syslog_ng_routes_and_runs_the_program_destination() {
    let _lock = exclusive();
    let dir = scratch_dir("syslog-ng");
    let socket = dir.join("log.sock");
    let routed = dir.join("psi-syslogd.log");
    let alerts = dir.join("alerts");
    let alert = alert_command(&dir, &alerts);
    let config = format!(
        r#"options {{ chain-hostnames(no); }};
source s_src {{ unix-dgram("{socket}"); }};
destination d_test_all {{
    file("{all}" template("${{FACILITY}} ${{LEVEL}} ${{PROGRAM}} ${{PID}}|${{MESSAGE}}\n"));
}};
log {{ source(s_src); destination(d_test_all); }};
{routing}
{alert}
"#,
        socket = socket.display(),
        all = dir.join("all.log").display(),
        routing = shipped(
            "syslog-ng/psi-syslogd.conf",
            &[("/var/log/psi-syslogd.log", routed.to_str().unwrap())],
        ),
        alert = shipped(
            "syslog-ng/alert.conf",
            &[("/usr/local/sbin/psi-alert", alert.to_str().unwrap())],
        ),
    );
    let mut receiver = syslog_ng(&dir, &config);

    let pid = run_against_receiver(&dir, &socket, &routed, &alerts, "program()");
    receiver.assert_running();
    assert!(
        read(&alerts).contains(&format!(
            " psi-syslogd[{pid}] daemon.warning: event=pressure "
        )),
        "{}",
        read(&alerts)
    );
}

/// Runs psi-syslogd against a receiver that listens on `socket`, writes every line to
/// `dir/all.log` as `FACILITY SEVERITY PROGRAM PID|MESSAGE`, routes with the shipped rule
/// into `routed` and runs the shipped alert action (`action`) into `alerts`. Makes CPU
/// pressure, stops the daemon, and checks what every receiver must have done: facility
/// and severity as parsed, only this daemon's lines routed, and the action run for
/// `event=pressure` alone. Returns the daemon's pid.
fn run_against_receiver(
    dir: &Path,
    socket: &Path,
    routed: &Path,
    alerts: &Path,
    action: &str,
) -> u32 {
    let daemon = Daemon::spawn(&["-t", CPU_TRIGGER, "--socket", socket.to_str().unwrap()]);
    let pid = daemon.pid();
    send_impostor(socket);
    wait_for_line(
        routed,
        |l| is_event(l, "start", pid),
        Duration::from_secs(10),
    )
    .unwrap_or_else(|| panic!("no event=start in {}", routed.display()));

    let load = CpuLoad::start(4);
    wait_for_line(alerts, |l| is_event(l, "pressure", pid), PRESSURE_TIMEOUT).unwrap_or_else(
        || {
            panic!(
                "{action} never ran; all.log:\n{}",
                read(&dir.join("all.log"))
            )
        },
    );
    drop(load);
    let (status, stderr) = daemon.stop_with(libc::SIGTERM);
    assert!(status.success(), "psi-syslogd: {status}: {stderr}");
    wait_for_line(
        routed,
        |l| is_event(l, "stop", pid),
        Duration::from_secs(10),
    )
    .expect("event=stop routed");

    // Facility and severity as the receiver parsed them.
    let all = read(&dir.join("all.log"));
    assert!(
        all.contains(&format!("daemon info psi-syslogd {pid}|event=start ")),
        "{all}"
    );
    assert!(
        all.contains(&format!(
            "daemon warning psi-syslogd {pid}|event=pressure resource=cpu "
        )),
        "{all}"
    );
    // The routing rule: this daemon's lines, and only them.
    let routed_text = read(routed);
    assert!(
        routed_text
            .lines()
            .all(|l| l.contains(&format!(" psi-syslogd[{pid}]: event="))),
        "a line that is not psi-syslogd's was routed:\n{routed_text}"
    );
    assert!(
        routed_text.lines().any(|l| is_event(l, "pressure", pid)),
        "{routed_text}"
    );
    // The alert action: event=pressure only.
    assert_alerts_only_pressure(alerts, pid);
    pid
}

/// Runs `script` in a private mount and IPC namespace (so the receiver can own /dev/log
/// or /run/systemd/journal), with the variables given.
fn namespace(name: &'static str, script: &str, variables: &[(&str, &Path)]) -> Background {
    let mut command = Command::new("unshare");
    command.args(["--mount", "--ipc", "sh", "-euc", script]);
    for (key, value) in variables {
        command.env(key, value);
    }
    Background::spawn(name, &mut command)
}

fn read_pid(path: &Path) -> u32 {
    wait_for_path(path, Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(pid) = read(path).trim().parse() {
            return pid;
        }
        assert!(Instant::now() < deadline, "no pid in {}", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// BusyBox syslogd owns /dev/log in a private mount namespace; psi-syslogd uses its
/// default socket; packaging/busybox/psi-syslogd-logread filters logread -f.
#[test]
fn busybox_syslogd_stores_and_the_logread_filter_acts() {
    let _lock = exclusive();
    let dir = scratch_dir("busybox");
    let alerts = dir.join("alerts");
    let alert = alert_command(&dir, &alerts);
    // The script as shipped; logread is a BusyBox applet without a symlink on Debian.
    let follow = dir.join("psi-syslogd-logread");
    fs::write(&follow, shipped("busybox/psi-syslogd-logread", &[])).unwrap();
    fs::set_permissions(&follow, fs::Permissions::from_mode(0o755)).unwrap();
    let script = r#"
        mkdir -p "$DIR/dev" "$DIR/bin"
        mount -t tmpfs tmpfs "$DIR/dev"
        cp -a /dev/null /dev/zero /dev/urandom "$DIR/dev/"
        mount --bind "$DIR/dev" /dev
        ln -sf "$(command -v busybox)" "$DIR/bin/logread"
        busybox syslogd -n -C64 &
        while [ ! -S /dev/log ]; do sleep 0.05; done
        PATH="$DIR/bin:$PATH" "$FOLLOW" "$ALERT" &
    "#
    .to_string()
        + &attach_follower("")
        + r#"
        "$BIN" -t cpu:some:50000:2s &
        echo "$!" > "$DIR/psi-syslogd.pid"
        logger -t impostor -p daemon.warning "event=pressure resource=cpu kind=some impostor=1"
        wait
    "#;
    let mut receiver = namespace(
        "busybox syslogd namespace",
        &script,
        &[
            ("DIR", &dir),
            ("FOLLOW", &follow),
            ("ALERT", &alert),
            ("ALERTS", &alerts),
            ("BIN", Path::new(BIN)),
        ],
    );
    let pid = read_pid(&dir.join("psi-syslogd.pid"));
    // With -C, BusyBox syslogd keeps the log in its shared memory buffer only:
    // `logread` in the namespace's IPC namespace reads it.
    let namespace_pid = receiver.pid().to_string();
    let logread = || {
        let output = Command::new("nsenter")
            .arg("-t")
            .arg(&namespace_pid)
            .args(["-m", "-i", "busybox", "logread"])
            .output()
            .expect("run nsenter busybox logread");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !logread().lines().any(|l| is_event(l, "start", pid)) {
        assert!(
            Instant::now() < deadline,
            "no event=start in logread:\n{}",
            logread()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let load = CpuLoad::start(4);
    wait_for_line(&alerts, |l| is_event(l, "pressure", pid), PRESSURE_TIMEOUT)
        .unwrap_or_else(|| panic!("the logread filter never ran; logread:\n{}", logread()));
    drop(load);
    receiver.assert_running();

    let stored = logread();
    assert!(
        stored.contains(&format!(" daemon.info psi-syslogd[{pid}]: event=start ")),
        "{stored}"
    );
    assert!(
        stored.contains(&format!(
            " daemon.warn psi-syslogd[{pid}]: event=pressure resource=cpu "
        )),
        "{stored}"
    );
    assert!(stored.contains(" impostor: event=pressure"), "{stored}");
    assert_alerts_only_pressure(&alerts, pid);
    assert!(
        read(&alerts).contains(" daemon.warn psi-syslogd["),
        "{}",
        read(&alerts)
    );
}

/// journald owns /run/systemd/journal in a private mount namespace; psi-syslogd
/// sends to its /dev/log socket; packaging/journald/psi-syslogd-follow acts on the
/// journal matches.
#[test]
fn journald_stores_and_the_follow_script_acts() {
    let _lock = exclusive();
    let dir = scratch_dir("journald");
    let alerts = dir.join("alerts");
    let alert = alert_command(&dir, &alerts);
    let follow = dir.join("psi-syslogd-follow");
    fs::write(&follow, shipped("journald/psi-syslogd-follow", &[])).unwrap();
    fs::set_permissions(&follow, fs::Permissions::from_mode(0o755)).unwrap();
    let journald = journald_binary();
    let script = format!(
        "{PRIVATE_JOURNALD}{}{}{}",
        r#"
        "$FOLLOW" "$ALERT" &
"#,
        attach_follower("-u /run/systemd/journal/dev-log"),
        r#"
        "$BIN" -t cpu:some:50000:2s --socket /run/systemd/journal/dev-log &
        echo "$!" > "$DIR/psi-syslogd.pid"
        logger -u /run/systemd/journal/dev-log -t impostor -p daemon.warning \
            "event=pressure resource=cpu kind=some impostor=1"
        wait
    "#
    );
    let mut receiver = namespace(
        "journald namespace",
        &script,
        &[
            ("DIR", &dir),
            ("JOURNALD", journald),
            ("FOLLOW", &follow),
            ("ALERT", &alert),
            ("ALERTS", &alerts),
            ("BIN", Path::new(BIN)),
        ],
    );
    let pid = read_pid(&dir.join("psi-syslogd.pid"));
    let load = CpuLoad::start(4);
    wait_for_line(&alerts, |l| is_event(l, "pressure", pid), PRESSURE_TIMEOUT)
        .expect("the journal follow script never ran");
    drop(load);
    receiver.assert_running();
    assert_alerts_only_pressure(&alerts, pid);

    // What journald stored, read inside the namespace.
    let output = Command::new("nsenter")
        .arg("-t")
        .arg(receiver.pid().to_string())
        .args(["-m", "journalctl", "-D", "/run/log/journal", "-o", "export"])
        .output()
        .expect("run nsenter journalctl");
    let export = String::from_utf8_lossy(&output.stdout);
    let entries: Vec<Vec<(&str, &str)>> = export
        .split("\n\n")
        .map(|entry| entry.lines().filter_map(|l| l.split_once('=')).collect())
        .collect();
    let find = |event: &str| {
        entries
            .iter()
            .find(|e| {
                e.iter().any(|(k, v)| {
                    *k == "MESSAGE"
                        && v.starts_with(&format!("event={event} "))
                        && *v != ATTACH_MARKER
                }) && e.contains(&("SYSLOG_IDENTIFIER", "psi-syslogd"))
            })
            .unwrap_or_else(|| panic!("no event={event} in the journal:\n{export}"))
    };
    let pid_text = pid.to_string();
    for (event, priority) in [("start", "6"), ("pressure", "4")] {
        let entry = find(event);
        for expected in [
            ("SYSLOG_IDENTIFIER", "psi-syslogd"),
            ("SYSLOG_PID", pid_text.as_str()),
            ("_PID", pid_text.as_str()),
            ("SYSLOG_FACILITY", "3"),
            ("PRIORITY", priority),
        ] {
            assert!(entry.contains(&expected), "{expected:?} missing: {entry:?}");
        }
    }
}

/// rsyslog with packaging/rsyslog/page.conf: a trigger given `severity=crit` is stored
/// at crit and pages; a warning trigger that crosses just the same does not page.
#[test]
fn rsyslog_pages_on_crit_lines_only() {
    let _lock = exclusive();
    let root = rsyslog_root();
    let dir = scratch_dir("rsyslog-page");
    let socket = dir.join("log.sock");
    let pages = dir.join("pages");
    let pager = alert_command(&dir, &pages);
    fs::create_dir_all(dir.join("work")).unwrap();
    let config = format!(
        r#"global(workDirectory="{work}")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{socket}" CreatePath="on")
template(name="TestAll" type="string"
         string="%syslogseverity-text% %programname% %procid%|%msg:2:$%\n")
action(type="omfile" file="{all}" template="TestAll")
{page}
"#,
        work = dir.join("work").display(),
        socket = socket.display(),
        all = dir.join("all.log").display(),
        page = shipped(
            "rsyslog/page.conf",
            &[("/usr/local/sbin/psi-page", pager.to_str().unwrap())],
        ),
    );
    fs::write(dir.join("rsyslog.conf"), config).unwrap();
    let mut rsyslog = rsyslogd("rsyslogd", &root, &dir.join("rsyslog.conf"));
    wait_for_path(&socket, Duration::from_secs(10));
    let daemon = Command::new(BIN)
        .args(["-t", CPU_TRIGGER, "-t"])
        .arg(format!("{CPU_TRIGGER} severity=crit name=page-me"))
        .args(["--repeat", "0", "--socket"])
        .arg(&socket)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn psi-syslogd");
    struct Stop(Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let daemon = Stop(daemon);
    let pid = daemon.0.id();
    let all = dir.join("all.log");
    wait_for_line(
        &all,
        |l| l.contains("|event=start "),
        Duration::from_secs(10),
    )
    .expect("the start line reached rsyslog");
    let load = CpuLoad::start(4);
    let page = wait_for_line(&pages, |l| is_event(l, "pressure", pid), PRESSURE_TIMEOUT)
        .unwrap_or_else(|| panic!("no page; rsyslog stored:\n{}", read(&all)));
    // Both triggers cross under the same load; only the crit one pages.
    wait_for_line(
        &all,
        |l| l.starts_with("warning ") && l.contains("|event=pressure ") && !l.contains("name="),
        PRESSURE_TIMEOUT,
    )
    .unwrap_or_else(|| panic!("the warning trigger did not cross:\n{}", read(&all)));
    drop(load);
    drop(daemon);
    rsyslog.assert_running();
    assert!(
        page.contains(&format!(" psi-syslogd[{pid}] daemon.crit: event=pressure ")),
        "{page}"
    );
    for line in read(&pages).lines() {
        assert!(
            line.contains(" daemon.crit: ") && line.contains(" name=page-me "),
            "paged for a line that is not crit: {line}"
        );
    }
    let stored = read(&all);
    let crossings: Vec<&str> = stored
        .lines()
        .filter(|l| l.contains("|event=pressure "))
        .collect();
    for line in &crossings {
        let crit = line.contains(" name=page-me ");
        let expected = if crit { "crit" } else { "warning" };
        assert!(
            line.starts_with(&format!("{expected} psi-syslogd {pid}|")),
            "{line}\n{stored}"
        );
    }
}
