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
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
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
///
/// A receiver that goes away in the middle of a test goes with `stop`, never by being
/// dropped: datagrams the kernel accepted but nobody read die with the socket, and the
/// daemon, which saw them sent, cannot know. Dropped at the end of a test, when nothing
/// more is asserted, it may hold what it likes.
pub struct Receiver {
    pub path: PathBuf,
    socket: UnixDatagram,
    pub received: Vec<String>,
}

impl Receiver {
    pub fn new(name: &str) -> Receiver {
        Receiver::bind_at(&scratch_dir(name).join("log.sock"))
    }

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
        while Instant::now() < deadline {
            if let Some(message) = self.receive_one()
                && wanted(&message)
            {
                return Some(message);
            }
        }
        None
    }

    /// Receives until everything received so far satisfies `done`; false if `timeout`
    /// passed first.
    pub fn wait_until(&mut self, done: impl Fn(&[String]) -> bool, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while !done(&self.received) {
            if Instant::now() >= deadline {
                return false;
            }
            self.receive_one();
        }
        true
    }

    /// Everything that arrives within `duration`. Only for a test whose subject is a
    /// fixed duration (silence for so long); anything else waits for its condition.
    pub fn listen_for(&mut self, duration: Duration) -> &[String] {
        self.wait_for(|_| false, duration);
        &self.received
    }

    /// One datagram within the read timeout, kept in `received`.
    fn receive_one(&mut self) -> Option<String> {
        let mut buffer = [0u8; 4096];
        let n = self.socket.recv(&mut buffer).ok()?;
        let message = String::from_utf8_lossy(&buffer[..n]).into_owned();
        self.received.push(message.clone());
        Some(message)
    }

    /// Stops taking datagrams the way the sender sees: after `shutdown(SHUT_RD)` every
    /// send to this socket fails with EPIPE (seen on Linux 6.18: the kernel checks the
    /// receiver's RCV_SHUTDOWN under the same lock it queues under, so nothing gets in
    /// after this returns). What the socket already holds stays readable: `stop` takes it.
    pub fn refuse(&self) {
        // SAFETY: shutdown has no memory arguments; the descriptor is owned by `socket`.
        let result = unsafe { libc::shutdown(self.socket.as_raw_fd(), libc::SHUT_RD) };
        assert_eq!(
            result,
            0,
            "shutdown(SHUT_RD): {}",
            std::io::Error::last_os_error()
        );
    }

    /// The receiver goes away as a syslogd that stops does: it stops taking datagrams
    /// (`refuse`), reads every one the kernel had accepted, then closes its socket (sends
    /// then fail with ECONNREFUSED; the file stays until someone removes it). Returns
    /// every line this receiver got, the drained ones last.
    pub fn stop(mut self) -> Vec<String> {
        self.refuse();
        self.socket.set_nonblocking(true).unwrap();
        let mut buffer = [0u8; 4096];
        loop {
            match self.socket.recv(&mut buffer) {
                Ok(0) => break,
                Ok(n) => self
                    .received
                    .push(String::from_utf8_lossy(&buffer[..n]).into_owned()),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("draining the receiver: {e}"),
            }
        }
        std::mem::take(&mut self.received)
    }
}

/// The daemon under test. Its stderr is read as it comes (by a thread), so a test can
/// wait for what the daemon says there, and a chatty daemon never blocks on a full pipe.
pub struct Daemon {
    pub child: Child,
    stderr: Arc<Mutex<String>>,
    stderr_done: Arc<AtomicBool>,
}

impl Daemon {
    pub fn spawn(args: &[&str]) -> Daemon {
        Daemon::spawn_command(Command::new(BIN).args(args))
    }

    pub fn spawn_command(command: &mut Command) -> Daemon {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn psi-syslogd");
        let stderr = Arc::new(Mutex::new(String::new()));
        let stderr_done = Arc::new(AtomicBool::new(false));
        let mut pipe = child.stderr.take().expect("stderr pipe");
        let (text, done) = (Arc::clone(&stderr), Arc::clone(&stderr_done));
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                text.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
            done.store(true, Ordering::SeqCst);
        });
        Daemon {
            child,
            stderr,
            stderr_done,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill has no memory arguments.
        unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
    }

    /// What the daemon wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until the daemon's stderr satisfies `wanted`; panics after `timeout`.
    pub fn wait_for_stderr(&self, wanted: impl Fn(&str) -> bool, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.stderr();
            if wanted(&text) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "the daemon's stderr did not say it within {timeout:?}:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `signal` and waits for the exit; returns the status and stderr.
    pub fn stop_with(mut self, signal: libc::c_int) -> (ExitStatus, String) {
        self.signal(signal);
        let status = wait_timeout(&mut self.child, Duration::from_secs(30));
        (status, self.final_stderr())
    }

    /// Waits for the daemon to exit by itself; returns the status and stderr.
    pub fn wait_exit(mut self, timeout: Duration) -> (ExitStatus, String) {
        let status = wait_timeout(&mut self.child, timeout);
        (status, self.final_stderr())
    }

    /// stderr once the pipe is closed (or 5 s after the exit, if a process the daemon
    /// started still holds it).
    fn final_stderr(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.stderr_done.load(Ordering::SeqCst) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.stderr()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Clock ticks of CPU time (utime + stime, in USER_HZ) the daemon has used, from
    /// /proc/PID/stat.
    pub fn cpu_ticks(&self) -> u64 {
        proc_stat_field(self.pid(), 14) + proc_stat_field(self.pid(), 15)
    }

    /// A `VmRSS:`-style line of /proc/PID/status, in kB.
    pub fn status_kb(&self, key: &str) -> u64 {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in /proc/{}/status", self.pid()))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Field `number` (counted from 1, as proc_pid_stat(5) does) of /proc/PID/stat, as a
/// number; 0 when the process is gone.
pub fn proc_stat_field(pid: u32, number: usize) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command (field 2) may hold spaces and parentheses: count after its last ')'.
    let after_comm = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    after_comm
        .split_whitespace()
        .nth(number - 3)
        .and_then(|f| f.parse().ok())
        .unwrap_or(0)
}

/// USER_HZ, the unit of the CPU times in /proc/PID/stat: 100 on every Linux ABI.
pub const TICKS_PER_SECOND: u64 = 100;

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

/// Waits until `done` returns true, checking every 20 ms; panics with `what` after
/// `timeout`. For conditions a test cannot be told about, only look at.
pub fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
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

    /// Busy loops inside `cgroup`: they compete with each other, so the group's own CPU
    /// pressure is high however busy the rest of the machine is, and stops with them.
    pub fn start_in(cgroup: &TestCgroup, processes: usize) -> CpuLoad {
        let load = CpuLoad::start(processes);
        cgroup.adopt(&load.pids());
        load
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

/// The cgroup2 mount, from /proc/self/mountinfo.
pub fn cgroup_mount() -> PathBuf {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
    psi_syslogd::cgroup::cgroup2_mount(&mountinfo).expect("a cgroup2 mount (tests need cgroup v2)")
}

/// A cgroup v2 group made for the test, removed on drop (its processes killed first).
///
/// An empty group is the quiet place the tests need on a busy machine: its pressure
/// files count only its own tasks, so its stall stays zero whatever runs elsewhere.
pub struct TestCgroup {
    /// As a trigger names it: `/psi-syslogd-test-NAME-PID`.
    pub name: String,
    pub dir: PathBuf,
}

impl TestCgroup {
    pub fn create(name: &str) -> TestCgroup {
        let name = format!("/psi-syslogd-test-{name}-{}", std::process::id());
        TestCgroup::create_named(&name)
    }

    /// A group with exactly this name (relative to the cgroup2 root, with its `/`).
    pub fn create_named(name: &str) -> TestCgroup {
        let dir = cgroup_mount().join(&name[1..]);
        fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        TestCgroup {
            name: name.to_string(),
            dir,
        }
    }

    pub fn recreate(&self) {
        fs::create_dir(&self.dir).unwrap();
    }

    pub fn adopt(&self, pids: &[u32]) {
        for pid in pids {
            fs::write(self.dir.join("cgroup.procs"), pid.to_string()).unwrap();
        }
    }

    /// A trigger spec on this group: `RESOURCE:KIND:THRESHOLD:WINDOW` + the group.
    pub fn spec(&self, trigger: &str) -> String {
        format!("{trigger}:{}", self.name)
    }

    /// `total=` of the `some` line of the group's RESOURCE.pressure, in microseconds.
    pub fn some_total_us(&self, resource: &str) -> u64 {
        pressure_total_us(&self.dir.join(format!("{resource}.pressure")), "some")
    }

    /// Removes the (empty) group; panics if it cannot within 5 s.
    pub fn remove(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while fs::remove_dir(&self.dir).is_err() && self.dir.exists() {
            assert!(
                Instant::now() < deadline,
                "cannot remove {}",
                self.dir.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = fs::write(self.dir.join("cgroup.kill"), "1");
        let deadline = Instant::now() + Duration::from_secs(5);
        while fs::remove_dir(&self.dir).is_err() && self.dir.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `total=` of the KIND (`some`, `full`) line of a pressure file, in microseconds.
pub fn pressure_total_us(path: &Path, kind: &str) -> u64 {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.lines()
        .find(|line| line.starts_with(kind))
        .and_then(|line| line.rsplit_once("total="))
        .and_then(|(_, total)| total.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {kind} total in {}: {text}", path.display()))
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

/// Whether `message` (a datagram or a stored line) is this event: its body starts with
/// `event=NAME `.
pub fn is_event(message: &str, event: &str) -> bool {
    let body = match message.split_once("]: ") {
        Some((_, body)) => body,
        None => message,
    };
    body.starts_with(&format!("event={event} "))
}

/// How many of `messages` are this event.
pub fn count_events(messages: &[String], event: &str) -> usize {
    messages.iter().filter(|m| is_event(m, event)).count()
}

/// A key of a line's logfmt body, parsed as a number.
pub fn number(message: &str, key: &str) -> u64 {
    field(&logfmt(body(message)), key)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no numeric {key}= in {message}"))
}

/// A key given in seconds with one decimal (`uptime_s`, `duration_s`), in milliseconds.
pub fn seconds_ms(message: &str, key: &str) -> u64 {
    let pairs = logfmt(body(message));
    let value = field(&pairs, key).unwrap_or_else(|| panic!("no {key}= in {message}"));
    let (seconds, tenth) = value
        .split_once('.')
        .unwrap_or_else(|| panic!("{key}={value} has no decimal: {message}"));
    assert_eq!(tenth.len(), 1, "{key}={value}: {message}");
    seconds.parse::<u64>().unwrap() * 1000 + tenth.parse::<u64>().unwrap() * 100
}

/// The number of a heartbeat: which multiple of `interval` its `uptime_s` is.
///
/// Heartbeats are due at multiples of the interval from the start, and `uptime_s` is the
/// time the daemon sent one, cut to tenths. Counted this way a heartbeat the daemon
/// sent late keeps its number, unless the daemon was held up for a whole interval (it
/// then skips that heartbeat, as it should: it does not log two at once). So a gap
/// means a lost line, never a busy machine, with the interval a multiple of 100 ms.
pub fn heartbeat_number(message: &str, interval: Duration) -> u64 {
    let interval_ms = interval.as_millis() as u64;
    assert!(
        interval_ms.is_multiple_of(100),
        "the interval must be whole tenths"
    );
    seconds_ms(message, "uptime_s") / interval_ms
}

/// The heartbeat numbers among `messages`, in the order they came.
pub fn heartbeat_numbers(messages: &[String], interval: Duration) -> Vec<u64> {
    messages
        .iter()
        .filter(|m| is_event(m, "heartbeat"))
        .map(|m| heartbeat_number(m, interval))
        .collect()
}

/// Asserts that the heartbeats among `messages` come one after another, none missing,
/// none twice, none out of order; returns their numbers.
pub fn assert_contiguous_heartbeats(messages: &[String], interval: Duration) -> Vec<u64> {
    let numbers = heartbeat_numbers(messages, interval);
    for pair in numbers.windows(2) {
        assert_eq!(
            pair[1],
            pair[0] + 1,
            "a heartbeat is missing, twice or out of order: {numbers:?}"
        );
    }
    numbers
}

/// The `hh:mm:ss` of an RFC 3164 header (`<PRI>Mmm dd hh:mm:ss ...`), in seconds of
/// the day.
pub fn header_seconds(message: &str) -> u32 {
    let after_priority = message.split_once('>').unwrap().1;
    let clock = &after_priority[7..15];
    let parts: Vec<u32> = clock.split(':').map(|p| p.parse().unwrap()).collect();
    parts[0] * 3600 + parts[1] * 60 + parts[2]
}

/// The complete lines of a file another process is still appending to: a last line
/// without its newline is left out.
pub fn complete_lines(path: &Path) -> Vec<String> {
    let text = fs::read_to_string(path).unwrap_or_default();
    let complete = match text.rfind('\n') {
        Some(end) => &text[..=end],
        None => "",
    };
    complete.lines().map(str::to_string).collect()
}

/// A trigger the test arms itself, next to the daemon's, to see what the kernel sends:
/// a thread polls it and counts the notifications, and those that came with less stall
/// growth than the threshold (the kernel's spurious ones, shared/NOTES.md).
pub struct KernelProbe {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<(u64, u64)>>,
}

impl KernelProbe {
    /// Arms `some THRESHOLD WINDOW` (microseconds) on the pressure file `path`.
    pub fn arm(path: &Path, threshold_us: u64, window_us: u64) -> KernelProbe {
        use std::os::unix::fs::{FileExt, OpenOptionsExt};
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        let command = format!("some {threshold_us} {window_us}\0");
        file.write_all_at(command.as_bytes(), 0)
            .unwrap_or_else(|e| panic!("arm {command:?} on {}: {e}", path.display()));
        let total = move |file: &File| {
            let mut buffer = [0u8; 256];
            let n = file.read_at(&mut buffer, 0).unwrap_or(0);
            let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
            text.lines()
                .find(|l| l.starts_with("some"))
                .and_then(|l| l.rsplit_once("total="))
                .and_then(|(_, t)| t.trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let (mut notifications, mut spurious) = (0, 0);
            let mut previous = total(&file);
            while !stopping.load(Ordering::SeqCst) {
                let mut slot = libc::pollfd {
                    fd: file.as_raw_fd(),
                    events: libc::POLLPRI,
                    revents: 0,
                };
                // SAFETY: one pollfd, valid for the call.
                let ready = unsafe { libc::poll(&mut slot, 1, 100) };
                if ready > 0 && slot.revents & libc::POLLPRI != 0 {
                    let now = total(&file);
                    notifications += 1;
                    if now - previous < threshold_us {
                        spurious += 1;
                    }
                    previous = now;
                }
            }
            (notifications, spurious)
        });
        KernelProbe {
            stop,
            thread: Some(thread),
        }
    }

    /// Disarms; returns how many notifications came, and how many of them were spurious.
    pub fn finish(mut self) -> (u64, u64) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for KernelProbe {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// A receiver (or a whole namespace of them) in a process group of its own. Dropped:
/// the group is continued (a stopped member would not die), the leader gets SIGTERM
/// (a daemon stops its own children, such as rsyslog's alert commands), and after up
/// to 5 s the whole group SIGKILL, so nothing outlives the test or holds its pipes.
pub struct Background {
    child: Child,
    name: &'static str,
}

impl Background {
    pub fn spawn(name: &'static str, command: &mut Command) -> Background {
        use std::os::unix::process::CommandExt;
        let child = command
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Background { child, name }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails the test if the receiver has already exited (a config it refused).
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("{} exited: {status}", self.name);
        }
    }

    pub fn signal_group(&self, signal: libc::c_int) {
        // SAFETY: kill has no memory arguments; the negative pid is our own group.
        unsafe { libc::kill(-(self.child.id() as libc::pid_t), signal) };
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.signal_group(libc::SIGCONT);
        // SAFETY: kill has no memory arguments.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.signal_group(libc::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A shell script run after `PRIVATE_JOURNALD` in private mount and IPC namespaces, in a
/// process group of its own (`Background`).
pub struct PrivateJournal(Background);

impl PrivateJournal {
    /// Starts `script` (sh -eu) with `variables` set and `JOURNALD` naming journald.
    pub fn start(script: &str, variables: &[(&str, &str)]) -> PrivateJournal {
        let script = format!("{PRIVATE_JOURNALD}{script}");
        let mut command = Command::new("unshare");
        command
            .args(["--mount", "--ipc", "sh", "-euc", &script])
            .env("JOURNALD", journald_binary());
        for (key, value) in variables {
            command.env(key, value);
        }
        PrivateJournal(Background::spawn("a private journald", &mut command))
    }

    /// `journalctl -o export MATCHES...` on this journal, read inside its namespace.
    pub fn export(&self, matches: &[&str]) -> String {
        let output = Command::new("nsenter")
            .arg("-t")
            .arg(self.0.pid().to_string())
            .args(["-m", "journalctl", "-D", "/run/log/journal", "-o", "export"])
            .args(matches)
            .output()
            .expect("nsenter journalctl");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

/// A real syslog-ng in the foreground, in a process group of its own: `config` goes after
/// the `@version:` line of the syslog-ng installed, its state files into `dir`. `config`
/// must have it listen on `dir/log.sock`; returned once that socket exists.
pub fn syslog_ng(dir: &Path, config: &str) -> Background {
    let version = Command::new("syslog-ng")
        .arg("--version")
        .output()
        .expect("run syslog-ng (tests/deps.sh installs syslog-ng-core)");
    let version = String::from_utf8_lossy(&version.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Config version: ").map(str::to_string))
        .expect("syslog-ng --version names its config version");
    let file = dir.join("syslog-ng.conf");
    fs::write(&file, format!("@version: {version}\n{config}")).unwrap();
    let receiver = Background::spawn(
        "syslog-ng",
        Command::new("syslog-ng")
            .args(["-F", "--no-caps", "-f"])
            .arg(&file)
            .arg("-R")
            .arg(dir.join("persist"))
            .arg("-p")
            .arg(dir.join("pid"))
            .arg("-c")
            .arg(dir.join("ctl")),
    );
    let socket = dir.join("log.sock");
    wait_until("syslog-ng's socket", Duration::from_secs(20), || {
        socket.exists()
    });
    receiver
}

/// setpriv's arguments for what systemd's DynamicUser=yes gives: an unknown uid and
/// gid, no groups, no capabilities at all, no way to gain any.
pub const UNPRIVILEGED: [&str; 6] = [
    "--reuid=61000",
    "--regid=61000",
    "--clear-groups",
    "--inh-caps=-all",
    "--bounding-set=-all",
    "--no-new-privs",
];
