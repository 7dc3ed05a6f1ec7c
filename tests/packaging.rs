//! packaging/ checked with the tools its users run: the static build, the Debian
//! package (dpkg-deb, lintian, dpkg -i / -r / --purge on this machine), the systemd
//! unit (systemd-analyze verify and security), the init scripts (sh -n, shellcheck,
//! and the sysvinit script run for real). Every tool is installed by tests/deps.sh;
//! a missing one fails.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::*;

const TOP: &str = env!("CARGO_MANIFEST_DIR");

/// systemd-analyze security's exposure budget for the unit (issue 5).
const EXPOSURE_BUDGET: f64 = 2.0;

fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e} (tests/deps.sh installs it)"))
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_success(what: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{what}: {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        stdout(output),
        stderr(output)
    );
}

/// The nested cargo builds of the scripts get a target directory of their own, so they
/// never wait on the lock of the build that runs these tests.
fn nested_target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("packaging-target")
}

#[test]
fn build_static_makes_a_stripped_static_binary() {
    // A release build (and lintian) keeps both cores busy: real CPU pressure.
    let _lock = exclusive();
    let output = run(Command::new(format!("{TOP}/packaging/build-static.sh"))
        .env("CARGO_TARGET_DIR", nested_target_dir()));
    assert_success("packaging/build-static.sh", &output);
    let line = stdout(&output);
    // PATH SIZE bytes (LIBC static)
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert!(
        fields.len() == 5 && fields[2] == "bytes",
        "unexpected output: {line}"
    );
    let binary = Path::new(fields[0]);
    let size: u64 = fields[1].parse().expect("size in bytes");
    assert_eq!(fs::metadata(binary).unwrap().len(), size);

    let headers = run(Command::new("readelf").args(["-lW"]).arg(binary));
    assert_success("readelf -l", &headers);
    assert!(
        !stdout(&headers).contains("program interpreter"),
        "{} names a dynamic loader",
        binary.display()
    );
    let sections = run(Command::new("readelf").args(["-SW"]).arg(binary));
    assert!(
        !stdout(&sections).contains(".symtab"),
        "{} is not stripped",
        binary.display()
    );
    let version = run(Command::new(binary).arg("--version"));
    assert_success("static binary --version", &version);
    assert!(stdout(&version).starts_with("psi-syslogd "));
    eprintln!("static binary: {line}");
}

fn exposure(unit: &Path) -> f64 {
    let output = run(Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(unit));
    assert_success("systemd-analyze security", &output);
    let text = stdout(&output);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
    // "→ Overall exposure level for psi-syslogd.service: 0.4 SAFE 😀"
    line.rsplit_once(": ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|score| score.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the score in: {line}"))
}

#[test]
fn systemd_unit_verifies_and_is_hardened() {
    let unit = Path::new(TOP).join("packaging/systemd/psi-syslogd.service");
    let score = exposure(&unit);
    eprintln!("systemd-analyze security exposure: {score}");
    assert!(
        score <= EXPOSURE_BUDGET,
        "exposure {score} is over {EXPOSURE_BUDGET}"
    );

    // As shipped but for the binary's path (the package test verifies it unchanged,
    // installed, with its man page).
    let dir = scratch_dir("unit");
    let copy = dir.join("psi-syslogd.service");
    let text = fs::read_to_string(&unit).unwrap();
    assert!(text.contains("ExecStart=/usr/sbin/psi-syslogd -c /etc/psi-syslogd.conf\n"));
    fs::write(&copy, text.replace("/usr/sbin/psi-syslogd", BIN)).unwrap();
    let output = run(Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&copy));
    assert_success("systemd-analyze verify", &output);
    assert!(stderr(&output).is_empty(), "{}", stderr(&output));

    // The settings the daemon depends on, each for its reason (see the unit's comments).
    for line in [
        "Type=notify",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        "RestartPreventExitStatus=64 66 69 77 78",
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "RestrictAddressFamilies=AF_UNIX",
        "SystemCallFilter=@system-service",
    ] {
        assert!(text.lines().any(|l| l == line), "the unit lacks '{line}'");
    }
    // ProcSubset=pid would hide /proc/pressure.
    assert!(!text.lines().any(|l| l.starts_with("ProcSubset=")));
}

/// What DynamicUser=yes gives the daemon: a user with no capabilities. The default
/// triggers (2 s windows) must arm there.
#[test]
fn default_triggers_arm_without_root_or_capabilities() {
    let mut receiver = Receiver::new("unprivileged");
    fs::set_permissions(&receiver.path, fs::Permissions::from_mode(0o666)).unwrap();
    let daemon = Daemon::spawn_command(
        Command::new("setpriv")
            .args(UNPRIVILEGED)
            .args([BIN, "--socket"])
            .arg(&receiver.path),
    );
    let start = receiver
        .wait_for(
            |m| body(m).starts_with("event=start "),
            Duration::from_secs(10),
        )
        .unwrap_or_else(|| panic!("no event=start: {:?}", receiver.received));
    assert!(start.contains("triggers=3"), "{start}");
    let (status, stderr) = daemon.stop_with(libc::SIGTERM);
    assert!(status.success(), "{status}: {stderr}");
}

/// Every file under `roots`, recursively (directories too).
fn file_list(roots: &[&str]) -> BTreeSet<String> {
    let output = run(Command::new("find").args(roots).arg("-xdev"));
    stdout(&output).lines().map(str::to_string).collect()
}

/// Where a package can put or leave files. dpkg's database is compared on its own (its
/// status files are rewritten on every run); /var/log and caches change by themselves.
const SYSTEM_ROOTS: [&str; 7] = [
    "/etc",
    "/usr",
    "/lib",
    "/opt",
    "/srv",
    "/var/lib",
    "/var/spool",
];

fn dpkg(args: &[&str]) -> Output {
    let output = run(Command::new("dpkg").args(args));
    assert_success(&format!("dpkg {args:?}"), &output);
    output
}

fn is_installed(package: &str) -> bool {
    let output = run(Command::new("dpkg-query").args(["-W", "-f=${Status}", package]));
    stdout(&output).contains("installed") && !stdout(&output).contains("not-installed")
}

#[test]
fn debian_package_builds_lints_installs_and_removes_cleanly() {
    // A release build (and lintian) keeps both cores busy: real CPU pressure.
    let _lock = exclusive();
    assert!(
        !is_installed("psi-syslogd"),
        "psi-syslogd is already installed here; remove it first (dpkg --purge psi-syslogd)"
    );
    let dir = scratch_dir("deb");
    let output = run(Command::new(format!("{TOP}/packaging/debian/build-deb.sh"))
        .arg(&dir)
        .env("CARGO_TARGET_DIR", nested_target_dir()));
    assert_success("packaging/debian/build-deb.sh", &output);
    let package = stdout(&output).trim().to_string();
    assert!(Path::new(&package).is_file(), "{package}");

    let contents = stdout(&run(Command::new("dpkg-deb").args(["-c", &package])));
    for path in [
        "./usr/sbin/psi-syslogd",
        "./usr/share/man/man8/psi-syslogd.8.gz",
        "./usr/share/man/man5/psi-syslogd.conf.5.gz",
        "./usr/share/doc/psi-syslogd/README.md.gz",
        "./usr/share/doc/psi-syslogd/examples/rsyslog/alert.conf",
        "./lib/systemd/system/psi-syslogd.service",
        "./etc/psi-syslogd.conf",
        "./etc/rsyslog.d/psi-syslogd.conf",
        "./usr/share/doc/psi-syslogd/copyright",
    ] {
        assert!(
            contents.contains(&format!(" {path}\n")),
            "{path} missing:\n{contents}"
        );
    }
    let conffiles = stdout(&run(Command::new("dpkg-deb").args([
        "-I",
        &package,
        "conffiles",
    ])));
    assert_eq!(
        conffiles,
        "/etc/psi-syslogd.conf\n/etc/rsyslog.d/psi-syslogd.conf\n"
    );

    lint(&package);

    let before = file_list(&SYSTEM_ROOTS);
    let dpkg_info_before = file_list(&["/var/lib/dpkg/info"]);
    dpkg(&["-i", &package]);
    let installed = Command::new("/usr/sbin/psi-syslogd")
        .arg("--version")
        .output();
    // Verify the unit as installed, man page and binary in place.
    let verify =
        run(Command::new("systemd-analyze")
            .args(["verify", "/lib/systemd/system/psi-syslogd.service"]));
    let man = run(Command::new("man").args(["-w", "8", "psi-syslogd"]));
    let man_conf = run(Command::new("man").args(["-w", "5", "psi-syslogd.conf"]));
    let listed = stdout(&dpkg(&["-L", "psi-syslogd"]));
    // Then remove: conffiles stay (Debian policy), and purge takes them too.
    dpkg(&["-r", "psi-syslogd"]);
    let after_remove = file_list(&SYSTEM_ROOTS);
    dpkg(&["--purge", "psi-syslogd"]);
    let after_purge = file_list(&SYSTEM_ROOTS);
    let dpkg_info_after = file_list(&["/var/lib/dpkg/info"]);

    let installed = installed.expect("run the installed psi-syslogd");
    assert_success("installed psi-syslogd --version", &installed);
    assert_success("systemd-analyze verify (installed)", &verify);
    assert!(stderr(&verify).is_empty(), "{}", stderr(&verify));
    assert_success("man -w psi-syslogd", &man);
    assert_success("man -w 5 psi-syslogd.conf", &man_conf);
    assert!(listed.contains("/usr/sbin/psi-syslogd\n"), "{listed}");

    // dpkg keeps the list of a removed package's conffiles until it is purged.
    let conffiles_left: Vec<String> = [
        "/etc/psi-syslogd.conf",
        "/etc/rsyslog.d",
        "/etc/rsyslog.d/psi-syslogd.conf",
        "/var/lib/dpkg/info/psi-syslogd.list",
    ]
    .into_iter()
    .filter(|path| !before.contains(*path))
    .map(str::to_string)
    .collect();
    let left: Vec<String> = after_remove.difference(&before).cloned().collect();
    assert_eq!(left, conffiles_left, "dpkg -r left more than the conffiles");
    assert_eq!(
        after_purge
            .symmetric_difference(&before)
            .collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "dpkg --purge did not leave the machine as it was"
    );
    assert_eq!(dpkg_info_after, dpkg_info_before);
    assert!(!is_installed("psi-syslogd"));
}

/// lintian fails on any error or warning; info and pedantic tags are printed for the log.
fn lint(package: &str) {
    let lint = run(Command::new("lintian")
        .args(["--fail-on", "error,warning", "--display-info", "--pedantic"])
        .arg(package));
    assert_success(&format!("lintian {package}"), &lint);
    eprintln!("lintian {package}:\n{}", stdout(&lint));
}

/// The packages for the other architectures hold the static-pie binary of their
/// machine (tests/architectures.rs runs the same builds under qemu-user): built, checked
/// and linted here, and the packaged binary run under qemu-user; not installed.
#[test]
fn foreign_debian_packages_build_and_lint() {
    // The builds keep both cores busy: real CPU pressure.
    let _lock = exclusive();
    let dir = scratch_dir("foreign-deb");
    for (arch, machine, qemu) in [
        ("arm64", "AArch64", "qemu-aarch64-static"),
        ("armhf", "ARM", "qemu-arm-static"),
    ] {
        let output = run(Command::new(format!("{TOP}/packaging/debian/build-deb.sh"))
            .args(["--arch", arch])
            .arg(&dir)
            .env("CARGO_TARGET_DIR", nested_target_dir()));
        assert_success(&format!("build-deb.sh --arch {arch}"), &output);
        let package = stdout(&output).trim().to_string();
        assert!(
            package.ends_with(&format!("_{arch}.deb")) && Path::new(&package).is_file(),
            "{package}"
        );
        let field = |name: &str| {
            stdout(&run(Command::new("dpkg-deb").args(["-f", &package, name])))
                .trim()
                .to_string()
        };
        assert_eq!(field("Architecture"), arch);
        // A static binary depends on no library.
        assert_eq!(field("Depends"), "", "{package}");
        let contents = stdout(&run(Command::new("dpkg-deb").args(["-c", &package])));
        for path in [
            "./usr/sbin/psi-syslogd",
            "./usr/share/man/man8/psi-syslogd.8.gz",
            "./usr/share/man/man5/psi-syslogd.conf.5.gz",
            "./usr/share/doc/psi-syslogd/README.md.gz",
            "./lib/systemd/system/psi-syslogd.service",
            "./etc/psi-syslogd.conf",
            "./usr/share/doc/psi-syslogd/copyright",
            "./usr/share/lintian/overrides/psi-syslogd",
        ] {
            assert!(
                contents.contains(&format!(" {path}\n")),
                "{path} missing from {package}:\n{contents}"
            );
        }
        lint(&package);

        let unpacked = dir.join(arch);
        assert_success(
            "dpkg-deb -x",
            &run(Command::new("dpkg-deb")
                .args(["-x", &package])
                .arg(&unpacked)),
        );
        let binary = unpacked.join("usr/sbin/psi-syslogd");
        let headers = stdout(&run(Command::new("readelf").arg("-hlW").arg(&binary)));
        assert!(
            headers
                .lines()
                .any(|l| l.trim().strip_prefix("Machine:").map(str::trim) == Some(machine)),
            "{arch}: {headers}"
        );
        assert!(
            !headers.contains("program interpreter"),
            "{arch}: {headers}"
        );
        let version = run(Command::new(qemu).arg(&binary).arg("--version"));
        assert_success(&format!("{qemu} psi-syslogd --version"), &version);
        assert_eq!(
            stdout(&version),
            format!("psi-syslogd {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
}

/// Every shell script in packaging/ and tests/: its shell's -n, and shellcheck.
#[test]
fn shell_scripts_parse_and_pass_shellcheck() {
    let scripts = [
        ("sh", "packaging/build-static.sh"),
        ("sh", "packaging/static-pie-ld"),
        ("sh", "packaging/debian/build-deb.sh"),
        ("sh", "packaging/rpm/build-rpm.sh"),
        ("sh", "packaging/openrc/psi-syslogd"),
        ("sh", "packaging/sysvinit/psi-syslogd"),
        ("sh", "packaging/journald/psi-syslogd-follow"),
        ("sh", "packaging/busybox/psi-syslogd-logread"),
        ("bash", "tests/deps.sh"),
        ("bash", "tests/run.sh"),
        ("bash", "tests/soak.sh"),
    ];
    for (shell, script) in scripts {
        let path = Path::new(TOP).join(script);
        let output = run(Command::new(shell).arg("-n").arg(&path));
        assert_success(&format!("{shell} -n {script}"), &output);
    }
    // BusyBox's ash too: the appliance scripts run there.
    for script in [
        "packaging/sysvinit/psi-syslogd",
        "packaging/busybox/psi-syslogd-logread",
    ] {
        let output = run(Command::new("busybox")
            .args(["sh", "-n"])
            .arg(Path::new(TOP).join(script)));
        assert_success(&format!("busybox sh -n {script}"), &output);
    }
    let output = run(Command::new("shellcheck")
        .current_dir(TOP)
        .args(scripts.map(|(_, script)| script)));
    assert_success("shellcheck", &output);
}

/// The sysvinit/BusyBox script run for real, with Debian's start-stop-daemon: start
/// (as nobody), status, stop; only its paths rewritten.
#[test]
fn sysvinit_script_starts_reports_and_stops_the_daemon() {
    let dir = scratch_dir("sysvinit");
    let mut receiver = Receiver::new("sysvinit-log");
    fs::set_permissions(&receiver.path, fs::Permissions::from_mode(0o666)).unwrap();
    let defaults = dir.join("default");
    fs::write(
        &defaults,
        format!(
            "PSI_SYSLOGD_OPTS=\"--socket {} -t cpu:some:50%:2s\"\n",
            receiver.path_str()
        ),
    )
    .unwrap();
    let pidfile = dir.join("psi-syslogd.pid");
    let mut text =
        fs::read_to_string(Path::new(TOP).join("packaging/sysvinit/psi-syslogd")).unwrap();
    for (from, to) in [
        ("/usr/sbin/psi-syslogd", BIN),
        ("/run/psi-syslogd.pid", pidfile.to_str().unwrap()),
        ("/etc/default/psi-syslogd", defaults.to_str().unwrap()),
    ] {
        assert!(text.contains(from), "the script no longer names {from}");
        text = text.replace(from, to);
    }
    let script = dir.join("psi-syslogd");
    fs::write(&script, text).unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let init = |action: &str| run(Command::new(&script).arg(action));

    let status = init("status");
    assert_eq!(
        status.status.code(),
        Some(3),
        "status before start: {}",
        stdout(&status)
    );
    let started = init("start");
    // Stop whatever started even if an assertion below fails.
    struct StopOnDrop<'a>(&'a Path);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            let _ = Command::new(self.0).arg("stop").output();
        }
    }
    let _stop = StopOnDrop(&script);
    assert_success("init script start", &started);
    let start = receiver
        .wait_for(
            |m| body(m).starts_with("event=start "),
            Duration::from_secs(10),
        )
        .unwrap_or_else(|| panic!("no event=start: {:?}", receiver.received));
    let pid: u32 = fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(start.contains(&format!("psi-syslogd[{pid}]: ")), "{start}");
    let proc_status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let nobody = run(Command::new("id").args(["-u", "nobody"]));
    let uid_line = proc_status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid_line.split_whitespace().nth(1) == Some(stdout(&nobody).trim()),
        "not running as nobody: {uid_line}"
    );
    assert_success("init script status", &init("status"));

    assert_success("init script stop", &init("stop"));
    receiver
        .wait_for(
            |m| body(m).starts_with("event=stop "),
            Duration::from_secs(10),
        )
        .unwrap_or_else(|| panic!("no event=stop: {:?}", receiver.received));
    assert!(!pidfile.exists());
    assert_eq!(init("status").status.code(), Some(3));
}

/// The shipped default configuration is valid, and the kernel accepts its triggers.
#[test]
fn default_config_checks_clean() {
    let output = run(Command::new(BIN)
        .args(["--check", "-c"])
        .arg(Path::new(TOP).join("packaging/psi-syslogd.conf")));
    assert_success("psi-syslogd --check -c packaging/psi-syslogd.conf", &output);
    let effective = stdout(&output);
    for trigger in [
        "trigger memory:some:200000:2000000",
        "trigger io:full:300000:2000000",
        "trigger cpu:some:1000000:2000000",
    ] {
        assert!(effective.lines().any(|l| l == trigger), "{effective}");
    }
}

/// What systemd does with the unit, done by hand: the ExecStart= command line (paths
/// rewritten, plus --socket) as an unprivileged user without capabilities, as
/// DynamicUser=yes runs it; READY=1 on NOTIFY_SOCKET (Type=notify); SIGHUP
/// (ExecReload=) reloads and keeps it running; SIGTERM stops it with status 0.
#[test]
fn unit_command_line_notifies_reloads_and_stops() {
    let text =
        fs::read_to_string(Path::new(TOP).join("packaging/systemd/psi-syslogd.service")).unwrap();
    let exec_start = text
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart=");
    let config = Path::new(TOP).join("packaging/psi-syslogd.conf");
    let exec_start = exec_start
        .replace("/usr/sbin/psi-syslogd", BIN)
        .replace("/etc/psi-syslogd.conf", config.to_str().unwrap());

    let dir = scratch_dir("notify");
    let notify_path = dir.join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    fs::set_permissions(&notify_path, fs::Permissions::from_mode(0o666)).unwrap();
    let mut receiver = Receiver::new("notify-log");
    fs::set_permissions(&receiver.path, fs::Permissions::from_mode(0o666)).unwrap();

    let daemon = Daemon::spawn_command(
        Command::new("setpriv")
            .args(UNPRIVILEGED)
            .args(exec_start.split_whitespace())
            .arg("--socket")
            .arg(&receiver.path)
            .env("NOTIFY_SOCKET", &notify_path),
    );
    let mut buffer = [0u8; 512];
    let mut next_notification = || {
        let n = notify.recv(&mut buffer).ok()?;
        Some(String::from_utf8_lossy(&buffer[..n]).into_owned())
    };
    let Some(ready) = next_notification() else {
        let (status, stderr) = daemon.stop_with(libc::SIGTERM);
        panic!("no notification within 10 s; psi-syslogd: {status}: {stderr}");
    };
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready}");
    receiver
        .wait_for(
            |m| body(m).starts_with("event=start "),
            Duration::from_secs(10),
        )
        .unwrap_or_else(|| panic!("no event=start: {:?}", receiver.received));

    daemon.signal(libc::SIGHUP);
    receiver
        .wait_for(
            |m| body(m).starts_with("event=reload "),
            Duration::from_secs(10),
        )
        .unwrap_or_else(|| panic!("no event=reload after SIGHUP: {:?}", receiver.received));
    // Type=notify needs nothing on a reload; but a RELOADING=1 (systemd 253's
    // notify-reload protocol) left without a READY=1 would hold the unit in
    // "reloading" state. The daemon brackets every reload, so wait for the READY=1.
    let mut after_reload = Vec::new();
    while !after_reload.iter().any(|l| l == "READY=1") {
        let Some(notification) = next_notification() else {
            panic!("no READY=1 within 10 s of the reload: {after_reload:?}");
        };
        after_reload.extend(notification.lines().map(str::to_string));
    }
    let ready = after_reload.iter().position(|l| l == "READY=1").unwrap();
    assert!(
        after_reload[..ready].iter().any(|l| l == "RELOADING=1"),
        "READY=1 without RELOADING=1 before it: {after_reload:?}"
    );

    let (status, stderr) = daemon.stop_with(libc::SIGTERM);
    assert!(status.success(), "{status}: {stderr}");
    receiver
        .wait_for(
            |m| body(m).starts_with("event=stop "),
            Duration::from_secs(10),
        )
        .unwrap_or_else(|| panic!("no event=stop: {:?}", receiver.received));
}
