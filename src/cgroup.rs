//! cgroup v2 triggers: finding the cgroup2 mount, naming a group's pressure files, and
//! noticing without periodic wake-ups when a removed group is created again.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use crate::sys;

/// The cgroup2 mount point, from the text of /proc/self/mountinfo (proc(5): field 5 is
/// the mount point, octal-escaped; the filesystem type follows the " - " separator).
pub fn cgroup2_mount(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (before, after) = line.split_once(" - ")?;
        let fstype = after.split(' ').next()?;
        let fields: Vec<&str> = before.split(' ').collect();
        let mount_point = fields.get(4)?;
        (fstype == "cgroup2" && fields.get(3) == Some(&"/"))
            .then(|| PathBuf::from(unescape_octal(mount_point)))
    })
}

fn unescape_octal(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
            (b'\\', Some(d)) => {
                let value = u32::from(d[0] - b'0') * 64
                    + u32::from(d[1] - b'0') * 8
                    + u32::from(d[2] - b'0');
                // \400 and above are not bytes; the kernel never writes them.
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The cgroup2 mount of this machine, read from /proc/self/mountinfo.
pub fn find_mount() -> io::Result<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
    cgroup2_mount(&mountinfo).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            "no cgroup2 filesystem in /proc/self/mountinfo: mount cgroup2 (e.g. boot with systemd.unified_cgroup_hierarchy=1)",
        )
    })
}

/// The group's name relative to the cgroup2 root, as /proc/PID/cgroup shows it
/// (`/system.slice/x.service`). A full filesystem path under `mount` is accepted too.
/// Returns `None` for the root group, which means system-wide.
pub fn relative_name(given: &str, mount: &Path) -> Result<Option<String>, String> {
    if !given.starts_with('/') {
        return Err("a cgroup must start with '/' (as /proc/PID/cgroup names it, e.g. /system.slice/x.service)".into());
    }
    let relative = match Path::new(given).strip_prefix(mount) {
        Ok(rest) => format!("/{}", rest.to_string_lossy()),
        Err(_) => given.to_string(),
    };
    let trimmed = relative.trim_end_matches('/');
    if trimmed.split('/').any(|part| part == ".." || part == ".") {
        return Err("a cgroup may not contain '.' or '..' components".into());
    }
    if trimmed.contains('\0') {
        return Err("a cgroup may not contain a NUL byte".into());
    }
    Ok((!trimmed.is_empty()).then(|| trimmed.to_string()))
}

/// Watches the nearest existing ancestor of every removed group for new directories.
/// One inotify descriptor in the poll set: a removed group costs no wake-ups until a
/// directory is created next to where it was.
pub struct Watcher {
    fd: OwnedFd,
}

impl Watcher {
    pub fn new() -> io::Result<Watcher> {
        Ok(Watcher {
            fd: sys::inotify_init()?,
        })
    }

    /// Starts watching for `group_dir` to appear (again).
    pub fn watch_for(&self, group_dir: &Path) -> io::Result<()> {
        let mut dir = group_dir.parent();
        while let Some(candidate) = dir {
            if candidate.is_dir() {
                let path = CString::new(candidate.as_os_str().as_encoded_bytes())
                    .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
                sys::inotify_add_watch(
                    self.fd.as_fd(),
                    &path,
                    libc::IN_CREATE | libc::IN_MOVED_TO | libc::IN_ONLYDIR,
                )?;
                return Ok(());
            }
            dir = candidate.parent();
        }
        Err(io::Error::from(io::ErrorKind::NotFound))
    }

    /// Discards the queued events: the caller re-checks every waiting group.
    pub fn drain(&self) {
        sys::drain(self.fd.as_fd());
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 25 0:26 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:10 - cgroup2 cgroup2 rw
42 31 0:39 / /sys/fs/cgroup/memory rw,relatime shared:11 - cgroup cgroup rw,memory
";

    #[test]
    fn finds_the_cgroup2_mount() {
        assert_eq!(
            cgroup2_mount(HYBRID),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        let unified = "30 23 0:26 / /sys/fs/cgroup rw shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(
            cgroup2_mount(unified),
            Some(PathBuf::from("/sys/fs/cgroup"))
        );
        let escaped = "30 23 0:26 / /mnt/my\\040cgroups rw - cgroup2 none rw\n";
        assert_eq!(
            cgroup2_mount(escaped),
            Some(PathBuf::from("/mnt/my cgroups"))
        );
        // A bind mount of a subtree is not the root.
        let subtree = "30 23 0:26 /user.slice /mnt/x rw - cgroup2 none rw\n";
        assert_eq!(cgroup2_mount(subtree), None);
        assert_eq!(cgroup2_mount("1 0 0:1 / / rw - ext4 /dev/vda rw\n"), None);
    }

    #[test]
    fn names_are_relative_to_the_root() {
        let mount = Path::new("/sys/fs/cgroup/unified");
        let table = [
            (
                "/system.slice/postgresql.service",
                Some("/system.slice/postgresql.service"),
            ),
            (
                "/sys/fs/cgroup/unified/system.slice/x.service",
                Some("/system.slice/x.service"),
            ),
            ("/system.slice/", Some("/system.slice")),
            ("/", None),
            ("/sys/fs/cgroup/unified", None),
            ("/a:b c", Some("/a:b c")),
        ];
        for (given, expected) in table {
            assert_eq!(
                relative_name(given, mount).unwrap().as_deref(),
                expected,
                "{given}"
            );
        }
        for bad in ["system.slice", "", "/a/../b", "/./a"] {
            assert!(relative_name(bad, mount).is_err(), "{bad}");
        }
    }
}
