//! Which of the kernel's rules refused a trigger, told from what the kernel answered,
//! and a way out that works on this kernel.
//!
//! Who may arm a PSI trigger changed three times, and distributions backport the
//! changes (Debian's 6.1 has 6.5's rule), so the version says little. The answers do,
//! and each rule has its own (kernel history; each seen for real by tests/kernels.rs
//! on Debian's 5.10, 6.1 and 6.12 except the 5.13-6.4 rule, which no Debian kernel has):
//!
//! - Up to 5.12 the /proc/pressure files are mode 0444 root: `open` for writing gives
//!   EACCES to everyone but root and CAP_DAC_OVERRIDE. CAP_SYS_RESOURCE does not help.
//! - 5.13 to 6.4 (commit 6db12ee0456d, "psi: allow unprivileged users with
//!   CAP_SYS_RESOURCE to write psi files") made them 0666, but `psi_open` gives EPERM
//!   to a writer without CAP_SYS_RESOURCE. Some kernels did the same on cgroup files
//!   (`cgroup_pressure_open`, later removed for 6.5+).
//! - From 6.5 (commit d82caa273565, "sched/psi: Allow unprivileged polling of N*2s
//!   period") anyone may open, and without CAP_SYS_RESOURCE in the opener's credentials
//!   the window must be a multiple of 2 s: `write` gives EINVAL.
//! - `write` also gives EINVAL for a `full` line the kernel does not have (cpu has one
//!   from 5.13) and, on older kernels (Debian's 6.1 included, not its 6.12), for a
//!   window under 500 ms.
//!
//! `explain` is the decision, a pure function of what was seen; `explain_refusal`
//! gathers that (the file's mode, its text, this process's credentials) when arming
//! failed, and `observe` asks the kernel directly for `--check`.

use std::ffi::CString;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::error::Exit;
use crate::pressure::{Resource, Stall};
use crate::roots::Roots;
use crate::spec::{Spec, UNPRIVILEGED_WINDOW_STEP_US};
use crate::sys;

/// Older kernels refuse shorter windows (`WINDOW_MIN_US` in kernel/sched/psi.c before
/// the minimum was dropped).
pub const OLD_WINDOW_MIN_US: u32 = 500_000;

/// The systemd drop-ins shipped in packaging/systemd/psi-syslogd.service.d/, for the
/// rules a setting of the unit can satisfy.
pub const DROP_IN_DAC_OVERRIDE: &str = "psi-syslogd.service.d/dac-override.conf";
pub const DROP_IN_SYS_RESOURCE: &str = "psi-syslogd.service.d/cap-sys-resource.conf";

/// The system call whose answer is being explained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Open,
    Write,
}

/// This process's standing with the kernel, from `geteuid` and `capget`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    pub euid: u32,
    pub sys_resource: bool,
    pub dac_override: bool,
}

/// What could be seen of the pressure file; `None` where it could not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileFacts {
    /// The permission bits (`st_mode & 0o7777`).
    pub mode: Option<u32>,
    pub owner: Option<u32>,
    /// Whether the file's text has a `full ` line.
    pub has_full_line: Option<bool>,
}

/// The rule behind a refusal, with the exit status and what to say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    pub exit: Exit,
    pub message: String,
}

fn explanation(exit: Exit, message: String) -> Explanation {
    Explanation { exit, message }
}

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

/// Which rule refused `spec` on `path` when `operation` failed with `errno`, given the
/// file and this process's credentials; and the way out that works here.
pub fn explain(
    operation: Operation,
    errno: i32,
    spec: &Spec,
    path: &str,
    credentials: &Credentials,
    file: &FileFacts,
) -> Explanation {
    let cgroup = spec.cgroup.is_some();
    let others_may_write = file.mode.map(|mode| mode & 0o002 != 0);
    let owner_writes = matches!((file.mode, file.owner), (Some(mode), Some(owner))
        if owner == credentials.euid && mode & 0o200 != 0);
    let mode = match (file.mode, file.owner) {
        (Some(mode), Some(0)) => format!("mode {mode:04o}, owner root"),
        (Some(mode), Some(owner)) => format!("mode {mode:04o}, owner uid {owner}"),
        _ => "mode unknown".to_string(),
    };
    match (operation, errno) {
        (Operation::Open, libc::EACCES) if others_may_write == Some(false) && !owner_writes => {
            if cgroup {
                explanation(
                    Exit::NoPermission,
                    format!(
                        "{path} is {mode}: only its owner may open it for writing, and \
                         psi-syslogd runs as uid {}: run it as the file's owner, delegate the \
                         cgroup to psi-syslogd's user (chown its *.pressure files), or give \
                         it CAP_DAC_OVERRIDE",
                        credentials.euid
                    ),
                )
            } else {
                explanation(
                    Exit::NoPermission,
                    format!(
                        "this kernel lets only root open its pressure files for writing \
                         ({path} is {mode}; Linux before 5.13, e.g. Debian 11's 5.10), and \
                         CAP_SYS_RESOURCE does not get past a file mode: run psi-syslogd as \
                         root or with CAP_DAC_OVERRIDE (systemd: the drop-in \
                         {DROP_IN_DAC_OVERRIDE}, AmbientCapabilities=CAP_DAC_OVERRIDE; \
                         OpenRC and sysvinit: PSI_SYSLOGD_USER=root); it runs as uid {}, \
                         CAP_DAC_OVERRIDE: {}",
                        credentials.euid,
                        yes_no(credentials.dac_override)
                    ),
                )
            }
        }
        (Operation::Open, libc::EACCES) => explanation(
            Exit::NoPermission,
            format!(
                "{path} is {mode}, which lets psi-syslogd (uid {}) write it, so something \
                 else refused: a security module (AppArmor, SELinux) or a sandbox; see the \
                 audit log",
                credentials.euid
            ),
        ),
        (Operation::Open, libc::EPERM) if !credentials.sys_resource => explanation(
            Exit::NoPermission,
            format!(
                "this kernel lets only openers with CAP_SYS_RESOURCE arm triggers ({path} is \
                 {mode}; the rule of Linux 5.13 to 6.4, and of kernels that have it without \
                 6.5's relaxation for 2s windows): give psi-syslogd CAP_SYS_RESOURCE \
                 (systemd: the drop-in {DROP_IN_SYS_RESOURCE}, \
                 AmbientCapabilities=CAP_SYS_RESOURCE; OpenRC and sysvinit: \
                 PSI_SYSLOGD_USER=root) or run it as root"
            ),
        ),
        (Operation::Open, _) => explanation(
            Exit::NoPermission,
            format!(
                "psi-syslogd holds CAP_SYS_RESOURCE (uid {}), so it is not the kernel's \
                 capability rule that refused: a security module, a seccomp filter or a \
                 sandbox did; see the audit log",
                credentials.euid
            ),
        ),
        (Operation::Write, libc::EINVAL) => explain_invalid(spec, path, credentials, file),
        (Operation::Write, _) => explanation(
            Exit::NoPermission,
            format!(
                "the kernel refused the write (uid {}, CAP_SYS_RESOURCE: {}): a security \
                 module, a seccomp filter or a sandbox; see the audit log",
                credentials.euid,
                yes_no(credentials.sys_resource)
            ),
        ),
    }
}

/// EINVAL on a spec that passed `Spec::parse`: one of the kernel's own limits.
fn explain_invalid(
    spec: &Spec,
    path: &str,
    credentials: &Credentials,
    file: &FileFacts,
) -> Explanation {
    let resource = spec.resource.name();
    if spec.stall == Stall::Full && file.has_full_line == Some(false) {
        return explanation(
            Exit::Unavailable,
            format!(
                "this kernel reports no 'full' line for {resource} ({path} has only 'some'; \
                 cpu has one from Linux 5.13): use {resource}:some:... instead, or drop the \
                 trigger"
            ),
        );
    }
    let short = spec.window_us < OLD_WINDOW_MIN_US;
    if !credentials.sys_resource && !spec.window_us.is_multiple_of(UNPRIVILEGED_WINDOW_STEP_US) {
        return explanation(
            Exit::NoPermission,
            format!(
                "without CAP_SYS_RESOURCE this kernel accepts only windows that are a multiple \
                 of 2s, and this one is {}us: use a window of 2s, 4s, ... 10s, or give \
                 psi-syslogd CAP_SYS_RESOURCE (systemd: the drop-in {DROP_IN_SYS_RESOURCE}, \
                 AmbientCapabilities=CAP_SYS_RESOURCE){}",
                spec.window_us,
                if short {
                    "; with it, older kernels still want a window of at least 500ms"
                } else {
                    ""
                }
            ),
        );
    }
    if short {
        return explanation(
            Exit::OsError,
            format!(
                "this kernel's shortest window is 500ms (newer kernels dropped that minimum) \
                 and this one is {}us: use a window of at least 500ms",
                spec.window_us
            ),
        );
    }
    explanation(
        Exit::OsError,
        format!(
            "the kernel refused the trigger for a reason psi-syslogd cannot tell (threshold \
             {}us, window {}us, uid {}, CAP_SYS_RESOURCE: {})",
            spec.threshold_us,
            spec.window_us,
            credentials.euid,
            yes_no(credentials.sys_resource)
        ),
    )
}

/// This process's credentials; `None` when capget fails (then nothing is claimed
/// about capabilities).
pub fn credentials() -> Option<Credentials> {
    let capabilities = sys::effective_capabilities().ok()?;
    Some(Credentials {
        euid: sys::effective_uid(),
        sys_resource: capabilities & (1 << sys::CAP_SYS_RESOURCE) != 0,
        dac_override: capabilities & (1 << sys::CAP_DAC_OVERRIDE) != 0,
    })
}

/// The file's mode and owner, and whether its text has a `full` line.
pub fn file_facts(path: &Path) -> FileFacts {
    let metadata = std::fs::metadata(path).ok();
    let has_full_line = std::fs::read(path).ok().map(|text| {
        text.split(|&b| b == b'\n')
            .any(|line| line.starts_with(b"full "))
    });
    FileFacts {
        mode: metadata.as_ref().map(|m| m.mode() & 0o7777),
        owner: metadata.as_ref().map(MetadataExt::uid),
        has_full_line,
    }
}

/// `explain` with the facts gathered now (after a failed open or write of `spec` on
/// `path`). Without capget, the credentials are taken as none: the advice is then for
/// an unprivileged process, which is what a failing capget suggests.
pub fn explain_refusal(operation: Operation, errno: i32, spec: &Spec, path: &Path) -> Explanation {
    let credentials = credentials().unwrap_or(Credentials {
        euid: sys::effective_uid(),
        ..Credentials::default()
    });
    explain(
        operation,
        errno,
        spec,
        &path.display().to_string(),
        &credentials,
        &file_facts(path),
    )
}

/// What the kernel answered to one probe: armed, or refused at open or write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Armed,
    Refused(Operation, i32),
}

/// What this kernel allows this process, asked of it directly (for `--check`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Observed {
    pub credentials: Option<Credentials>,
    pub file: FileFacts,
    /// `some 1 2000000`: the default triggers' kind of window.
    pub window_2s: Answer,
    /// `some 1 1000000`: off the 2 s grid.
    pub window_1s: Answer,
    /// `some 1 100000`: under the old 500 ms minimum.
    pub window_100ms: Answer,
    pub irq: bool,
}

/// Probes the system-wide cpu file with three triggers (each closed at once) and looks
/// at the files. The probes are real triggers, so what they report is what arming does.
pub fn observe(roots: &Roots) -> Observed {
    let path = roots.system_pressure(Resource::Cpu);
    Observed {
        credentials: credentials(),
        file: file_facts(&path),
        window_2s: probe(&path, b"some 1 2000000\0"),
        window_1s: probe(&path, b"some 1 1000000\0"),
        window_100ms: probe(&path, b"some 1 100000\0"),
        irq: roots.system_pressure(Resource::Irq).exists(),
    }
}

fn probe(path: &Path, command: &[u8]) -> Answer {
    let errno = |e: std::io::Error| e.raw_os_error().unwrap_or(0);
    let Ok(c_path) = CString::new(path.as_os_str().as_encoded_bytes()) else {
        return Answer::Refused(Operation::Open, libc::EINVAL);
    };
    let fd = match sys::open(&c_path, libc::O_RDWR | libc::O_NONBLOCK) {
        Ok(fd) => fd,
        Err(e) => return Answer::Refused(Operation::Open, errno(e)),
    };
    match sys::write(fd.as_fd(), command) {
        Ok(_) => Answer::Armed,
        Err(e) => Answer::Refused(Operation::Write, errno(e)),
    }
}

fn errno_name(errno: i32) -> String {
    match errno {
        libc::EACCES => "EACCES".into(),
        libc::EPERM => "EPERM".into(),
        libc::EINVAL => "EINVAL".into(),
        libc::ENOENT => "ENOENT".into(),
        libc::EOPNOTSUPP => "EOPNOTSUPP".into(),
        _ => format!("errno {errno}"),
    }
}

/// `--check`'s account of what this kernel allows this process: comment lines, one per
/// rule observed, so the output stays a valid configuration file.
pub fn describe(observed: &Observed, roots: &Roots) -> String {
    let cpu = roots.system_pressure(Resource::Cpu);
    let cpu = cpu.display();
    let mut lines = Vec::new();
    let who = match observed.credentials {
        Some(c) => format!(
            "uid {}, CAP_SYS_RESOURCE: {}, CAP_DAC_OVERRIDE: {}",
            c.euid,
            yes_no(c.sys_resource),
            yes_no(c.dac_override)
        ),
        None => "capabilities unknown (capget failed)".to_string(),
    };
    lines.push(format!("what this kernel allows this process ({who}):"));
    let mode = match (observed.file.mode, observed.file.owner) {
        (Some(mode), Some(0)) => format!("mode {mode:04o}, owner root"),
        (Some(mode), Some(owner)) => format!("mode {mode:04o}, owner uid {owner}"),
        _ => "mode unknown".to_string(),
    };
    let answer = |what: &str, answer: Answer, refused_because: &str| match answer {
        Answer::Armed => format!("{what}: armed"),
        Answer::Refused(operation, errno) => format!(
            "{what}: refused ({} gave {}){refused_because}",
            match operation {
                Operation::Open => "open",
                Operation::Write => "write",
            },
            errno_name(errno)
        ),
    };
    let opened = !matches!(observed.window_2s, Answer::Refused(Operation::Open, _));
    match observed.window_2s {
        Answer::Refused(Operation::Open, libc::EACCES) => lines.push(format!(
            "{cpu} is {mode}: only root or CAP_DAC_OVERRIDE may arm triggers"
        )),
        Answer::Refused(Operation::Open, libc::EPERM) => lines.push(format!(
            "{cpu} is {mode}, but only CAP_SYS_RESOURCE may arm triggers"
        )),
        _ => lines.push(format!("{cpu} is {mode}")),
    }
    lines.push(answer("a 2s window", observed.window_2s, ""));
    if opened {
        lines.push(answer(
            "a 1s window",
            observed.window_1s,
            ": without CAP_SYS_RESOURCE only multiples of 2s",
        ));
        let below_minimum = match observed.window_1s {
            Answer::Armed => ": this kernel's shortest window is 500ms",
            _ => "",
        };
        lines.push(answer(
            "a 100ms window",
            observed.window_100ms,
            below_minimum,
        ));
    }
    lines.push(match observed.file.has_full_line {
        Some(true) => "cpu has a 'full' line".to_string(),
        Some(false) => "cpu has no 'full' line: cpu:full triggers are refused".to_string(),
        None => "cpu's 'full' line: unknown (unreadable)".to_string(),
    });
    lines.push(if observed.irq {
        "irq pressure: reported".to_string()
    } else {
        format!(
            "irq pressure: not reported (no {})",
            roots.system_pressure(Resource::Irq).display()
        )
    });
    lines.iter().map(|line| format!("# {line}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT_ONLY: FileFacts = FileFacts {
        mode: Some(0o444),
        owner: Some(0),
        has_full_line: Some(false),
    };
    const OPEN_TO_ALL: FileFacts = FileFacts {
        mode: Some(0o666),
        owner: Some(0),
        has_full_line: Some(true),
    };
    const CGROUP_FILE: FileFacts = FileFacts {
        mode: Some(0o644),
        owner: Some(0),
        has_full_line: Some(true),
    };
    const NOBODY: Credentials = Credentials {
        euid: 1000,
        sys_resource: false,
        dac_override: false,
    };
    const SYS_RESOURCE: Credentials = Credentials {
        euid: 1000,
        sys_resource: true,
        dac_override: false,
    };
    const ROOT: Credentials = Credentials {
        euid: 0,
        sys_resource: true,
        dac_override: true,
    };

    /// The table the kernel matrix saw (tests/kernels.rs), plus the 5.13-6.4 rule from
    /// the kernel's history: (kernel, operation, errno, spec, who, file) -> (exit,
    /// phrases the message must hold, phrases it must not).
    #[test]
    fn each_refusal_names_its_rule_and_a_fix_that_works_there() {
        use Operation::*;
        type Row = (
            &'static str,
            Operation,
            i32,
            &'static str,
            Credentials,
            FileFacts,
            Exit,
            &'static [&'static str],
            &'static [&'static str],
        );
        let table: [Row; 12] = [
            (
                "5.10, uid 1000 without capabilities, the default triggers",
                Open,
                libc::EACCES,
                "memory:some:10%:2s",
                NOBODY,
                ROOT_ONLY,
                Exit::NoPermission,
                &[
                    "only root",
                    "mode 0444, owner root",
                    "CAP_DAC_OVERRIDE",
                    DROP_IN_DAC_OVERRIDE,
                ],
                &["kernels before 6.5", "give psi-syslogd CAP_SYS_RESOURCE"],
            ),
            (
                "5.10, uid 1000 with only CAP_SYS_RESOURCE",
                Open,
                libc::EACCES,
                "cpu:some:100ms:1s",
                SYS_RESOURCE,
                ROOT_ONLY,
                Exit::NoPermission,
                &[
                    "CAP_SYS_RESOURCE does not get past a file mode",
                    "CAP_DAC_OVERRIDE",
                ],
                &["multiple of 2s"],
            ),
            (
                "5.10, root, cpu full",
                Write,
                libc::EINVAL,
                "cpu:full:200ms:2s",
                ROOT,
                ROOT_ONLY,
                Exit::Unavailable,
                &["no 'full' line for cpu", "cpu:some:"],
                &["CAP_SYS_RESOURCE", "500ms"],
            ),
            (
                "5.10 and 6.1, root, a 100 ms window",
                Write,
                libc::EINVAL,
                "cpu:some:50ms:100ms",
                ROOT,
                OPEN_TO_ALL,
                Exit::OsError,
                &["shortest window is 500ms", "at least 500ms", "100000us"],
                &["CAP_SYS_RESOURCE"],
            ),
            (
                "6.1 and 6.12, uid 1000, a 1 s window",
                Write,
                libc::EINVAL,
                "cpu:some:100ms:1s",
                NOBODY,
                OPEN_TO_ALL,
                Exit::NoPermission,
                &[
                    "multiple of 2s",
                    "1000000us",
                    "CAP_SYS_RESOURCE",
                    DROP_IN_SYS_RESOURCE,
                ],
                &["500ms"],
            ),
            (
                "6.1, uid 1000, a 100 ms window: the 2 s rule first",
                Write,
                libc::EINVAL,
                "cpu:some:50ms:100ms",
                NOBODY,
                OPEN_TO_ALL,
                Exit::NoPermission,
                &["multiple of 2s", "at least 500ms"],
                &[],
            ),
            (
                "5.13-6.4, uid 1000, any trigger",
                Open,
                libc::EPERM,
                "memory:some:10%:2s",
                NOBODY,
                OPEN_TO_ALL,
                Exit::NoPermission,
                &[
                    "only openers with CAP_SYS_RESOURCE",
                    DROP_IN_SYS_RESOURCE,
                    "as root",
                ],
                &["multiple of 2s"],
            ),
            (
                "EPERM although CAP_SYS_RESOURCE is held",
                Open,
                libc::EPERM,
                "memory:some:10%:2s",
                SYS_RESOURCE,
                OPEN_TO_ALL,
                Exit::NoPermission,
                &["holds CAP_SYS_RESOURCE", "security module"],
                &["give psi-syslogd"],
            ),
            (
                "EACCES on a file whose mode allows the write",
                Open,
                libc::EACCES,
                "memory:some:10%:2s",
                NOBODY,
                OPEN_TO_ALL,
                Exit::NoPermission,
                &["mode 0666", "security module"],
                &["only root"],
            ),
            (
                "a cgroup file of root's, uid 1000",
                Open,
                libc::EACCES,
                "cpu:some:10%:2s:/system.slice/x.service",
                NOBODY,
                CGROUP_FILE,
                Exit::NoPermission,
                &["mode 0644, owner root", "delegate the cgroup", "uid 1000"],
                &["Debian 11"],
            ),
            (
                "root with CAP_SYS_RESOURCE, a 2 s multiple: nothing psi-syslogd knows",
                Write,
                libc::EINVAL,
                "cpu:some:10%:4s",
                ROOT,
                OPEN_TO_ALL,
                Exit::OsError,
                &["cannot tell", "window 4000000us"],
                &[],
            ),
            (
                "io full where the kernel has the line: not the missing-line rule",
                Write,
                libc::EINVAL,
                "io:full:100ms:1s",
                NOBODY,
                OPEN_TO_ALL,
                Exit::NoPermission,
                &["multiple of 2s"],
                &["'full' line"],
            ),
        ];
        for (case, operation, errno, text, credentials, file, exit, wanted, unwanted) in table {
            let spec = Spec::parse(text).unwrap();
            let path = Roots::host().system_pressure(spec.resource);
            let path = path.display().to_string();
            let got = explain(operation, errno, &spec, &path, &credentials, &file);
            assert_eq!(got.exit, exit, "{case}: {}", got.message);
            for phrase in wanted {
                assert!(
                    got.message.contains(phrase),
                    "{case}: no {phrase:?} in {}",
                    got.message
                );
            }
            for phrase in unwanted {
                assert!(
                    !got.message.contains(phrase),
                    "{case}: {phrase:?} in {}",
                    got.message
                );
            }
        }
    }

    #[test]
    fn check_describes_each_rule_observed() {
        let refused = |operation, errno| Answer::Refused(operation, errno);
        let cases = [
            (
                // 5.10, unprivileged.
                Observed {
                    credentials: Some(NOBODY),
                    file: ROOT_ONLY,
                    window_2s: refused(Operation::Open, libc::EACCES),
                    window_1s: refused(Operation::Open, libc::EACCES),
                    window_100ms: refused(Operation::Open, libc::EACCES),
                    irq: false,
                },
                &[
                    "# /proc/pressure/cpu is mode 0444, owner root: only root or CAP_DAC_OVERRIDE may arm triggers\n",
                    "# a 2s window: refused (open gave EACCES)\n",
                    "# cpu has no 'full' line: cpu:full triggers are refused\n",
                    "# irq pressure: not reported (no /proc/pressure/irq)\n",
                ][..],
            ),
            (
                // 6.1 as root.
                Observed {
                    credentials: Some(ROOT),
                    file: OPEN_TO_ALL,
                    window_2s: Answer::Armed,
                    window_1s: Answer::Armed,
                    window_100ms: refused(Operation::Write, libc::EINVAL),
                    irq: false,
                },
                &[
                    "# a 1s window: armed\n",
                    "# a 100ms window: refused (write gave EINVAL): this kernel's shortest window is 500ms\n",
                    "# cpu has a 'full' line\n",
                ][..],
            ),
            (
                // 6.12 unprivileged.
                Observed {
                    credentials: Some(NOBODY),
                    file: OPEN_TO_ALL,
                    window_2s: Answer::Armed,
                    window_1s: refused(Operation::Write, libc::EINVAL),
                    window_100ms: refused(Operation::Write, libc::EINVAL),
                    irq: false,
                },
                &[
                    "# a 2s window: armed\n",
                    "# a 1s window: refused (write gave EINVAL): without CAP_SYS_RESOURCE only multiples of 2s\n",
                    "# a 100ms window: refused (write gave EINVAL)\n",
                ][..],
            ),
        ];
        for (observed, lines) in cases {
            let text = describe(&observed, &Roots::host());
            assert!(text.lines().all(|l| l.starts_with("# ")), "{text}");
            for line in lines {
                assert!(text.contains(line), "no {line:?} in\n{text}");
            }
        }
    }
}
