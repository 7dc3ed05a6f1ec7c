//! cgroup v2 groups: the cgroup2 mount in the text of mountinfo, and the inotify watcher
//! that notices, without periodic wake-ups, when a group appears or goes.

use std::collections::HashMap;
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

/// The inotify watches on the directories where a group a trigger waits for can appear
/// (`Pattern::scan` says which): one descriptor in the poll set, and no descriptor at all
/// while nothing is awaited. A new group costs one wake-up; nothing else does.
///
/// The watches are kept in rounds: `begin`, a `watch` for every directory a rescan needs,
/// `finish`, which removes the watches no longer needed.
pub struct Watcher {
    fd: OwnedFd,
    /// Each watched directory, its watch descriptor, and the last round that needed it.
    watches: HashMap<PathBuf, (i32, u64)>,
    round: u64,
}

/// Directories made or moved in, and removed or moved out: cgroupfs tells a removed
/// directory's own watch nothing (no IN_DELETE_SELF, no IN_IGNORED, seen on 6.18), so a
/// removal is seen from its parent, which the scan watches too.
const WATCH_MASK: u32 =
    libc::IN_CREATE | libc::IN_MOVED_TO | libc::IN_DELETE | libc::IN_MOVED_FROM | libc::IN_ONLYDIR;

impl Watcher {
    pub fn new() -> io::Result<Watcher> {
        Ok(Watcher {
            fd: sys::inotify_init()?,
            watches: HashMap::new(),
            round: 0,
        })
    }

    /// Starts a round of `watch` calls.
    pub fn begin(&mut self) {
        self.round += 1;
    }

    /// Watches `dir` for subdirectories that come and go. Asked of the kernel each time,
    /// not only the first: a directory removed and made again under the same name is a
    /// new inode, and the kernel gives it a new watch (the same descriptor for the same
    /// inode); the old one, on a directory that is gone, is removed then.
    pub fn watch(&mut self, dir: &Path) -> io::Result<()> {
        let path = CString::new(dir.as_os_str().as_encoded_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let wd = sys::inotify_add_watch(self.fd.as_fd(), &path, WATCH_MASK)?;
        if let Some((old, _)) = self.watches.insert(dir.to_path_buf(), (wd, self.round))
            && old != wd
        {
            let _ = sys::inotify_rm_watch(self.fd.as_fd(), old);
        }
        Ok(())
    }

    /// Ends a round: removes the watches it did not ask for.
    pub fn finish(&mut self) {
        let round = self.round;
        let fd = self.fd.as_fd();
        self.watches.retain(|_, &mut (wd, last)| {
            if last != round {
                // EINVAL when the directory is already gone: nothing left to remove.
                let _ = sys::inotify_rm_watch(fd, wd);
            }
            last == round
        });
    }

    /// Whether no directory is watched (the caller can drop the descriptor).
    pub fn is_empty(&self) -> bool {
        self.watches.is_empty()
    }

    /// Reads every queued event. The caller rescans whatever woke it; only the end of a
    /// watch (IN_IGNORED: its directory was removed) changes what is kept here.
    pub fn drain(&mut self) {
        // Room for many events per read; they are parsed byte by byte, so the buffer
        // needs no alignment.
        let mut buffer = [0u8; 4096];
        loop {
            let bytes = match sys::read(self.fd.as_fd(), &mut buffer) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            for (wd, mask) in inotify_events(&buffer[..bytes]) {
                if mask & libc::IN_IGNORED != 0 {
                    self.watches.retain(|_, &mut (w, _)| w != wd);
                }
            }
        }
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// The watch descriptor and mask of each `struct inotify_event` in `bytes` (inotify(7):
/// `int wd; uint32_t mask, cookie, len; char name[len];`). A truncated event ends it.
pub fn inotify_events(bytes: &[u8]) -> impl Iterator<Item = (i32, u32)> + '_ {
    const HEADER: usize = 16;
    let mut offset: usize = 0;
    // Checked sums: with a 32-bit usize (armv7) a hostile `len` would overflow
    // `HEADER + len`, and an offset past the end `offset + HEADER`.
    std::iter::from_fn(move || {
        let header = bytes.get(offset..offset.checked_add(HEADER)?)?;
        let word = |i: usize| [header[i], header[i + 1], header[i + 2], header[i + 3]];
        let wd = i32::from_ne_bytes(word(0));
        let mask = u32::from_ne_bytes(word(4));
        let name_len = u32::from_ne_bytes(word(12)) as usize;
        offset = offset.checked_add(HEADER)?.checked_add(name_len)?;
        (offset <= bytes.len()).then_some((wd, mask))
    })
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
    fn inotify_events_end_at_a_truncated_event_and_stay_ended() {
        let mut bytes = Vec::new();
        for (wd, mask, len) in [(1i32, 0x100u32, 8u32), (2, 0x8000, u32::MAX)] {
            bytes.extend_from_slice(&wd.to_ne_bytes());
            bytes.extend_from_slice(&mask.to_ne_bytes());
            bytes.extend_from_slice(&0u32.to_ne_bytes());
            bytes.extend_from_slice(&len.to_ne_bytes());
            bytes.extend_from_slice(&[0; 8]);
        }
        let mut events = inotify_events(&bytes);
        assert_eq!(events.next(), Some((1, 0x100)));
        // The second claims a name of 4 GiB: it ends the buffer, and nothing follows.
        for _ in 0..3 {
            assert_eq!(events.next(), None);
        }
    }
}
