//! A PSI trigger: what the user asks for (`Spec`), how it is checked against the
//! kernel's rules, and how it is armed on a pressure file.

use std::ffi::CString;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::episode::Episode;
use crate::error::{Error, Exit};
use crate::pressure::{self, Reading};
use crate::sys;

/// The kernel refuses windows longer than this (`WINDOW_MAX_US` in kernel/sched/psi.c).
pub const WINDOW_MAX_US: u32 = 10_000_000;
/// Without CAP_SYS_RESOURCE the window must be a multiple of the averaging period,
/// `PSI_FREQ` = 2 s (kernel commit d82caa273565, "sched/psi: Allow unprivileged polling
/// of N*2s period", Linux 6.5).
pub const UNPRIVILEGED_WINDOW_STEP_US: u32 = 2_000_000;

/// What a pressure file reports on: the first field of a spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Resource {
    Cpu,
    Memory,
    Io,
    Irq,
}

impl Resource {
    pub const ALL: [Resource; 4] = [Resource::Cpu, Resource::Memory, Resource::Io, Resource::Irq];

    pub fn name(self) -> &'static str {
        match self {
            Resource::Cpu => "cpu",
            Resource::Memory => "memory",
            Resource::Io => "io",
            Resource::Irq => "irq",
        }
    }

    fn parse(text: &str) -> Option<Resource> {
        Resource::ALL.into_iter().find(|r| r.name() == text)
    }
}

/// Which line of a pressure file: some tasks stalled, or all non-idle tasks stalled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stall {
    Some,
    Full,
}

impl Stall {
    pub fn name(self) -> &'static str {
        match self {
            Stall::Some => "some",
            Stall::Full => "full",
        }
    }

    fn parse(text: &str) -> Option<Stall> {
        match text {
            "some" => Some(Stall::Some),
            "full" => Some(Stall::Full),
            _ => None,
        }
    }
}

/// One trigger as the user asked for it, in the kernel's units.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Spec {
    pub resource: Resource,
    pub stall: Stall,
    pub threshold_us: u32,
    pub window_us: u32,
    /// The cgroup v2 group, relative to the cgroup2 root (`/system.slice/x.service`);
    /// `None` is system-wide (/proc/pressure).
    pub cgroup: Option<String>,
}

impl fmt::Display for Spec {
    /// The canonical form, which `Spec::parse` reads back to the same value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}:{}",
            self.resource.name(),
            self.stall.name(),
            self.threshold_us,
            self.window_us
        )?;
        match &self.cgroup {
            Some(cgroup) => write!(f, ":{cgroup}"),
            None => Ok(()),
        }
    }
}

impl Spec {
    /// Parses `RESOURCE:KIND:THRESHOLD:WINDOW[:CGROUP]`. Numbers are strict: a bare integer is
    /// microseconds, `us`/`ms`/`s` scale it, and the threshold may be `N%` of the window.
    /// Anything else, including `15O000`, is an error that quotes the text.
    pub fn parse(text: &str) -> Result<Spec, Error> {
        let bad = |why: String| {
            Error::new(
                Exit::Usage,
                format!(
                    "invalid trigger '{text}': {why}; expected \
                     RESOURCE:KIND:THRESHOLD:WINDOW[:CGROUP], e.g. memory:some:150ms:2s"
                ),
            )
        };
        // The cgroup, last, may itself contain ':'.
        let fields: Vec<&str> = text.splitn(5, ':').collect();
        let (resource, stall, threshold, window, cgroup) = match fields[..] {
            [r, k, t, w] => (r, k, t, w, None),
            [r, k, t, w, c] => (r, k, t, w, Some(c)),
            _ => return Err(bad(format!("it has {} field(s), not 4 or 5", fields.len()))),
        };
        let cgroup = match cgroup {
            None => None,
            Some(c) if c.starts_with('/') && !c.split('/').any(|p| p == ".." || p == ".") => {
                Some(c.to_string())
            }
            Some(c) => {
                return Err(bad(format!(
                    "cgroup '{c}' must start with '/' and have no '.' or '..' parts, as \
                     /proc/PID/cgroup names it (e.g. /system.slice/postgresql.service)"
                )));
            }
        };
        let resource = Resource::parse(resource).ok_or_else(|| {
            bad(format!(
                "unknown resource '{resource}' (use cpu, memory, io or irq)"
            ))
        })?;
        let stall = Stall::parse(stall)
            .ok_or_else(|| bad(format!("unknown kind '{stall}' (use some or full)")))?;
        if resource == Resource::Irq && stall == Stall::Some {
            return Err(bad("irq pressure has only a 'full' line".into()));
        }
        let window_us = parse_duration_us(window).map_err(|why| bad(format!("window {why}")))?;
        let threshold_us = match threshold.strip_suffix('%') {
            Some(percent) => parse_percent_of(percent, window_us)
                .map_err(|why| bad(format!("threshold '{threshold}' {why}")))?,
            None => parse_duration_us(threshold).map_err(|why| bad(format!("threshold {why}")))?,
        };
        if window_us == 0 {
            return Err(bad("the window must be longer than 0".into()));
        }
        if window_us > WINDOW_MAX_US {
            return Err(bad(format!(
                "the window {window_us}us is longer than the kernel's limit of 10s"
            )));
        }
        if threshold_us == 0 {
            return Err(bad("the threshold must be more than 0us".into()));
        }
        if threshold_us > window_us {
            return Err(bad(format!(
                "the threshold {threshold_us}us is longer than the window {window_us}us"
            )));
        }
        Ok(Spec {
            resource,
            stall,
            threshold_us,
            window_us,
            cgroup,
        })
    }

    /// Checks the rule the kernel applies to openers without CAP_SYS_RESOURCE.
    pub fn check_privilege(&self, privileged: bool) -> Result<(), Error> {
        if privileged || self.window_us.is_multiple_of(UNPRIVILEGED_WINDOW_STEP_US) {
            return Ok(());
        }
        Err(Error::new(
            Exit::NoPermission,
            format!(
                "cannot arm '{self}': without CAP_SYS_RESOURCE the kernel accepts only windows \
                 that are a multiple of 2s, and this one is {}us; use a window of 2s, 4s, ... 10s, \
                 or run psi-syslogd with CAP_SYS_RESOURCE (e.g. systemd \
                 AmbientCapabilities=CAP_SYS_RESOURCE)",
                self.window_us
            ),
        ))
    }

    /// The string the kernel parses, with the trailing NUL it needs: /proc's psi_write
    /// overwrites the last byte written with NUL, so without it `some 500000 2000000`
    /// arrives as a 200 ms window (../shared/NOTES.md; the kernel's own example writes
    /// strlen + 1 bytes).
    pub fn kernel_command(&self) -> Vec<u8> {
        format!(
            "{} {} {}\0",
            self.stall.name(),
            self.threshold_us,
            self.window_us
        )
        .into_bytes()
    }

    /// The pressure file this trigger is armed on: /proc/pressure/RESOURCE, or
    /// RESOURCE.pressure in the group's directory under the cgroup2 mount.
    pub fn path(&self, cgroup_mount: &Path) -> PathBuf {
        match &self.cgroup {
            None => PathBuf::from(format!("/proc/pressure/{}", self.resource.name())),
            Some(cgroup) => cgroup_mount
                .join(cgroup.trim_start_matches('/'))
                .join(format!("{}.pressure", self.resource.name())),
        }
    }
}

/// Parses a non-negative integer with an optional `us`, `ms` or `s` suffix into
/// microseconds. A bare integer is microseconds, as the kernel takes it.
pub fn parse_duration_us(text: &str) -> Result<u32, String> {
    const UNITS: [(&str, u64); 3] = [("us", 1), ("ms", 1_000), ("s", 1_000_000)];
    let us = parse_scaled(text, &UNITS, 1).ok_or_else(|| {
        format!("'{text}' is not a duration (an integer of microseconds, or with us, ms or s)")
    })?;
    u32::try_from(us).map_err(|_| format!("'{text}' is too large"))
}

/// An integer followed by one of `units` (suffix and scale, longest suffix that could
/// be confused first) or by nothing (`bare` scale). `None` for anything else, including
/// a product that overflows.
pub fn parse_scaled(text: &str, units: &[(&str, u64)], bare: u64) -> Option<u64> {
    let (digits, scale) = units
        .iter()
        .find_map(|&(suffix, scale)| Some((text.strip_suffix(suffix)?, scale)))
        .unwrap_or((text, bare));
    parse_integer(digits)?.checked_mul(scale)
}

/// `percent` (without its `%`) of `window_us`, rounded down. Up to three decimals.
fn parse_percent_of(percent: &str, window_us: u32) -> Result<u32, String> {
    let (whole, fraction) = percent.split_once('.').unwrap_or((percent, ""));
    let not_a_percentage = || "is not a percentage (e.g. 10% or 12.5%)".to_string();
    if fraction.len() > 3 || (percent.contains('.') && fraction.is_empty()) {
        return Err(not_a_percentage());
    }
    let whole = parse_integer(whole).ok_or_else(not_a_percentage)?;
    let fraction_value = if fraction.is_empty() {
        0
    } else {
        parse_integer(fraction).ok_or_else(not_a_percentage)?
    };
    // In thousandths of a percent, so 12.5% is 12500.
    let milli_percent = whole
        .checked_mul(1000)
        .and_then(|w| w.checked_add(fraction_value * 10u64.pow(3 - fraction.len() as u32)))
        .ok_or_else(not_a_percentage)?;
    if milli_percent == 0 || milli_percent > 100_000 {
        return Err("must be more than 0% and at most 100%".to_string());
    }
    Ok((u64::from(window_us) * milli_percent / 100_000) as u32)
}

/// ASCII digits only: no sign, no spaces, no underscores, at most 19 digits.
fn parse_integer(digits: &str) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Opens the spec's pressure file and writes the trigger. The trigger lives as long as
/// the returned descriptor.
pub fn arm(spec: &Spec, path: &Path) -> Result<OwnedFd, Error> {
    let path = path.display().to_string();
    let command = spec.kernel_command();
    let shown = String::from_utf8_lossy(&command[..command.len() - 1]).into_owned();
    let c_path = CString::new(path.clone()).map_err(|_| {
        Error::new(
            Exit::Usage,
            format!("cannot arm '{shown}': the path {path:?} contains a NUL byte"),
        )
    })?;
    let fd = sys::open(&c_path, libc::O_RDWR | libc::O_NONBLOCK)
        .map_err(|e| arm_error(spec, &shown, &path, "open", e))?;
    match sys::write(fd.as_fd(), &command) {
        Ok(n) if n == command.len() => Ok(fd),
        Ok(n) => Err(Error::new(
            Exit::OsError,
            format!(
                "cannot arm '{shown}' on {path}: the kernel took {n} of {} bytes",
                command.len()
            ),
        )),
        Err(e) => Err(arm_error(spec, &shown, &path, "write", e)),
    }
}

/// Maps an open/write failure to the exit code and the advice an operator needs.
fn arm_error(spec: &Spec, shown: &str, path: &str, operation: &str, error: io::Error) -> Error {
    let prefix =
        format!("cannot arm '{shown}' on {path} for trigger {spec} ({operation}): {error}");
    let errno = error.raw_os_error().unwrap_or(0);
    match errno {
        libc::EROFS if spec.cgroup.is_some() => Error::new(
            Exit::NoPermission,
            format!(
                "{prefix}; the cgroup filesystem is read-only here (systemd \
                 ProtectControlGroups=yes does that): set ProtectControlGroups=no for cgroup \
                 triggers"
            ),
        ),
        libc::ENOENT | libc::ENODEV | libc::ENOTDIR if spec.cgroup.is_some() => Error::new(
            Exit::Unavailable,
            format!(
                "{prefix}; the cgroup does not exist (or has no {} pressure file): start the \
                 service first, check the name in /proc/PID/cgroup, or use --wait-for-cgroups \
                 to arm the trigger when the cgroup appears",
                spec.resource.name()
            ),
        ),
        libc::ENOENT if spec.resource == Resource::Irq => Error::new(
            Exit::Unavailable,
            format!(
                "{prefix}; this kernel reports no irq pressure (it needs \
                 CONFIG_IRQ_TIME_ACCOUNTING and Linux 6.1 or later): drop the irq trigger"
            ),
        ),
        libc::ENOENT => Error::new(
            Exit::Unavailable,
            format!(
                "{prefix}; PSI is not available: the kernel needs CONFIG_PSI=y, and with \
                 CONFIG_PSI_DEFAULT_DISABLED=y it must be booted with psi=1"
            ),
        ),
        libc::EOPNOTSUPP => Error::new(
            Exit::Unavailable,
            format!("{prefix}; PSI is disabled on this kernel: boot it with psi=1"),
        ),
        libc::EACCES | libc::EPERM => Error::new(
            Exit::NoPermission,
            format!(
                "{prefix}; run psi-syslogd with permission to write {path} (kernels before \
                 6.5 let only CAP_SYS_RESOURCE arm triggers)"
            ),
        ),
        libc::EINVAL => Error::new(
            Exit::OsError,
            format!(
                "{prefix}; the kernel refused the trigger: kernels before 6.5 need \
                 CAP_SYS_RESOURCE and a window of at least 500ms"
            ),
        ),
        _ => Error::new(Exit::OsError, prefix),
    }
}

/// An armed trigger: the spec, the descriptor that keeps it alive, and the stall total
/// at its previous reading (arming, then each notification).
pub struct Trigger {
    pub spec: Spec,
    /// The pressure file, resolved once.
    pub path: PathBuf,
    /// `None` while the cgroup is gone (lost) or not there yet (waiting).
    pub fd: Option<OwnedFd>,
    pub previous_total_us: u64,
    /// The last reading, for status lines and reminders without another read.
    pub last_reading: Reading,
    pub episode: Episode,
}

/// A notification, read back from the trigger's own descriptor.
pub enum Notification {
    /// The stall grew by at least the threshold: log it.
    Crossing { reading: Reading, stall_us: u64 },
    /// The kernel woke us but the stall did not grow by the threshold.
    Spurious,
    /// The file could not be read or parsed; `reason` says why.
    Unreadable { reason: String },
}

/// Room for both lines of a pressure file (about 110 bytes) with plenty to spare.
const READ_BUFFER: usize = 256;

impl Trigger {
    /// Arms `spec` on `path` and takes the first reading.
    pub fn arm(spec: Spec, path: PathBuf) -> Result<Trigger, Error> {
        let mut trigger = Trigger::waiting(spec, path);
        trigger.rearm()?;
        Ok(trigger)
    }

    /// A trigger whose cgroup does not exist yet; `rearm` arms it.
    pub fn waiting(spec: Spec, path: PathBuf) -> Trigger {
        Trigger {
            spec,
            path,
            fd: None,
            previous_total_us: 0,
            last_reading: Reading::default(),
            episode: Episode::Idle,
        }
    }

    /// Arms (again) and takes the first reading, which later notifications are
    /// measured against. A re-created cgroup starts its counters from zero.
    pub fn rearm(&mut self) -> Result<(), Error> {
        let fd = arm(&self.spec, &self.path)?;
        let reading = read(fd.as_fd(), self.spec.stall).map_err(|reason| {
            Error::new(
                Exit::OsError,
                format!(
                    "cannot read {} after arming '{}': {reason}",
                    self.path.display(),
                    self.spec
                ),
            )
        })?;
        self.previous_total_us = reading.total_us;
        self.last_reading = reading;
        self.fd = Some(fd);
        Ok(())
    }

    /// Reads the pressure file now (for status lines).
    pub fn refresh(&mut self) -> Option<Reading> {
        let reading = read(self.fd.as_ref()?.as_fd(), self.spec.stall).ok()?;
        self.last_reading = reading;
        Some(reading)
    }

    /// Reads the stats after a POLLPRI and decides whether it was a real crossing.
    pub fn notification(&mut self) -> Notification {
        let Some(fd) = &self.fd else {
            return Notification::Unreadable {
                reason: "not armed".into(),
            };
        };
        match read(fd.as_fd(), self.spec.stall) {
            Ok(reading) => {
                self.last_reading = reading;
                let previous = std::mem::replace(&mut self.previous_total_us, reading.total_us);
                if pressure::is_real_crossing(previous, reading.total_us, self.spec.threshold_us) {
                    Notification::Crossing {
                        reading,
                        stall_us: reading.total_us - previous,
                    }
                } else {
                    Notification::Spurious
                }
            }
            Err(reason) => Notification::Unreadable { reason },
        }
    }
}

/// One pread of the pressure file through the trigger's descriptor, into a stack buffer.
fn read(fd: BorrowedFd<'_>, stall: Stall) -> Result<Reading, String> {
    let mut buffer = [0u8; READ_BUFFER];
    let len = sys::pread(fd, &mut buffer, 0).map_err(|e| e.to_string())?;
    pressure::parse(&buffer[..len], stall).ok_or_else(|| {
        format!(
            "no '{}' line in {:?}",
            stall.name(),
            String::from_utf8_lossy(&buffer[..len])
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(resource: Resource, stall: Stall, threshold_us: u32, window_us: u32) -> Spec {
        Spec {
            resource,
            stall,
            threshold_us,
            window_us,
            cgroup: None,
        }
    }

    #[test]
    fn accepted_forms() {
        use Resource::*;
        use Stall::*;
        let table = [
            (
                "memory:some:150000:1000000",
                spec(Memory, Some, 150_000, 1_000_000),
            ),
            (
                "memory:some:150ms:1s",
                spec(Memory, Some, 150_000, 1_000_000),
            ),
            (
                "memory:some:150000us:1000ms",
                spec(Memory, Some, 150_000, 1_000_000),
            ),
            ("memory:some:10%:2s", spec(Memory, Some, 200_000, 2_000_000)),
            ("io:full:15%:2s", spec(Io, Full, 300_000, 2_000_000)),
            ("cpu:some:50%:2s", spec(Cpu, Some, 1_000_000, 2_000_000)),
            ("cpu:full:12.5%:2s", spec(Cpu, Full, 250_000, 2_000_000)),
            ("cpu:some:0.001%:10s", spec(Cpu, Some, 100, 10_000_000)),
            ("cpu:some:100%:2s", spec(Cpu, Some, 2_000_000, 2_000_000)),
            ("irq:full:1ms:2s", spec(Irq, Full, 1_000, 2_000_000)),
            ("cpu:some:1:1", spec(Cpu, Some, 1, 1)),
            ("io:some:10s:10s", spec(Io, Some, 10_000_000, 10_000_000)),
            ("cpu:some:007ms:2s", spec(Cpu, Some, 7_000, 2_000_000)),
        ];
        for (text, expected) in table {
            assert_eq!(Spec::parse(text).unwrap(), expected, "{text}");
            // The canonical form reads back to the same spec.
            assert_eq!(Spec::parse(&expected.to_string()).unwrap(), expected);
        }
    }

    #[test]
    fn rejected_forms_quote_the_input_and_say_why() {
        let table = [
            (
                "memory:some:15O000:1s",
                "threshold '15O000' is not a duration",
            ),
            ("memory:some:150000", "it has 3 field(s), not 4 or 5"),
            ("memory:some:1:2:3", "cgroup '3' must start with '/'"),
            (
                "io:full:20%:2s:system.slice/x",
                "cgroup 'system.slice/x' must start with '/'",
            ),
            ("", "it has 1 field(s), not 4 or 5"),
            ("mem:some:1:2s", "unknown resource 'mem'"),
            ("Memory:some:1:2s", "unknown resource 'Memory'"),
            ("memory:most:1:2s", "unknown kind 'most'"),
            ("irq:some:1ms:2s", "irq pressure has only a 'full' line"),
            ("cpu:some:1ms:", "window '' is not a duration"),
            ("cpu:some:1ms:2 s", "window '2 s' is not a duration"),
            ("cpu:some:1ms:-2s", "window '-2s' is not a duration"),
            ("cpu:some:1ms:+2s", "window '+2s' is not a duration"),
            ("cpu:some:1ms:2m", "window '2m' is not a duration"),
            ("cpu:some:1ms:1.5s", "window '1.5s' is not a duration"),
            ("cpu:some:1ms:2S", "window '2S' is not a duration"),
            ("cpu:some:1ms:0", "the window must be longer than 0"),
            ("cpu:some:1ms:11s", "longer than the kernel's limit of 10s"),
            (
                "cpu:some:1ms:99999999999999999999s",
                "window '99999999999999999999s' is not",
            ),
            ("cpu:some:1ms:5000s", "window '5000s' is too large"),
            ("cpu:some:0:2s", "the threshold must be more than 0us"),
            ("cpu:some:0ms:2s", "the threshold must be more than 0us"),
            (
                "cpu:some:3s:2s",
                "the threshold 3000000us is longer than the window 2000000us",
            ),
            (
                "cpu:some:0%:2s",
                "threshold '0%' must be more than 0% and at most 100%",
            ),
            (
                "cpu:some:101%:2s",
                "threshold '101%' must be more than 0% and at most 100%",
            ),
            ("cpu:some:%:2s", "threshold '%' is not a percentage"),
            ("cpu:some:1.%:2s", "threshold '1.%' is not a percentage"),
            (
                "cpu:some:1.2345%:2s",
                "threshold '1.2345%' is not a percentage",
            ),
            ("cpu:some:-5%:2s", "threshold '-5%' is not a percentage"),
            (
                "cpu:some:0.00001%:2s",
                "threshold '0.00001%' is not a percentage",
            ),
            (
                "cpu:some:0.0001%:1",
                "threshold '0.0001%' is not a percentage",
            ),
        ];
        for (text, why) in table {
            let error = Spec::parse(text).unwrap_err();
            assert_eq!(error.exit, Exit::Usage, "{text}");
            assert!(
                error
                    .message
                    .starts_with(&format!("invalid trigger '{text}': ")),
                "{text}: {}",
                error.message
            );
            assert!(error.message.contains(why), "{text}: {}", error.message);
        }
    }

    #[test]
    fn a_percentage_that_rounds_to_nothing_is_refused() {
        let error = Spec::parse("cpu:some:0.001%:1ms").unwrap_err();
        assert!(
            error
                .message
                .contains("the threshold must be more than 0us")
        );
    }

    #[test]
    fn the_two_second_rule_applies_only_without_privilege() {
        let short = Spec::parse("cpu:some:100ms:1s").unwrap();
        assert!(short.check_privilege(true).is_ok());
        let error = short.check_privilege(false).unwrap_err();
        assert_eq!(error.exit, Exit::NoPermission);
        assert!(error.message.contains("'cpu:some:100000:1000000'"));
        assert!(error.message.contains("multiple of 2s"));
        assert!(error.message.contains("CAP_SYS_RESOURCE"));
        for window in ["2s", "4s", "6s", "8s", "10s"] {
            let spec = Spec::parse(&format!("cpu:some:1ms:{window}")).unwrap();
            assert!(spec.check_privilege(false).is_ok(), "{window}");
        }
    }

    #[test]
    fn the_kernel_command_carries_its_nul() {
        let spec = Spec::parse("memory:some:150000:1000000").unwrap();
        assert_eq!(spec.kernel_command(), b"some 150000 1000000\0");
        let mount = Path::new("/sys/fs/cgroup");
        assert_eq!(spec.path(mount), Path::new("/proc/pressure/memory"));
        let spec = Spec::parse("io:full:20%:2s:/system.slice/postgresql.service").unwrap();
        assert_eq!(
            spec.cgroup.as_deref(),
            Some("/system.slice/postgresql.service")
        );
        assert_eq!(
            spec.to_string(),
            "io:full:400000:2000000:/system.slice/postgresql.service"
        );
        assert_eq!(
            spec.path(mount),
            Path::new("/sys/fs/cgroup/system.slice/postgresql.service/io.pressure")
        );
        let colon = Spec::parse("cpu:some:1ms:2s:/a:b").unwrap();
        assert_eq!(colon.cgroup.as_deref(), Some("/a:b"));
    }
}
