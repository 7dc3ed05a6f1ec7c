//! The harness every integration test shares: a lock that keeps tests which make
//! pressure apart from tests which assert silence, a real unix-socket receiver, the
//! daemon as a child process, and real CPU and I/O load.
#![allow(dead_code)]

use std::fs::{self, File};
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_psi-syslogd");

/// Held for the whole of a test. A file lock, not a mutex, so that it also holds across
/// test binaries and across test runners that start one process per test (nextest).
pub struct Exclusive(File);

pub fn exclusive() -> Exclusive {
    let path = std::env::temp_dir().join("psi-syslogd-tests.lock");
    let file = File::create(&path).expect("create the test lock file");
    // SAFETY: the descriptor is owned by `file`, which outlives the call.
    let result = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(result, 0, "flock {}", path.display());
    Exclusive(file)
}

/// A fresh directory under cargo's per-target temporary directory (on disk, not tmpfs,
/// so O_DSYNC writes there make real I/O pressure).
pub fn scratch_dir(name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "{name}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// A syslog receiver: a unix datagram socket the test owns, passed as --socket.
pub struct Receiver {
    pub path: PathBuf,
    socket: UnixDatagram,
    pub received: Vec<String>,
}

impl Receiver {
    pub fn new(name: &str) -> Receiver {
        let path = scratch_dir(name).join("log.sock");
        let socket = UnixDatagram::bind(&path).expect("bind receiver");
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Receiver {
            path,
            socket,
            received: Vec::new(),
        }
    }

    pub fn path_str(&self) -> &str {
        self.path.to_str().unwrap()
    }

    /// Receives until a datagram matches `wanted` or `timeout` passes; every datagram
    /// is kept in `received`.
    pub fn wait_for(&mut self, wanted: impl Fn(&str) -> bool, timeout: Duration) -> Option<String> {
        if let Some(found) = self.received.iter().find(|m| wanted(m)) {
            return Some(found.clone());
        }
        let deadline = Instant::now() + timeout;
        let mut buffer = [0u8; 4096];
        while Instant::now() < deadline {
            if let Ok(n) = self.socket.recv(&mut buffer) {
                let message = String::from_utf8_lossy(&buffer[..n]).into_owned();
                self.received.push(message.clone());
                if wanted(&message) {
                    return Some(message);
                }
            }
        }
        None
    }

    /// Everything that arrives within `duration`.
    pub fn collect_for(&mut self, duration: Duration) -> &[String] {
        self.wait_for(|_| false, duration);
        &self.received
    }
}

/// The daemon under test.
pub struct Daemon {
    pub child: Child,
}

impl Daemon {
    pub fn spawn(args: &[&str]) -> Daemon {
        Daemon::spawn_command(Command::new(BIN).args(args))
    }

    pub fn spawn_command(command: &mut Command) -> Daemon {
        let child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn psi-syslogd");
        Daemon { child }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill has no memory arguments.
        unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
    }

    /// Sends `signal` and waits for the exit; returns the status and stderr.
    pub fn stop_with(mut self, signal: libc::c_int) -> (ExitStatus, String) {
        self.signal(signal);
        let status = wait_timeout(&mut self.child, Duration::from_secs(10));
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        (status, stderr)
    }

    /// CPU seconds (utime + stime) the daemon has used, from /proc/PID/stat.
    pub fn cpu_ticks(&self) -> u64 {
        let stat = fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        let after_comm = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
        let fields: Vec<&str> = after_comm.split_whitespace().collect();
        // Fields 14 and 15 of stat(5), counted from the state field (3) here.
        fields
            .get(11)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
            + fields
                .get(12)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn wait_timeout(child: &mut Child, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("process {} did not exit within {timeout:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs the daemon to completion (for exit-status tests); returns status, stdout, stderr.
pub fn run_to_exit(command: &mut Command) -> (ExitStatus, String, String) {
    let output = command
        .stdin(Stdio::null())
        .output()
        .expect("run psi-syslogd");
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Busy loops, more than there are cores, until dropped.
pub struct CpuLoad(Vec<Child>);

impl CpuLoad {
    pub fn start(processes: usize) -> CpuLoad {
        CpuLoad(
            (0..processes)
                .map(|_| {
                    Command::new("sh")
                        .args(["-c", "while :; do :; done"])
                        .spawn()
                        .expect("spawn busy loop")
                })
                .collect(),
        )
    }

    pub fn pids(&self) -> Vec<u32> {
        self.0.iter().map(Child::id).collect()
    }
}

impl Drop for CpuLoad {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Synchronous 4 KiB writes until dropped: I/O pressure within a second or two.
pub struct IoLoad(Child, PathBuf);

impl IoLoad {
    pub fn start() -> IoLoad {
        let dir = scratch_dir("ioload");
        let file = dir.join("dsync.bin");
        let child = Command::new("dd")
            .arg("if=/dev/zero")
            .arg(format!("of={}", file.display()))
            .args(["bs=4k", "count=1000000", "oflag=dsync"])
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn dd");
        IoLoad(child, dir)
    }
}

impl Drop for IoLoad {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = fs::remove_dir_all(&self.1);
    }
}

/// The body of a syslog datagram (after `IDENT[PID]: `).
pub fn body(message: &str) -> &str {
    message
        .split_once("]: ")
        .map(|(_, body)| body)
        .unwrap_or("")
}

/// Parses a logfmt line into key/value pairs, undoing the quoting and escapes.
pub fn logfmt(line: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ' ' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() {
            return pairs;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.next() {
                            Some('n') => value.push('\n'),
                            Some('r') => value.push('\r'),
                            Some('t') => value.push('\t'),
                            Some('u') => {
                                let hex: String = chars.by_ref().take(4).collect();
                                value.push(
                                    char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap(),
                                );
                            }
                            Some(other) => value.push(other),
                            None => break,
                        },
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ' ' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
        }
        pairs.push((key, value));
    }
}

pub fn field<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

impl Receiver {
    /// A receiver bound at `path` (a path a previous receiver used, to play a syslogd
    /// that restarted).
    pub fn bind_at(path: &Path) -> Receiver {
        let socket = UnixDatagram::bind(path).expect("bind receiver");
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Receiver {
            path: path.to_path_buf(),
            socket,
            received: Vec::new(),
        }
    }
}

/// systemd-journald's binary, from Debian's systemd package (tests/deps.sh installs it).
pub fn journald_binary() -> &'static Path {
    [
        "/lib/systemd/systemd-journald",
        "/usr/lib/systemd/systemd-journald",
    ]
    .into_iter()
    .map(Path::new)
    .find(|p| p.is_file())
    .expect("systemd-journald (tests/deps.sh installs systemd)")
}

/// Shell lines, for a script run in a new mount namespace, that start a private
/// systemd-journald from `$JOURNALD` and wait for its sockets. /run and
/// /var/log/journal are tmpfs there, so the machine's journal is never written.
pub const PRIVATE_JOURNALD: &str = r#"
    mount -t tmpfs tmpfs /run
    if [ -d /var/log/journal ]; then mount -t tmpfs tmpfs /var/log/journal; fi
    mkdir -p /run/systemd/journal
    "$JOURNALD" &
    while [ ! -S /run/systemd/journal/socket ] || [ ! -S /run/systemd/journal/dev-log ]; do
        sleep 0.05
    done
"#;
