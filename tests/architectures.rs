//! Every appliance binary, built by packaging/build-static.sh and run against this
//! machine's real kernel: x86_64 natively, aarch64 and armv7 under qemu-user
//! (qemu-user-static translates the instructions and passes the system calls through).
//! One build per architecture and flavour, shared by all the checks on it and by
//! tests/packaging.rs (the same nested target directory): --version, --check arming a
//! real trigger, a bad trigger refused with exit status 64, a failed write to stdout
//! refused with 71, and a real CPU crossing logged to a receiver socket with today's
//! date in its header.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;

const TOP: &str = env!("CARGO_MANIFEST_DIR");

/// The nested target directory tests/packaging.rs uses too: each build is made once.
fn nested_target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("packaging-target")
}

#[derive(Clone, Copy)]
struct Arch {
    /// build-static.sh's --arch.
    name: &'static str,
    /// readelf -h's Machine: line.
    machine: &'static str,
    /// The qemu-user emulator for it (Debian's qemu-user-static).
    qemu: &'static str,
}

const X86_64: Arch = Arch {
    name: "x86_64",
    machine: "Advanced Micro Devices X86-64",
    qemu: "qemu-x86_64-static",
};
const AARCH64: Arch = Arch {
    name: "aarch64",
    machine: "AArch64",
    qemu: "qemu-aarch64-static",
};
const ARMV7: Arch = Arch {
    name: "armv7",
    machine: "ARM",
    qemu: "qemu-arm-static",
};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn describe(output: &Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    )
}

/// Runs packaging/build-static.sh; returns the binary it printed, after checking the
/// line, the file and its ELF headers.
fn build(arch: Arch, tiny: bool) -> PathBuf {
    let mut command = Command::new(format!("{TOP}/packaging/build-static.sh"));
    command
        .args(["--arch", arch.name])
        .env("CARGO_TARGET_DIR", nested_target_dir());
    if tiny {
        command.arg("--tiny");
    }
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run packaging/build-static.sh: {e}"));
    assert!(
        output.status.success(),
        "build-static.sh --arch {} {}: {}",
        arch.name,
        if tiny { "--tiny" } else { "" },
        describe(&output)
    );
    // Its last line: PATH SIZE bytes (musl static-pie)
    let stdout = text(&output.stdout);
    let line = stdout.lines().last().unwrap_or("");
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert!(
        fields.len() == 5 && fields[2] == "bytes" && fields[3] == "(musl",
        "unexpected last line: {line}"
    );
    let binary = PathBuf::from(fields[0]);
    let size: u64 = fields[1].parse().expect("size in bytes");
    assert_eq!(fs::metadata(&binary).unwrap().len(), size);
    let tiny_dir = nested_target_dir().join("tiny");
    assert_eq!(
        binary.starts_with(&tiny_dir),
        tiny,
        "{} and the tiny build share a path",
        binary.display()
    );

    let headers = Command::new("readelf")
        .args(["-hlSW"])
        .arg(&binary)
        .output()
        .expect("readelf (tests/deps.sh installs binutils)");
    assert!(headers.status.success(), "readelf: {}", describe(&headers));
    let headers = text(&headers.stdout);
    let field = |name: &str| {
        headers
            .lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {name} in readelf's output:\n{headers}"))
    };
    assert_eq!(field("Machine:"), arch.machine, "{}", binary.display());
    // static-pie: position-independent (DYN), and no loader named.
    assert!(field("Type:").starts_with("DYN "), "{}", field("Type:"));
    assert!(
        !headers.contains("program interpreter"),
        "{} names a dynamic loader",
        binary.display()
    );
    assert!(
        !headers.contains(".symtab"),
        "{} is not stripped",
        binary.display()
    );
    if arch.name == "armv7" {
        assert!(field("Flags:").contains("hard-float ABI"), "{headers}");
    }
    eprintln!(
        "{} {}: {size} bytes",
        arch.name,
        if tiny { "tiny" } else { "default" }
    );
    binary
}

/// The binary as a command: directly when it is this machine's, else under qemu-user.
fn command(arch: Arch, binary: &Path) -> Command {
    if std::env::consts::ARCH == arch.name {
        Command::new(binary)
    } else {
        let mut command = Command::new(arch.qemu);
        command.arg(binary);
        command
    }
}

fn run(mut command: Command) -> Output {
    command.stdin(Stdio::null()).output().unwrap_or_else(|e| {
        panic!("cannot run {command:?}: {e} (tests/deps.sh installs qemu-user-static)")
    })
}

/// `Mmm dd` (day padded with a space), as an RFC 3164 header starts, in local time.
fn today() -> String {
    let output = Command::new("date")
        .arg("+%b %e ")
        .output()
        .expect("run date");
    text(&output.stdout).trim_end_matches('\n').to_string()
}

/// Everything a binary is asked here, in order: the build first, then each check.
fn build_and_run(arch: Arch, tiny: bool) {
    // The build keeps both cores busy (real CPU pressure), and the crossing needs load
    // of its own: both under the lock.
    let _lock = exclusive();
    let binary = build(arch, tiny);

    let version = run({
        let mut c = command(arch, &binary);
        c.arg("--version");
        c
    });
    assert!(
        version.status.success(),
        "--version: {}",
        describe(&version)
    );
    assert_eq!(
        text(&version.stdout),
        format!("psi-syslogd {}\n", env!("CARGO_PKG_VERSION"))
    );

    // --check arms the trigger with the kernel (and closes it again).
    let check = run({
        let mut c = command(arch, &binary);
        c.args(["--check", "-t", "cpu:some:50000:2s"]);
        c
    });
    assert!(check.status.success(), "--check: {}", describe(&check));
    let report = text(&check.stdout);
    assert!(
        report.contains("configuration valid, 1 trigger(s) accepted by the kernel"),
        "{report}"
    );
    assert!(
        report
            .lines()
            .any(|l| l == "trigger cpu:some:50000:2000000"),
        "{report}"
    );

    // The error path: quoted back, exit status 64 (no panic, which the tiny build could
    // not even report).
    let refused = run({
        let mut c = command(arch, &binary);
        c.args(["--check", "-t", "cpu:some:15O000:2s"]);
        c
    });
    assert_eq!(refused.status.code(), Some(64), "{}", describe(&refused));
    assert!(
        text(&refused.stderr).contains("15O000"),
        "{}",
        describe(&refused)
    );

    // A write that fails (stdout on a full device) is an error with status 71, not a
    // panic (which the tiny build would turn into SIGILL or SIGTRAP).
    let full = fs::File::create("/dev/full").expect("open /dev/full");
    let unwritten = run({
        let mut c = command(arch, &binary);
        c.args(["--check", "-t", "cpu:some:50000:2s"]).stdout(full);
        c
    });
    assert_eq!(
        unwritten.status.code(),
        Some(71),
        "{}",
        describe(&unwritten)
    );
    assert!(
        text(&unwritten.stderr).contains("cannot write to standard output: No space left"),
        "{}",
        describe(&unwritten)
    );

    // A real trigger armed, then a real crossing under CPU load, logged to our socket.
    let mut receiver = Receiver::new(&format!(
        "arch-{}{}",
        arch.name,
        if tiny { "-tiny" } else { "" }
    ));
    let today_before = today();
    let daemon = Daemon::spawn_command(command(arch, &binary).args([
        "-t",
        "cpu:some:50000:2s",
        "--socket",
        receiver.path_str(),
    ]));
    let start = receiver
        .wait_for(
            |m| body(m).starts_with("event=start "),
            Duration::from_secs(20),
        )
        .unwrap_or_else(|| panic!("no event=start: {:?}", receiver.received));
    assert!(
        start.contains(&format!("psi-syslogd[{}]: ", daemon.pid())),
        "{start}"
    );
    let pairs = logfmt(body(&start));
    assert_eq!(field(&pairs, "triggers"), Some("1"), "{start}");
    // The RFC 3164 timestamp is today's local date: time() and localtime_r() work in this
    // build's time ABI (armv7 uses musl's 64-bit time_t).
    let stamp = start.split_once('>').map(|(_, rest)| rest).unwrap_or("");
    assert!(
        [&today_before, &today()]
            .iter()
            .any(|day| stamp.starts_with(day.as_str())),
        "not today ({today_before}): {start}"
    );

    let load = CpuLoad::start(4);
    let crossing = receiver
        .wait_for(
            |m| body(m).starts_with("event=pressure resource=cpu "),
            Duration::from_secs(30),
        )
        .unwrap_or_else(|| panic!("no crossing under CPU load: {:?}", receiver.received));
    drop(load);
    let pairs = logfmt(body(&crossing));
    assert_eq!(field(&pairs, "kind"), Some("some"), "{crossing}");
    assert_eq!(field(&pairs, "threshold_us"), Some("50000"), "{crossing}");
    assert_eq!(field(&pairs, "window_us"), Some("2000000"), "{crossing}");
    let stall: u64 = field(&pairs, "stall_us")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no stall_us in {crossing}"));
    assert!(stall >= 50000, "a crossing below its threshold: {crossing}");

    let (status, stderr) = daemon.stop_with(libc::SIGTERM);
    assert!(status.success(), "{status}: {stderr}");
    receiver
        .wait_for(
            |m| body(m).starts_with("event=stop "),
            Duration::from_secs(5),
        )
        .unwrap_or_else(|| panic!("no event=stop: {:?}", receiver.received));
}

#[test]
fn x86_64_default() {
    build_and_run(X86_64, false);
}

#[test]
fn x86_64_tiny() {
    build_and_run(X86_64, true);
}

#[test]
fn aarch64_default() {
    build_and_run(AARCH64, false);
}

#[test]
fn aarch64_tiny() {
    build_and_run(AARCH64, true);
}

#[test]
fn armv7_default() {
    build_and_run(ARMV7, false);
}

#[test]
fn armv7_tiny() {
    build_and_run(ARMV7, true);
}
