//! The RPM (packaging/rpm/) checked with rpm's own tools on this Debian machine:
//! rpmbuild builds it (packaging/rpm/build-rpm.sh), rpmlint lints it with what Fedora's
//! configuration sets for it, rpm says what it holds, and rpm installs, upgrades and
//! erases it in a private root: a directory laid out as RHEL lays out its merged /usr,
//! holding this machine's sh and systemctl (systemd 252, the one RHEL 9 has), where the
//! scriptlets run for real, chrooted by rpm. Nothing is installed on this machine.
//! Every tool is installed by tests/deps.sh; a missing one fails.
//!
//! The builds reuse the target directory of tests/packaging.rs, whose tests build the
//! same static binaries and the .deb this package is compared with.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use common::*;

const TOP: &str = env!("CARGO_MANIFEST_DIR");
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What the %post scriptlet prints where the kernel has no /proc/pressure.
const PSI_NOTE: &str =
    "psi-syslogd: on RHEL, Rocky and Alma: grubby --update-kernel=ALL --args=psi=1, then reboot.";

fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e} (tests/deps.sh installs it)"))
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_success(what: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{what}: {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        stdout(output),
        stderr(output)
    );
}

/// The target directory of tests/packaging.rs's nested builds: build-static.sh's
/// binaries and build-deb.sh's release build are already there when it ran first.
fn nested_target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("packaging-target")
}

/// build-rpm.sh for one architecture into `dir`; the package's path.
fn build(arch: &str, dir: &Path) -> PathBuf {
    let started = Instant::now();
    let output = run(Command::new(format!("{TOP}/packaging/rpm/build-rpm.sh"))
        .args(["--arch", arch])
        .arg(dir)
        .env("CARGO_TARGET_DIR", nested_target_dir()));
    assert_success(&format!("build-rpm.sh --arch {arch}"), &output);
    let package = PathBuf::from(stdout(&output).trim());
    assert_eq!(
        package,
        dir.join(format!("psi-syslogd-{VERSION}-1.{arch}.rpm")),
        "{}",
        stderr(&output)
    );
    eprintln!(
        "build-rpm.sh --arch {arch}: {:.1} s, {} bytes",
        started.elapsed().as_secs_f64(),
        fs::metadata(&package).unwrap().len()
    );
    package
}

/// rpmlint, with the package's configuration and overrides, must report no error and
/// no warning: it exits 0 on warnings, so its summary line is read too. An override
/// nothing needs any more is an error (unused-rpmlintrc-filter).
fn lint(files: &[&Path]) {
    let output = run(Command::new("rpmlint")
        .arg("-c")
        .arg(format!("{TOP}/packaging/rpm/rpmlint.toml"))
        .arg("-r")
        .arg(format!("{TOP}/packaging/rpm/psi-syslogd.rpmlintrc"))
        .args(files));
    assert_success("rpmlint", &output);
    let report = stdout(&output);
    assert!(
        report.contains(" 0 errors, 0 warnings, "),
        "rpmlint:\n{report}"
    );
    eprintln!("rpmlint:\n{report}");
}

/// `rpm -qp --queryformat FORMAT PACKAGE`.
fn query(package: &Path, format: &str) -> String {
    let output = run(Command::new("rpm")
        .args(["-qp", "--queryformat", format])
        .arg(package));
    assert_success(&format!("rpm -qp --queryformat {format}"), &output);
    stdout(&output)
}

/// The package's regular files with their modes, as "MODE PATH".
fn regular_files(package: &Path) -> BTreeSet<String> {
    query(package, "[%{FILEMODES:perms} %{FILENAMES}\\n]")
        .lines()
        .filter(|line| line.starts_with('-'))
        .map(str::to_string)
        .collect()
}

/// What the RPM must hold, from what this machine's .deb holds (build-deb.sh, in the
/// target directory its own test builds in): every file at the place these
/// distributions have for it, with the .deb's mode, but the .deb's changelog (the
/// RPM's is in its header), plus the project's two licence texts, which Debian has
/// in /usr/share/common-licenses.
fn expected_files(dir: &Path) -> BTreeSet<String> {
    let output = run(Command::new(format!("{TOP}/packaging/debian/build-deb.sh"))
        .arg(dir)
        .env("CARGO_TARGET_DIR", nested_target_dir()));
    assert_success("packaging/debian/build-deb.sh", &output);
    let deb = stdout(&output).trim().to_string();
    let listing = run(Command::new("dpkg-deb").args(["-c", &deb]));
    assert_success("dpkg-deb -c", &listing);
    let mut files = BTreeSet::new();
    for line in stdout(&listing).lines().filter(|l| l.starts_with('-')) {
        // -rw-r--r-- root/root 1478 2026-12-08 00:52 ./etc/psi-syslogd.conf
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (mode, path) = (fields[0], fields[fields.len() - 1].trim_start_matches('.'));
        let path = if path == "/usr/share/doc/psi-syslogd/changelog.gz" {
            continue;
        } else if path == "/usr/share/doc/psi-syslogd/README.md.gz" {
            // Debian compresses documentation over 4 kB; these distributions do not.
            "/usr/share/doc/psi-syslogd/README.md".to_string()
        } else if path == "/usr/share/doc/psi-syslogd/copyright" {
            "/usr/share/licenses/psi-syslogd/copyright".to_string()
        } else if let Some(unit) = path.strip_prefix("/lib/systemd/") {
            // %_unitdir on RHEL and Fedora.
            format!("/usr/lib/systemd/{unit}")
        } else {
            path.to_string()
        };
        files.insert(format!("{mode} {path}"));
    }
    for license in ["LICENSE-MIT", "LICENSE-APACHE"] {
        files.insert(format!(
            "-rw-r--r-- /usr/share/licenses/psi-syslogd/{license}"
        ));
    }
    files
}

/// Every regular file and symbolic link under `root`, as paths inside it, but rpm's
/// database.
fn files_in(root: &Path) -> BTreeSet<String> {
    let output = run(Command::new("find")
        .arg(root)
        .args(["-path"])
        .arg(root.join("var/lib/rpm"))
        .args(["-prune", "-o", "!", "-type", "d", "-printf", "/%P\\n"]));
    assert_success("find", &output);
    stdout(&output).lines().map(str::to_string).collect()
}

/// A root for `rpm --root`, laid out as RHEL 9's: /bin, /sbin, /lib and /lib64 are
/// links into /usr. It holds what the scriptlets run: sh (this machine's dash, where
/// RHEL has bash: the scriptlets are POSIX, and shellcheck checks them as such) and
/// systemctl, with the libraries ldd names; /dev/null, which they write to; root in
/// /etc/passwd and /etc/group, for the files' owner; and RHEL's preset, which enables
/// nothing that no other preset names.
fn private_root(root: &Path) {
    for dir in [
        "usr/bin",
        "usr/sbin",
        "usr/lib",
        "usr/lib64",
        "etc",
        "var/tmp",
        "tmp",
        "dev",
    ] {
        fs::create_dir_all(root.join(dir)).unwrap();
    }
    for link in ["bin", "sbin", "lib", "lib64"] {
        symlink(format!("usr/{link}"), root.join(link)).unwrap();
    }
    let sh = fs::canonicalize("/bin/sh").unwrap();
    let systemctl = fs::canonicalize("/usr/bin/systemctl").unwrap();
    fs::copy(&sh, root.join("usr/bin/sh")).unwrap();
    fs::copy(&systemctl, root.join("usr/bin/systemctl")).unwrap();
    let ldd = run(Command::new("ldd").arg(&sh).arg(&systemctl));
    assert_success("ldd", &ldd);
    for library in stdout(&ldd)
        .split_whitespace()
        // "/usr/bin/dash:" heads the list of each file.
        .filter(|word| word.starts_with('/') && !word.ends_with(':'))
        .collect::<BTreeSet<_>>()
    {
        // Through the root's own links: /lib/x86_64-linux-gnu lands in /usr/lib.
        let copy = root.join(library.trim_start_matches('/'));
        fs::create_dir_all(copy.parent().unwrap()).unwrap();
        fs::copy(library, &copy).unwrap_or_else(|e| panic!("copy {library}: {e}"));
    }
    let null = root.join("dev/null");
    assert_success(
        "mknod",
        &run(Command::new("mknod")
            .args(["-m", "666"])
            .arg(&null)
            .args(["c", "1", "3"])),
    );
    fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
    let presets = root.join("usr/lib/systemd/system-preset");
    fs::create_dir_all(&presets).unwrap();
    fs::write(presets.join("99-default-disable.preset"), "disable *\n").unwrap();
    assert_success("rpm --initdb", &rpm_in(root, &["--initdb"]));
}

/// `rpm --root ROOT` with the database where RHEL keeps it (Debian's rpm keeps it in
/// the caller's home).
fn rpm_in(root: &Path, args: &[&str]) -> Output {
    run(Command::new("rpm")
        .arg("--root")
        .arg(root)
        .args(["--dbpath", "/var/lib/rpm"])
        .args(args))
}

/// What rpm printed on stderr but the two lines Debian's rpm prints on every
/// install and erase.
fn rpm_messages(output: &Output) -> Vec<String> {
    stderr(output)
        .lines()
        .filter(|line| {
            *line != "rpm: RPM should not be used directly install RPM packages, use Alien instead!"
                && *line != "rpm: However assuming you know what you are doing..."
        })
        .map(str::to_string)
        .collect()
}

/// The link `systemctl enable` makes for the unit's WantedBy=multi-user.target.
fn enabled(root: &Path) -> bool {
    root.join("etc/systemd/system/multi-user.target.wants/psi-syslogd.service")
        .symlink_metadata()
        .is_ok()
}

#[test]
fn rpm_builds_lints_and_installs_upgrades_and_erases_in_a_private_root() {
    // The builds keep both cores busy: real CPU pressure.
    let _lock = exclusive();
    let dir = scratch_dir("rpm");
    let package = build("x86_64", &dir);
    lint(&[
        &package,
        &Path::new(TOP).join("packaging/rpm/psi-syslogd.spec"),
    ]);

    assert_eq!(
        query(&package, "%{NAME} %{VERSION} %{RELEASE} %{ARCH}"),
        format!("psi-syslogd {VERSION} 1 x86_64")
    );
    assert_eq!(
        query(&package, "%{LICENSE}"),
        "(MIT OR Apache-2.0) AND MIT AND BSD-3-Clause"
    );
    assert_eq!(query(&package, "%{PAYLOADCOMPRESSOR}"), "xz");
    // A static binary needs no library: only the scriptlets' shell, rpm's own
    // features, and what rpm makes every package with %config files require of itself.
    // systemd orders the scriptlets without being required.
    let requires = query(&package, "[%{REQUIRENAME}\\n]");
    for requirement in requires.lines() {
        assert!(
            requirement == "/bin/sh"
                || requirement == "config(psi-syslogd)"
                || requirement.starts_with("rpmlib("),
            "unexpected requirement {requirement}:\n{requires}"
        );
    }
    assert_eq!(query(&package, "[%{ORDERNAME}\\n]"), "systemd\n".repeat(3));

    let files = regular_files(&package);
    let expected = expected_files(&dir);
    assert_eq!(
        files.difference(&expected).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "in the RPM, not the .deb"
    );
    assert_eq!(
        expected.difference(&files).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "in the .deb, not the RPM"
    );
    // The two configuration files, kept when changed (noreplace: flags "cn"), and the
    // rsyslog directory, owned so that nothing is left behind without rsyslog.
    let flags = query(&package, "[%{FILEFLAGS:fflags} %{FILENAMES}\\n]");
    let config: Vec<&str> = flags
        .lines()
        .filter(|l| {
            l.split_once(' ')
                .is_some_and(|(flags, _)| flags.contains('c'))
        })
        .collect();
    assert_eq!(
        config,
        [
            "cn /etc/psi-syslogd.conf",
            "cn /etc/rsyslog.d/psi-syslogd.conf"
        ],
        "{flags}"
    );
    let owned = query(&package, "[%{FILEMODES:perms} %{FILENAMES}\\n]");
    assert!(
        owned.lines().any(|l| l == "drwxr-xr-x /etc/rsyslog.d"),
        "{owned}"
    );

    // The scriptlets: POSIX sh, shellcheck-clean, and what systemd's macros give.
    for (tag, command) in [
        ("POSTIN", "systemctl --no-reload preset psi-syslogd.service"),
        (
            "PREUN",
            "systemctl --no-reload disable --now psi-syslogd.service",
        ),
        ("POSTUN", "systemctl try-restart psi-syslogd.service"),
    ] {
        assert_eq!(query(&package, &format!("%{{{tag}PROG}}")), "/bin/sh");
        let script = query(&package, &format!("%{{{tag}}}"));
        assert!(script.contains(command), "%{tag}:\n{script}");
        let path = dir.join(format!("{tag}.sh"));
        fs::write(&path, &script).unwrap();
        assert_success(
            &format!("sh -n %{tag}"),
            &run(Command::new("sh").arg("-n").arg(&path)),
        );
        assert_success(
            &format!("shellcheck %{tag}"),
            &run(Command::new("shellcheck").args(["-s", "sh"]).arg(&path)),
        );
    }

    // Installed into the private root, on a machine with PSI (/proc/pressure there)
    // and RHEL's presets: installed, not enabled, nothing said.
    let root = dir.join("root");
    private_root(&root);
    fs::create_dir_all(root.join("proc/self")).unwrap();
    fs::create_dir_all(root.join("proc/pressure")).unwrap();
    let before = files_in(&root);
    let package_arg = package.to_str().unwrap();
    let install = rpm_in(&root, &["-i", "--nodeps", package_arg]);
    assert_success("rpm -i", &install);
    assert_eq!(rpm_messages(&install), Vec::<String>::new());
    assert!(!enabled(&root), "enabled without a preset that says so");
    let verify = rpm_in(&root, &["-V", "--nodeps", "psi-syslogd"]);
    assert_success("rpm -V", &verify);
    assert_eq!(stdout(&verify), "");

    // Each file as it is in the repository; the binary as build-static.sh built it.
    let installed = |path: &str| fs::read(root.join(path)).unwrap();
    let source = |path: &str| fs::read(Path::new(TOP).join(path)).unwrap();
    assert_eq!(
        installed("usr/sbin/psi-syslogd"),
        fs::read(nested_target_dir().join("x86_64-unknown-linux-musl/release/psi-syslogd"))
            .unwrap()
    );
    for (path, from) in [
        (
            "usr/lib/systemd/system/psi-syslogd.service",
            "packaging/systemd/psi-syslogd.service",
        ),
        ("etc/psi-syslogd.conf", "packaging/psi-syslogd.conf"),
        (
            "etc/rsyslog.d/psi-syslogd.conf",
            "packaging/rsyslog/psi-syslogd.conf",
        ),
        (
            "usr/share/licenses/psi-syslogd/copyright",
            "packaging/debian/copyright",
        ),
    ] {
        assert!(
            installed(path) == source(from),
            "{path} differs from {from}"
        );
    }
    for file in &files {
        if let Some(example) = file.split_once(" /usr/share/doc/psi-syslogd/examples/") {
            let path = format!("usr/share/doc/psi-syslogd/examples/{}", example.1);
            assert!(
                installed(&path) == source(&format!("packaging/{}", example.1)),
                "{path}"
            );
        }
    }
    let man = run(Command::new("gzip")
        .arg("-dc")
        .arg(root.join("usr/share/man/man8/psi-syslogd.8.gz")));
    assert_success("gzip -dc psi-syslogd.8.gz", &man);
    assert!(man.stdout == source("man/psi-syslogd.8"));
    let man_conf = run(Command::new("gzip")
        .arg("-dc")
        .arg(root.join("usr/share/man/man5/psi-syslogd.conf.5.gz")));
    assert_success("gzip -dc psi-syslogd.conf.5.gz", &man_conf);
    assert!(man_conf.stdout == source("man/psi-syslogd.conf.5"));
    assert!(installed("usr/share/doc/psi-syslogd/README.md") == source("README.md"));

    // The installed binary and configuration, against this machine's kernel.
    let binary = root.join("usr/sbin/psi-syslogd");
    let version = run(Command::new(&binary).arg("--version"));
    assert_success("installed psi-syslogd --version", &version);
    assert_eq!(stdout(&version), format!("psi-syslogd {VERSION}\n"));
    let check = run(Command::new(&binary)
        .args(["--check", "-c"])
        .arg(root.join("etc/psi-syslogd.conf")));
    assert_success(
        "installed psi-syslogd --check -c /etc/psi-syslogd.conf",
        &check,
    );
    let effective = stdout(&check);
    for trigger in [
        "trigger memory:some:200000:2000000",
        "trigger io:full:300000:2000000",
        "trigger cpu:some:1000000:2000000",
    ] {
        assert!(effective.lines().any(|l| l == trigger), "{effective}");
    }

    // Erased: every file it installed goes, and the machine is as it was.
    let erase = rpm_in(&root, &["-e", "psi-syslogd"]);
    assert_success("rpm -e", &erase);
    assert_eq!(rpm_messages(&erase), Vec::<String>::new());
    assert_eq!(files_in(&root), before, "rpm -e left files behind");

    // Again where a preset enables it (an administrator's) and the kernel has no
    // /proc/pressure (RHEL before psi=1): enabled, and the note names psi=1.
    let admin_presets = root.join("etc/systemd/system-preset");
    fs::create_dir_all(&admin_presets).unwrap();
    fs::write(
        admin_presets.join("50-psi-syslogd.preset"),
        "enable psi-syslogd.service\n",
    )
    .unwrap();
    fs::remove_dir(root.join("proc/pressure")).unwrap();
    let before = files_in(&root);
    let install = rpm_in(&root, &["-i", "--nodeps", package_arg]);
    assert_success("rpm -i (preset enables it, no PSI)", &install);
    let messages = rpm_messages(&install);
    assert!(messages.iter().any(|l| l == PSI_NOTE), "{messages:?}");
    assert!(enabled(&root), "not enabled although a preset says so");
    let unit_link =
        fs::read_link(root.join("etc/systemd/system/multi-user.target.wants/psi-syslogd.service"))
            .unwrap();
    assert!(
        unit_link.ends_with("systemd/system/psi-syslogd.service"),
        "{unit_link:?}"
    );

    // Upgraded (the same package again: %postun runs with 1): a changed configuration
    // file is kept, and the unit stays enabled.
    let config_path = root.join("etc/psi-syslogd.conf");
    let mut changed = fs::read_to_string(&config_path).unwrap();
    changed.push_str("trigger cpu:some:40%:4s\n");
    fs::write(&config_path, &changed).unwrap();
    let upgrade = rpm_in(&root, &["-U", "--replacepkgs", "--nodeps", package_arg]);
    assert_success("rpm -U --replacepkgs", &upgrade);
    assert_eq!(fs::read_to_string(&config_path).unwrap(), changed);
    assert!(enabled(&root), "the upgrade disabled the unit");

    // Erased: disabled, and the changed file saved as .rpmsave, as rpm does with a
    // changed %config file.
    let erase = rpm_in(&root, &["-e", "psi-syslogd"]);
    assert_success("rpm -e (enabled, changed configuration)", &erase);
    assert_eq!(
        rpm_messages(&erase),
        ["warning: /etc/psi-syslogd.conf saved as /etc/psi-syslogd.conf.rpmsave"]
    );
    assert!(!enabled(&root), "still enabled after rpm -e");
    let mut expected_after = before.clone();
    expected_after.insert("/etc/psi-syslogd.conf.rpmsave".to_string());
    let after = files_in(&root);
    assert_eq!(
        after
            .symmetric_difference(&expected_after)
            .collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "rpm -e left the root otherwise than it was"
    );
    assert_eq!(
        fs::read_to_string(root.join("etc/psi-syslogd.conf.rpmsave")).unwrap(),
        changed
    );
}

/// The aarch64 package: the same files, the static-pie binary of its machine (the one
/// tests/architectures.rs runs), linted, and that binary run under qemu-user.
#[test]
fn aarch64_rpm_builds_lints_and_holds_the_aarch64_binary() {
    // The builds keep both cores busy: real CPU pressure.
    let _lock = exclusive();
    let dir = scratch_dir("rpm-aarch64");
    let package = build("aarch64", &dir);
    lint(&[&package]);
    assert_eq!(query(&package, "%{ARCH}"), "aarch64");
    assert_eq!(regular_files(&package), expected_files(&dir));

    let unpacked = dir.join("unpacked");
    fs::create_dir_all(&unpacked).unwrap();
    let cpio = run(Command::new("sh")
        .arg("-c")
        .arg("rpm2cpio \"$1\" | cpio -idm --quiet")
        .arg("sh")
        .arg(&package)
        .current_dir(&unpacked));
    assert_success("rpm2cpio | cpio", &cpio);
    let binary = unpacked.join("usr/sbin/psi-syslogd");
    assert_eq!(
        fs::metadata(&binary).unwrap().permissions().mode() & 0o777,
        0o755
    );
    assert_eq!(
        fs::read(&binary).unwrap(),
        fs::read(nested_target_dir().join("aarch64-unknown-linux-musl/release/psi-syslogd"))
            .unwrap()
    );
    let headers = stdout(&run(Command::new("readelf").arg("-hlW").arg(&binary)));
    assert!(
        headers
            .lines()
            .any(|l| l.trim().strip_prefix("Machine:").map(str::trim) == Some("AArch64")),
        "{headers}"
    );
    assert!(!headers.contains("program interpreter"), "{headers}");
    let version = run(Command::new("qemu-aarch64-static")
        .arg(&binary)
        .arg("--version"));
    assert_success("qemu-aarch64-static psi-syslogd --version", &version);
    assert_eq!(stdout(&version), format!("psi-syslogd {VERSION}\n"));
}
