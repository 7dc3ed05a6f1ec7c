//! The shipped unit under a real systemd as PID 1: a Debian 12 root file system from
//! debootstrap (cached in /var/cache/psi-syslogd-tests/nspawn), booted with
//! `systemd-nspawn --boot`, the unit, the configuration and the drop-ins installed as
//! the package installs them. It must start and reach READY, log a real crossing to
//! the journal, reload, stop cleanly, not restart in a loop on exit 77, and the
//! drop-ins must give the capability they name.
//!
//! The container sees this machine's kernel (6.18): the kernel-specific rules are the
//! kernel matrix's (tests/kernels.rs), whose VMs boot BusyBox, not systemd.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

const TOP: &str = env!("CARGO_MANIFEST_DIR");

fn cache() -> PathBuf {
    std::env::var_os("PSI_SYSLOGD_NSPAWN_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/psi-syslogd-tests/nspawn"))
}

/// The mirror the machine already uses, as tests/vm/fetch.sh finds it.
fn mirror() -> String {
    let sources = fs::read_dir("/etc/apt/sources.list.d")
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let path = e.ok()?.path();
            (path.extension()? == "sources").then_some(())?;
            fs::read_to_string(path).ok()
        })
        .collect::<Vec<_>>()
        .join("\n");
    sources
        .lines()
        .filter_map(|l| l.strip_prefix("URIs:"))
        .map(str::trim)
        .find(|uri| !uri.contains("-security"))
        .unwrap_or("http://deb.debian.org/debian")
        .to_string()
}

/// What debootstrap adds to minbase: systemd as init, and procps for the unit's
/// ExecReload=/bin/kill (every standard Debian install has it; minbase does not).
const INCLUDE: &str = "systemd,systemd-sysv,dbus,procps";

/// The cached bookworm root file system, made once with debootstrap (keyed by what it
/// includes).
fn rootfs() -> PathBuf {
    let root = cache().join(format!("bookworm-{}", INCLUDE.replace(',', "-")));
    if root.join("usr/lib/systemd/systemd").exists() {
        return root;
    }
    let partial = root.with_extension("partial");
    let _ = fs::remove_dir_all(&partial);
    fs::create_dir_all(cache()).expect("create the nspawn cache");
    let started = Instant::now();
    let output = Command::new("debootstrap")
        .args([
            "--variant=minbase",
            &format!("--include={INCLUDE}"),
            "bookworm",
        ])
        .arg(&partial)
        .arg(mirror())
        .output()
        .expect("run debootstrap (tests/deps.sh installs it)");
    assert!(
        output.status.success(),
        "debootstrap: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout)
    );
    fs::rename(&partial, &root).expect("move the root file system into place");
    eprintln!(
        "debootstrap bookworm: {:.0} s",
        started.elapsed().as_secs_f64()
    );
    root
}

/// A booted container, powered off and removed when dropped.
struct Container {
    name: String,
    root: PathBuf,
    nspawn: Child,
    leader: u32,
}

impl Container {
    fn boot(name: &str) -> Container {
        let name = format!("{name}-{}", std::process::id());
        let root = scratch_dir(&name).join("root");
        let copy = Command::new("cp")
            .arg("-a")
            .arg(rootfs())
            .arg(&root)
            .status()
            .expect("cp");
        assert!(copy.success(), "cannot copy the root file system");
        install(&root);
        // nspawn wants a cgroup of its own in both hierarchies of this hybrid layout.
        for hierarchy in ["unified", "systemd"] {
            fs::create_dir_all(format!("/sys/fs/cgroup/{hierarchy}/{name}"))
                .unwrap_or_else(|e| panic!("cgroup {hierarchy}/{name}: {e}"));
        }
        let nspawn = Command::new("sh")
            .arg("-c")
            .arg(
                "echo $$ >/sys/fs/cgroup/unified/$1/cgroup.procs && \
                 echo $$ >/sys/fs/cgroup/systemd/$1/cgroup.procs && \
                 SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 exec systemd-nspawn -D \"$2\" --machine \"$1\" \
                 --boot --private-network --register=no --keep-unit -q",
            )
            .arg("sh")
            .arg(&name)
            .arg(&root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn systemd-nspawn (tests/deps.sh installs systemd-container)");
        let mut container = Container {
            name,
            root,
            leader: 0,
            nspawn,
        };
        // The container's PID 1, seen from here: the systemd that nspawn started.
        container.leader = wait_until(Duration::from_secs(30), || {
            let children = fs::read_to_string(format!(
                "/proc/{0}/task/{0}/children",
                container.nspawn.id()
            ))
            .ok()?;
            children.split_whitespace().find_map(|pid| {
                let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
                (comm.trim() == "systemd").then(|| pid.parse().ok())?
            })
        })
        .unwrap_or_else(|| panic!("the container's systemd did not start"));
        let state = wait_until(Duration::from_secs(60), || {
            let state = stdout(&container.systemctl(&["is-system-running"]));
            matches!(state.trim(), "running" | "degraded").then_some(state)
        });
        assert!(
            state.is_some(),
            "the container did not finish booting: {}",
            stdout(&container.systemctl(&["list-jobs", "--no-pager"]))
        );
        container
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("nsenter")
            .arg("-t")
            .arg(self.leader.to_string())
            .args(["-m", "-u", "-i", "-n", "-p", "-C", "--"])
            .args(args)
            .output()
            .expect("nsenter")
    }

    fn systemctl(&self, args: &[&str]) -> Output {
        let mut full = vec!["systemctl"];
        full.extend_from_slice(args);
        self.run(&full)
    }

    /// `systemctl show -p PROPERTY --value psi-syslogd`.
    fn property(&self, property: &str) -> String {
        stdout(&self.systemctl(&["show", "-p", property, "--value", "psi-syslogd"]))
            .trim()
            .to_string()
    }

    /// psi-syslogd's lines in the journal, one message per line.
    fn journal(&self) -> String {
        stdout(&self.run(&[
            "journalctl",
            "--no-pager",
            "-o",
            "cat",
            "SYSLOG_IDENTIFIER=psi-syslogd",
        ]))
    }

    fn wait_for_journal(&self, wanted: &str, timeout: Duration) -> String {
        wait_until(timeout, || {
            self.journal()
                .lines()
                .find(|l| l.contains(wanted))
                .map(str::to_string)
        })
        .unwrap_or_else(|| {
            panic!(
                "no journal line with {wanted:?} within {timeout:?}; the unit's log:\n{}\n{}",
                self.journal(),
                stdout(&self.run(&["journalctl", "--no-pager", "-u", "psi-syslogd"]))
            )
        })
    }

    fn write(&self, path: &str, text: &str) {
        let path = self.root.join(path.trim_start_matches('/'));
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = self.systemctl(&["poweroff", "--no-block"]);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline && matches!(self.nspawn.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.nspawn.kill();
        let _ = self.nspawn.wait();
        for hierarchy in ["unified", "systemd"] {
            let _ = Command::new("find")
                .arg(format!("/sys/fs/cgroup/{hierarchy}/{}", self.name))
                .args(["-depth", "-type", "d", "-exec", "rmdir", "{}", ";"])
                .status();
        }
        if let Some(scratch) = self.root.parent() {
            let _ = fs::remove_dir_all(scratch);
        }
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn wait_until<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return Some(value);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What the Debian package installs: the binary (this build: the container is Debian
/// 12 like this machine), the unit, the configuration, and the drop-ins as examples.
fn install(root: &Path) {
    let copy = |from: &Path, to: &str, mode: u32| {
        let to = root.join(to);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(from, &to)
            .unwrap_or_else(|e| panic!("{} -> {}: {e}", from.display(), to.display()));
        fs::set_permissions(&to, fs::Permissions::from_mode(mode)).unwrap();
    };
    let top = Path::new(TOP);
    copy(Path::new(BIN), "usr/sbin/psi-syslogd", 0o755);
    copy(
        &top.join("packaging/systemd/psi-syslogd.service"),
        "lib/systemd/system/psi-syslogd.service",
        0o644,
    );
    copy(
        &top.join("packaging/psi-syslogd.conf"),
        "etc/psi-syslogd.conf",
        0o644,
    );
    for drop_in in ["dac-override.conf", "cap-sys-resource.conf"] {
        copy(
            &top.join("packaging/systemd/psi-syslogd.service.d")
                .join(drop_in),
            &format!("usr/share/doc/psi-syslogd/examples/systemd/{drop_in}"),
            0o644,
        );
    }
}

/// CapEff of a process, from /proc/PID/status (the container shares this /proc's
/// kernel, and MainPID is in the container's pid namespace, so read it inside).
fn effective_capabilities(container: &Container, pid: &str) -> u64 {
    let status = stdout(&container.run(&["cat", &format!("/proc/{pid}/status")]));
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .unwrap_or_else(|| panic!("no CapEff for pid {pid}: {status}"))
        .trim();
    u64::from_str_radix(hex, 16).unwrap()
}

#[test]
fn the_unit_under_systemd_starts_logs_reloads_stops_and_does_not_loop_on_77() {
    // CPU load below, and a boot that keeps both cores busy.
    let _lock = exclusive();
    let started = Instant::now();
    let container = Container::boot("psi-unit");
    eprintln!(
        "container booted after {:.0} s",
        started.elapsed().as_secs_f64()
    );

    // Start: active (running) only after READY=1 (Type=notify).
    let start = container.systemctl(&["start", "psi-syslogd"]);
    assert!(
        start.status.success(),
        "systemctl start: {}\n{}",
        String::from_utf8_lossy(&start.stderr),
        container.journal()
    );
    assert_eq!(container.property("ActiveState"), "active");
    assert_eq!(container.property("SubState"), "running");
    assert_eq!(
        container.property("StatusText"),
        "3 trigger(s) armed, logging to /dev/log"
    );
    let main_pid = container.property("MainPID");
    assert_eq!(effective_capabilities(&container, &main_pid), 0);
    container.wait_for_journal("event=start ", Duration::from_secs(10));

    // A real crossing: four busy loops on two cores, the default cpu:some:50%:2s.
    {
        let _load = CpuLoad::start(4);
        let line =
            container.wait_for_journal("event=pressure resource=cpu ", Duration::from_secs(30));
        eprintln!("journal: {line}");
    }

    // Reload: SIGHUP, the unit stays up with the same process.
    let reload = container.systemctl(&["reload", "psi-syslogd"]);
    assert!(reload.status.success(), "systemctl reload: {reload:?}");
    container.wait_for_journal("event=reload triggers=3", Duration::from_secs(10));
    assert_eq!(container.property("MainPID"), main_pid);
    assert_eq!(container.property("ActiveState"), "active");

    // Stop: event=stop, exit 0, inactive and not failed.
    let stop = container.systemctl(&["stop", "psi-syslogd"]);
    assert!(stop.status.success(), "systemctl stop: {stop:?}");
    container.wait_for_journal("event=stop signal=SIGTERM", Duration::from_secs(10));
    assert_eq!(container.property("ActiveState"), "inactive");
    assert_eq!(container.property("Result"), "success");

    // Exit 77 (a 1 s window without CAP_SYS_RESOURCE): failed at once, not
    // auto-restart, so no loop (RestartPreventExitStatus=).
    container.write("/etc/psi-syslogd.conf", "trigger cpu:some:100ms:1s\n");
    let start = container.systemctl(&["start", "psi-syslogd"]);
    assert!(
        !start.status.success(),
        "a 1 s window started without CAP_SYS_RESOURCE"
    );
    assert_eq!(container.property("ExecMainStatus"), "77");
    assert_eq!(container.property("SubState"), "failed");
    assert_eq!(container.property("NRestarts"), "0");
    let error = container.wait_for_journal("event=error exit=77 ", Duration::from_secs(10));
    assert!(error.contains("multiple of 2s"), "{error}");
    assert!(error.contains("cap-sys-resource.conf"), "{error}");

    // The drop-in that message names: the same configuration now arms.
    container.write(
        "/etc/systemd/system/psi-syslogd.service.d/cap-sys-resource.conf",
        &fs::read_to_string(
            Path::new(TOP).join("packaging/systemd/psi-syslogd.service.d/cap-sys-resource.conf"),
        )
        .unwrap(),
    );
    assert!(container.systemctl(&["daemon-reload"]).status.success());
    assert!(
        container
            .systemctl(&["reset-failed", "psi-syslogd"])
            .status
            .success()
    );
    let start = container.systemctl(&["start", "psi-syslogd"]);
    assert!(
        start.status.success(),
        "with cap-sys-resource.conf: {}",
        container.journal()
    );
    let pid = container.property("MainPID");
    assert_eq!(
        effective_capabilities(&container, &pid),
        1 << 24,
        "CAP_SYS_RESOURCE only"
    );
    assert!(
        container
            .systemctl(&["stop", "psi-syslogd"])
            .status
            .success()
    );

    // The other drop-in gives exactly CAP_DAC_OVERRIDE (what 0444 pressure files need)
    // and the default configuration still arms with it.
    container.write(
        "/etc/psi-syslogd.conf",
        &fs::read_to_string(Path::new(TOP).join("packaging/psi-syslogd.conf")).unwrap(),
    );
    let _ = fs::remove_file(
        container
            .root
            .join("etc/systemd/system/psi-syslogd.service.d/cap-sys-resource.conf"),
    );
    container.write(
        "/etc/systemd/system/psi-syslogd.service.d/dac-override.conf",
        &fs::read_to_string(
            Path::new(TOP).join("packaging/systemd/psi-syslogd.service.d/dac-override.conf"),
        )
        .unwrap(),
    );
    assert!(container.systemctl(&["daemon-reload"]).status.success());
    let start = container.systemctl(&["start", "psi-syslogd"]);
    assert!(
        start.status.success(),
        "with dac-override.conf: {}",
        container.journal()
    );
    let pid = container.property("MainPID");
    assert_eq!(
        effective_capabilities(&container, &pid),
        1 << 1,
        "CAP_DAC_OVERRIDE only"
    );
    assert!(
        container
            .systemctl(&["stop", "psi-syslogd"])
            .status
            .success()
    );
    eprintln!(
        "unit test done after {:.0} s",
        started.elapsed().as_secs_f64()
    );
}
