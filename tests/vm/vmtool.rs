//! A test-only helper for the kernel matrix's VMs, where BusyBox has no setpriv, capsh
//! or chpst. Built with plain rustc for each architecture (static musl, no crates), put
//! in the initramfs as /bin/vmtool.
//!
//!   vmtool as UID CAPS PROGRAM [ARG]...
//!       becomes UID (and GID UID, no supplementary groups) keeping exactly CAPS, a
//!       comma-separated list of capability numbers or `none`, as ambient capabilities
//!       (so they survive the exec), then runs PROGRAM.
//!   vmtool userns UID CAPS PROGRAM [ARG]...
//!       the same inside a new user namespace that maps root and UID to themselves, as
//!       systemd's PrivateUsers=yes does: capabilities then count in that namespace.
//!   vmtool probe PATH TEXT
//!       opens PATH read-write and writes TEXT with its trailing NUL, as a trigger is
//!       armed; prints `open=OK|ERRNO write=OK|ERRNO` and exits 0. The kernel's own
//!       answer, which the daemon's messages are checked against.
//!   vmtool caps
//!       prints `uid=N euid=N effective=HEX` of this process.

use std::ffi::{CString, c_char, c_int, c_long, c_void};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

const PR_SET_KEEPCAPS: c_int = 8;
const PR_CAP_AMBIENT: c_int = 47;
const PR_CAP_AMBIENT_RAISE: c_long = 2;
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;
const O_RDWR: c_int = 2;
const O_NONBLOCK: c_int = 0o4000;
const O_CLOEXEC: c_int = 0o2000000;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

unsafe extern "C" {
    fn prctl(option: c_int, ...) -> c_int;
    fn setgroups(size: usize, list: *const u32) -> c_int;
    fn setresgid(r: u32, e: u32, s: u32) -> c_int;
    fn setresuid(r: u32, e: u32, s: u32) -> c_int;
    fn capget(header: *mut CapHeader, data: *mut CapData) -> c_int;
    fn capset(header: *mut CapHeader, data: *const CapData) -> c_int;
    fn getuid() -> u32;
    fn geteuid() -> u32;
    fn open(path: *const c_char, flags: c_int, ...) -> c_int;
    fn write(fd: c_int, buffer: *const c_void, count: usize) -> isize;
    fn close(fd: c_int) -> c_int;
    fn strerror(errno: c_int) -> *const c_char;
    fn fork() -> c_int;
    fn unshare(flags: c_int) -> c_int;
    fn pipe(fds: *mut c_int) -> c_int;
    fn read(fd: c_int, buffer: *mut c_void, count: usize) -> isize;
    fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
}

const CLONE_NEWUSER: c_int = 0x1000_0000;

/// Forks; the child enters a new user namespace, the parent (still root outside)
/// writes its uid and gid maps, then the child becomes UID and runs PROGRAM.
fn in_private_user_namespace(uid: u32, caps: &[u32], program: &str, args: &[String]) -> ExitCode {
    let mut ready = [0 as c_int; 2];
    let mut mapped = [0 as c_int; 2];
    // SAFETY: each pipe() writes two descriptors into a live two-element array.
    if unsafe { pipe(ready.as_mut_ptr()) } != 0 || unsafe { pipe(mapped.as_mut_ptr()) } != 0 {
        return fail("pipe");
    }
    let mut byte = 0u8;
    // SAFETY: this process has one thread, so the child may go on running Rust.
    let child = unsafe { fork() };
    if child < 0 {
        return fail("fork");
    }
    if child == 0 {
        // SAFETY: integer flags; one-byte reads and writes into a live local.
        unsafe {
            if unshare(CLONE_NEWUSER) != 0 {
                return fail("unshare(CLONE_NEWUSER)");
            }
            write(ready[1], (&byte as *const u8).cast(), 1);
            if read(mapped[0], (&mut byte as *mut u8).cast(), 1) != 1 {
                eprintln!("vmtool: the parent did not map the namespace");
                return ExitCode::from(125);
            }
        }
        return become_user(uid, caps, program, args);
    }
    // SAFETY: a one-byte read into a live local.
    if unsafe { read(ready[0], (&mut byte as *mut u8).cast(), 1) } != 1 {
        return fail("waiting for the child's namespace");
    }
    let map = format!("0 0 1\n{uid} {uid} 1\n");
    for file in ["uid_map", "gid_map"] {
        if let Err(error) = std::fs::write(format!("/proc/{child}/{file}"), &map) {
            eprintln!("vmtool: writing {file}: {error}");
            return ExitCode::from(125);
        }
    }
    let mut status: c_int = 0;
    // SAFETY: a one-byte write from a live local; waitpid writes one c_int.
    unsafe {
        write(mapped[1], (&byte as *const u8).cast(), 1);
        if waitpid(child, &mut status, 0) != child {
            return fail("waitpid");
        }
    }
    // Exited: the status is in bits 8-15; killed: 128 + the signal, as a shell says.
    let code = if status & 0x7f == 0 {
        (status >> 8) & 0xff
    } else {
        128 + (status & 0x7f)
    };
    ExitCode::from(code as u8)
}

fn errno() -> c_int {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// The errno's symbolic name for the ones the matrix meets, its number otherwise.
fn errno_name(errno: c_int) -> String {
    match errno {
        1 => "EPERM".into(),
        2 => "ENOENT".into(),
        13 => "EACCES".into(),
        16 => "EBUSY".into(),
        19 => "ENODEV".into(),
        22 => "EINVAL".into(),
        30 => "EROFS".into(),
        95 => "EOPNOTSUPP".into(),
        _ => format!("E{errno}"),
    }
}

fn fail(what: &str) -> ExitCode {
    let errno = errno();
    // SAFETY: strerror returns a pointer to a static, NUL-terminated string.
    let text = unsafe { std::ffi::CStr::from_ptr(strerror(errno)) };
    eprintln!("vmtool: {what}: {}", text.to_string_lossy());
    ExitCode::from(125)
}

fn become_user(uid: u32, caps: &[u32], program: &str, args: &[String]) -> ExitCode {
    let mask = caps.iter().fold(0u64, |mask, &cap| mask | 1 << cap);
    // SAFETY: each call passes integers or a null list with size 0, as the C API wants.
    unsafe {
        if prctl(
            PR_SET_KEEPCAPS,
            1 as c_long,
            0 as c_long,
            0 as c_long,
            0 as c_long,
        ) != 0
        {
            return fail("prctl(PR_SET_KEEPCAPS)");
        }
        if setgroups(0, std::ptr::null()) != 0 {
            return fail("setgroups");
        }
        if setresgid(uid, uid, uid) != 0 {
            return fail("setresgid");
        }
        if setresuid(uid, uid, uid) != 0 {
            return fail("setresuid");
        }
    }
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let words = [mask as u32, (mask >> 32) as u32];
    let data = words.map(|word| CapData {
        effective: word,
        permitted: word,
        inheritable: word,
    });
    // SAFETY: header and two data words are live locals in the kernel's layout.
    if unsafe { capset(&mut header, data.as_ptr()) } != 0 {
        return fail("capset");
    }
    for &cap in caps {
        // SAFETY: integer arguments only.
        let raised = unsafe {
            prctl(
                PR_CAP_AMBIENT,
                PR_CAP_AMBIENT_RAISE,
                cap as c_long,
                0 as c_long,
                0 as c_long,
            )
        };
        if raised != 0 {
            return fail(&format!("raising ambient capability {cap}"));
        }
    }
    let error = Command::new(program).args(args).exec();
    eprintln!("vmtool: cannot run {program}: {error}");
    ExitCode::from(127)
}

fn probe(path: &str, text: &str) -> ExitCode {
    let Ok(c_path) = CString::new(path) else {
        eprintln!("vmtool: bad path");
        return ExitCode::from(2);
    };
    let mut command = text.as_bytes().to_vec();
    command.push(0);
    // SAFETY: c_path is NUL-terminated and outlives the call.
    let fd = unsafe { open(c_path.as_ptr(), O_RDWR | O_NONBLOCK | O_CLOEXEC) };
    if fd < 0 {
        println!("open={} write=-", errno_name(errno()));
        return ExitCode::SUCCESS;
    }
    // SAFETY: the pointer and length describe `command`, which outlives the call.
    let written = unsafe { write(fd, command.as_ptr().cast(), command.len()) };
    let result = if written < 0 {
        errno_name(errno())
    } else {
        "OK".into()
    };
    // SAFETY: fd is ours and closed once.
    unsafe { close(fd) };
    println!("open=OK write={result}");
    ExitCode::SUCCESS
}

fn show_caps() -> ExitCode {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and two data words are live locals in the kernel's layout.
    if unsafe { capget(&mut header, data.as_mut_ptr()) } != 0 {
        return fail("capget");
    }
    let effective = u64::from(data[1].effective) << 32 | u64::from(data[0].effective);
    // SAFETY: no arguments.
    let (uid, euid) = unsafe { (getuid(), geteuid()) };
    println!("uid={uid} euid={euid} effective={effective:x}");
    ExitCode::SUCCESS
}

/// `none`, or comma-separated capability numbers.
fn parse_caps(text: &str) -> Option<Vec<u32>> {
    if text == "none" {
        return Some(Vec::new());
    }
    text.split(',').map(|cap| cap.parse().ok()).collect()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["as", uid, caps, program, ..] => {
            let Ok(uid) = uid.parse() else {
                eprintln!("vmtool: bad uid {uid:?}");
                return ExitCode::from(2);
            };
            let Some(caps) = parse_caps(caps) else {
                eprintln!("vmtool: bad capability list {caps:?}");
                return ExitCode::from(2);
            };
            become_user(uid, &caps, program, &args[4..])
        }
        ["userns", uid, caps, program, ..] => {
            let (Ok(uid), Some(caps)) = (uid.parse(), parse_caps(caps)) else {
                eprintln!("vmtool: bad uid {uid:?} or capability list {caps:?}");
                return ExitCode::from(2);
            };
            in_private_user_namespace(uid, &caps, program, &args[4..])
        }
        ["probe", path, text] => probe(path, text),
        ["caps"] => show_caps(),
        _ => {
            eprintln!("usage: vmtool as|userns UID CAPS PROGRAM [ARG]... | probe PATH TEXT | caps");
            ExitCode::from(2)
        }
    }
}
