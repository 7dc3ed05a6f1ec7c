//! Every system call psi-syslogd makes directly, and so every `unsafe` block.
//!
//! Each wrapper turns the C convention (-1 and errno) into `io::Result` through one
//! macro, as mio's `sys/unix` does. Descriptors come back as `OwnedFd`, opened
//! `O_CLOEXEC`, and are closed only by dropping them.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// Calls a libc function and maps a -1 return to the thread's errno.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        // SAFETY: every caller passes pointers into live, correctly sized Rust objects
        // (see the SAFETY line at each call) and the call does not retain them.
        let result = unsafe { libc::$fn($($arg),*) };
        if result == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(result)
        }
    }};
}

/// Opens `path` with `flags | O_CLOEXEC`.
pub fn open(path: &CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: `path` is a NUL-terminated string that outlives the call.
    let fd = syscall!(open(path.as_ptr(), flags | libc::O_CLOEXEC))?;
    // SAFETY: `open` just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// One `write(2)`; the caller decides what a short write means.
pub fn write(fd: BorrowedFd<'_>, bytes: &[u8]) -> io::Result<usize> {
    // SAFETY: the pointer and length describe `bytes`, which outlives the call.
    let written = syscall!(write(fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()))?;
    Ok(written as usize)
}

/// One `pread(2)` into `buffer` from `offset`.
pub fn pread(fd: BorrowedFd<'_>, buffer: &mut [u8], offset: i64) -> io::Result<usize> {
    // SAFETY: the pointer and length describe `buffer`, which outlives the call.
    let read = syscall!(pread(
        fd.as_raw_fd(),
        buffer.as_mut_ptr().cast(),
        buffer.len(),
        offset
    ))?;
    Ok(read as usize)
}

/// One `poll(2)`; `timeout_ms` of -1 waits forever. EINTR is returned, not retried, so
/// the caller can look at its signal flags first.
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: libc::c_int) -> io::Result<usize> {
    // SAFETY: the pointer and count describe `fds`, which outlives the call.
    let ready = syscall!(poll(
        fds.as_mut_ptr(),
        fds.len() as libc::nfds_t,
        timeout_ms
    ))?;
    Ok(ready as usize)
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set (include/uapi/linux/capability.h).
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;
/// `CAP_DAC_OVERRIDE`: gets past a file's mode (the 0444 /proc/pressure files of 5.10).
pub const CAP_DAC_OVERRIDE: u32 = 1;
/// `CAP_SYS_RESOURCE`: short windows from 6.5, any trigger on 5.13 to 6.4.
pub const CAP_SYS_RESOURCE: u32 = 24;

/// This process's effective capability set, bit N for capability N.
pub fn effective_capabilities() -> io::Result<u64> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget reads `header` and writes two `CapData` words, both live locals
    // laid out as the kernel's __user_cap_header_struct and __user_cap_data_struct.
    let result = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut header as *mut CapHeader,
            data.as_mut_ptr(),
        )
    };
    if result == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(u64::from(data[1].effective) << 32 | u64::from(data[0].effective))
}

/// Whether this process has CAP_SYS_RESOURCE in its effective set (with it, the
/// kernel makes short-window triggers real-time).
pub fn has_cap_sys_resource() -> io::Result<bool> {
    Ok(effective_capabilities()? & (1 << CAP_SYS_RESOURCE) != 0)
}

/// The effective uid (geteuid cannot fail).
pub fn effective_uid() -> u32 {
    // SAFETY: no arguments.
    unsafe { libc::geteuid() }
}

/// The broken-down local time of `seconds` since the epoch, in the zone of `TZ` or
/// /etc/localtime. Seconds are `i64` here whatever the C library's `time_t` is (the
/// libc crate deprecates naming it on musl, whose `time_t` became 64-bit in 1.2.0);
/// `None` for a time that type cannot hold.
// `time_t` is `i64` on most targets, `i32` where the C library keeps 32-bit time.
#[allow(clippy::useless_conversion)]
pub fn local_time(seconds: i64) -> Option<libc::tm> {
    let seconds = seconds.try_into().ok()?;
    // SAFETY: `tm` is plain old data; all-zero is a valid value for it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to live locals; localtime_r is the reentrant form.
    let result = unsafe { libc::localtime_r(&seconds, &mut tm) };
    if result.is_null() { None } else { Some(tm) }
}

/// Seconds since the epoch (vDSO on Linux: no system call).
#[allow(clippy::useless_conversion)]
pub fn wall_clock_seconds() -> i64 {
    // SAFETY: a null argument asks time() only for its return value.
    let seconds = unsafe { libc::time(std::ptr::null_mut()) };
    seconds.into()
}

/// Microseconds on CLOCK_MONOTONIC (vDSO on Linux: no system call).
pub fn monotonic_us() -> u64 {
    // SAFETY: `timespec` is plain old data; all-zero is a valid value for it. (Not a
    // struct literal: with 64-bit time on 32-bit musl it has private padding fields.)
    let mut now: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: `now` is a live local; CLOCK_MONOTONIC always exists on Linux, so the
    // call cannot fail and the zero fallback is never used.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    (now.tv_sec as u64) * 1_000_000 + (now.tv_nsec as u64) / 1_000
}

/// A non-blocking inotify instance.
pub fn inotify_init() -> io::Result<OwnedFd> {
    // SAFETY: no memory arguments.
    let fd = syscall!(inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC))?;
    // SAFETY: inotify_init1 just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Watches `path` for `mask`; returns the watch descriptor.
pub fn inotify_add_watch(fd: BorrowedFd<'_>, path: &CStr, mask: u32) -> io::Result<i32> {
    // SAFETY: `path` is a NUL-terminated string that outlives the call.
    syscall!(inotify_add_watch(fd.as_raw_fd(), path.as_ptr(), mask))
}

/// Stops watching `wd`.
pub fn inotify_rm_watch(fd: BorrowedFd<'_>, wd: i32) -> io::Result<()> {
    // SAFETY: no memory arguments.
    syscall!(inotify_rm_watch(fd.as_raw_fd(), wd)).map(|_| ())
}

/// One `read(2)` into `buffer`.
pub fn read(fd: BorrowedFd<'_>, buffer: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the pointer and length describe `buffer`, which outlives the call.
    let read = syscall!(read(
        fd.as_raw_fd(),
        buffer.as_mut_ptr().cast(),
        buffer.len()
    ))?;
    Ok(read as usize)
}

/// Raises the soft limit on open descriptors to the hard limit; returns both limits as
/// they were, or `None` when the soft limit was already the hard one.
pub fn raise_descriptor_limit() -> io::Result<Option<(u64, u64)>> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a live local of the type getrlimit writes.
    syscall!(getrlimit(libc::RLIMIT_NOFILE, &mut limit))?;
    if limit.rlim_cur >= limit.rlim_max {
        return Ok(None);
    }
    let was = (widen(limit.rlim_cur), widen(limit.rlim_max));
    limit.rlim_cur = limit.rlim_max;
    // SAFETY: `limit` is a live local of the type setrlimit reads.
    syscall!(setrlimit(libc::RLIMIT_NOFILE, &limit))?;
    Ok(Some(was))
}

/// `rlim_t` is 32 bits on some targets (armv7 glibc) and 64 on most.
#[allow(clippy::useless_conversion)]
fn widen(limit: libc::rlim_t) -> u64 {
    u64::from(limit)
}

/// The soft and hard limits on open descriptors.
pub fn descriptor_limit() -> io::Result<(u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a live local of the type getrlimit writes.
    syscall!(getrlimit(libc::RLIMIT_NOFILE, &mut limit))?;
    Ok((widen(limit.rlim_cur), widen(limit.rlim_max)))
}

/// The device and inode of an open descriptor (fstat), to recognise it by the
/// `DEV:INODE` systemd puts in `JOURNAL_STREAM`.
pub fn device_and_inode(fd: BorrowedFd<'_>) -> io::Result<(u64, u64)> {
    // SAFETY: `stat` is plain old data; all-zero is a valid value for it.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `stat` is a live local of the type fstat writes.
    syscall!(fstat(fd.as_raw_fd(), &mut stat))?;
    Ok((stat.st_dev as u64, stat.st_ino as u64))
}

/// A unix stream socket connected to `path` without ever blocking: it is non-blocking
/// from its creation, so a listener whose backlog is full (a hung syslogd) makes the
/// connect fail with EAGAIN instead of stopping the caller until it accepts.
pub fn connect_stream_nonblocking(path: &std::path::Path) -> io::Result<OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: no memory arguments.
    let fd = syscall!(socket(
        libc::AF_UNIX,
        libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        0
    ))?;
    // SAFETY: `socket` just returned this descriptor and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: `sockaddr_un` is plain old data; all-zero is a valid value for it.
    let mut address: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    address.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_bytes();
    // One byte stays zero: the terminating NUL.
    if bytes.len() >= address.sun_path.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("the socket path {} is too long", path.display()),
        ));
    }
    for (slot, byte) in address.sun_path.iter_mut().zip(bytes) {
        *slot = *byte as libc::c_char;
    }
    let length = std::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1;
    // SAFETY: the pointer and length describe `address`, a live, initialised sockaddr_un.
    syscall!(connect(
        fd.as_raw_fd(),
        (&address as *const libc::sockaddr_un).cast::<libc::sockaddr>(),
        length as libc::socklen_t
    ))?;
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;
    use std::time::{Duration, Instant};

    #[test]
    fn a_stream_connect_to_a_full_backlog_fails_at_once_instead_of_blocking() {
        let path =
            std::env::temp_dir().join(format!("psi-sys-backlog-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        // A listener that never accepts, with the smallest backlog.
        // SAFETY: no memory arguments; the descriptor is the listener's own.
        assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
        let started = Instant::now();
        let mut connected = Vec::new();
        let error = loop {
            match connect_stream_nonblocking(&path) {
                Ok(fd) => connected.push(fd),
                Err(e) => break e,
            }
            assert!(connected.len() < 64, "the backlog never filled");
        };
        assert_eq!(error.raw_os_error(), Some(libc::EAGAIN), "{error}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        let _ = std::fs::remove_file(&path);
    }
}
