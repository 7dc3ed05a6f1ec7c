//! The roots every kernel path is built from, and the paths themselves: the proc root
//! (`/proc`, which holds `pressure/` and `self/mountinfo`) and the cgroup2 mount, found
//! in that mountinfo when a cgroup is first needed, once for the whole process. Nothing
//! else names `/proc` or a cgroup directory, so configuration loading, `--print` and
//! `--check` run as well on a fixture tree (`fixture`, for the unit tests) as on the
//! machine's own.

use std::cell::OnceCell;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::cgroup;
use crate::pressure::Resource;

/// The proc root and the cgroup2 mount. Clones share the mount once it is found.
#[derive(Clone, Debug)]
pub struct Roots {
    proc: PathBuf,
    /// The mount, or why there is none, found on first use.
    cgroup2: Rc<OnceCell<io::Result<PathBuf>>>,
}

impl Roots {
    /// This machine's: `/proc`, and the cgroup2 mount its mountinfo names.
    pub fn host() -> Roots {
        Roots::new("/proc")
    }

    /// The roots under the proc root `proc`; the cgroup2 mount is the one
    /// `proc/self/mountinfo` names.
    pub fn new(proc: impl Into<PathBuf>) -> Roots {
        Roots {
            proc: proc.into(),
            cgroup2: Rc::new(OnceCell::new()),
        }
    }

    /// The directory of the system-wide pressure files: `PROC/pressure`.
    pub fn pressure_dir(&self) -> PathBuf {
        self.proc.join("pressure")
    }

    /// The system-wide pressure file of `resource`: `PROC/pressure/RESOURCE`.
    pub fn system_pressure(&self, resource: Resource) -> PathBuf {
        self.pressure_dir().join(resource.name())
    }

    /// The cgroup2 mount, read from `PROC/self/mountinfo` the first time it is asked
    /// for; the error says why there is none.
    pub fn cgroup2(&self) -> Result<&Path, &io::Error> {
        let found = self.cgroup2.get_or_init(|| {
            let mountinfo = self.proc.join("self/mountinfo");
            let text = std::fs::read_to_string(&mountinfo)?;
            cgroup::cgroup2_mount(&text).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!(
                        "no cgroup2 filesystem in {}: mount cgroup2 (e.g. boot with \
                         systemd.unified_cgroup_hierarchy=1)",
                        mountinfo.display()
                    ),
                )
            })
        });
        found.as_deref()
    }
}

/// The directory of `group` (relative to the cgroup2 root, `/system.slice/x.service`)
/// under the cgroup2 mount.
pub fn group_dir(mount: &Path, group: &str) -> PathBuf {
    mount.join(group.trim_start_matches('/'))
}

/// The pressure file of `resource` in a group's directory: `DIR/RESOURCE.pressure`.
pub fn group_pressure(dir: &Path, resource: Resource) -> PathBuf {
    dir.join(format!("{}.pressure", resource.name()))
}

/// Fixture trees for unit tests: a proc root with `pressure/*` and `self/mountinfo`,
/// and a cgroup2 tree of group directories, in a directory of their own that goes when
/// the fixture does.
#[cfg(test)]
pub mod fixture {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::Roots;

    /// A pressure file's text, as the kernel writes it (`full` only where `full` is
    /// given).
    pub fn pressure_text(some_total: u64, full_total: Option<u64>) -> String {
        let mut text = format!("some avg10=1.50 avg60=0.25 avg300=0.05 total={some_total}\n");
        if let Some(total) = full_total {
            text.push_str(&format!(
                "full avg10=0.00 avg60=0.00 avg300=0.00 total={total}\n"
            ));
        }
        text
    }

    pub struct Fixture {
        pub dir: PathBuf,
    }

    impl Fixture {
        /// An empty tree of its own (tests run in parallel), named after the test:
        /// `proc/` and `cgroup/`, and a mountinfo that names `cgroup/` as the cgroup2
        /// mount.
        pub fn new(name: &str) -> Fixture {
            static MADE: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "psi-syslogd-fixture-{name}-{}-{}",
                std::process::id(),
                MADE.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            let fixture = Fixture { dir };
            std::fs::create_dir_all(fixture.proc().join("pressure")).unwrap();
            std::fs::create_dir_all(fixture.proc().join("self")).unwrap();
            std::fs::create_dir_all(fixture.cgroup()).unwrap();
            let mountinfo = format!(
                "25 30 0:23 / /sys rw,nosuid - sysfs sysfs rw\n\
                 41 31 0:38 / {} rw,relatime shared:10 - cgroup2 cgroup2 rw\n",
                fixture.cgroup().display()
            );
            fixture.write("proc/self/mountinfo", &mountinfo);
            fixture
        }

        pub fn proc(&self) -> PathBuf {
            self.dir.join("proc")
        }

        pub fn cgroup(&self) -> PathBuf {
            self.dir.join("cgroup")
        }

        pub fn roots(&self) -> Roots {
            Roots::new(self.proc())
        }

        /// Writes `text` to `path` under the tree, making its directories.
        pub fn write(&self, path: &str, text: &str) {
            let path = self.dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }

        /// A group directory under `cgroup/` (`/system.slice/a.service`) with its
        /// `RESOURCE.pressure` files, each `some` total its index + 1.
        pub fn group(&self, group: &str, resources: &[&str]) {
            let dir = format!("cgroup/{}", group.trim_start_matches('/'));
            std::fs::create_dir_all(self.dir.join(&dir)).unwrap();
            for (index, resource) in resources.iter().enumerate() {
                let text = pressure_text(index as u64 + 1, Some(0));
                self.write(&format!("{dir}/{resource}.pressure"), &text);
            }
        }

        /// `path` as a symbolic link to `target` (a real kernel file, for arming).
        pub fn link(&self, path: &str, target: &Path) {
            let path = self.dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let _ = std::fs::remove_file(&path);
            std::os::unix::fs::symlink(target, path).unwrap();
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::Fixture;
    use super::*;

    #[test]
    fn every_path_is_built_from_the_roots() {
        let fixture = Fixture::new("roots");
        let roots = fixture.roots();
        assert_eq!(
            roots.system_pressure(Resource::Memory),
            fixture.proc().join("pressure/memory")
        );
        let mount = roots.cgroup2().unwrap().to_path_buf();
        assert_eq!(mount, fixture.cgroup());
        let dir = group_dir(&mount, "/system.slice/x.service");
        assert_eq!(dir, fixture.cgroup().join("system.slice/x.service"));
        assert_eq!(
            group_pressure(&dir, Resource::Io),
            fixture.cgroup().join("system.slice/x.service/io.pressure")
        );
        // Found once: a clone answers from the first finding, even after the file went.
        std::fs::remove_file(fixture.proc().join("self/mountinfo")).unwrap();
        assert_eq!(roots.clone().cgroup2().ok(), Some(mount.as_path()));
    }

    #[test]
    fn without_a_cgroup2_mount_the_error_says_where_it_looked() {
        let fixture = Fixture::new("no-cgroup2");
        fixture.write("proc/self/mountinfo", "1 0 0:1 / / rw - ext4 /dev/vda rw\n");
        let roots = fixture.roots();
        let why = roots.cgroup2().unwrap_err().to_string();
        assert!(
            why.starts_with(&format!(
                "no cgroup2 filesystem in {}/self/mountinfo: mount cgroup2",
                fixture.proc().display()
            )),
            "{why}"
        );
        let missing = Roots::new(fixture.dir.join("no-such-proc"));
        let why = missing.cgroup2().unwrap_err();
        assert_eq!(why.kind(), io::ErrorKind::NotFound, "{why}");
    }
}
