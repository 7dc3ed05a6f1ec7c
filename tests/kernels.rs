//! The kernel matrix: Debian's own kernels booted under qemu (tests/vm/run-matrix.sh),
//! each running the steps in tests/vm/steps with the static daemon of its architecture.
//! One test per kernel checks that every step passed there; one checks that what the
//! kernels allowed is what tests/README.md's kernel table says, and prints that table.
//!
//! The VMs run once for all tests of this binary, holding the suite's lock (two VMs take
//! both cores). Without qemu the tests fail under CI=true and say so loudly elsewhere.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

const TOP: &str = env!("CARGO_MANIFEST_DIR");

/// Every VM of the matrix, in the README table's column order: (name, heading).
const KERNELS: [(&str, &str); 4] = [
    ("bullseye-amd64", "5.10 amd64 (Debian 11)"),
    ("bookworm-amd64", "6.1 amd64 (Debian 12)"),
    ("bookworm-arm64", "6.1 arm64 (Debian 12)"),
    ("trixie-amd64", "6.12 amd64 (Debian 13)"),
];

/// What one VM reported on its console.
struct Console {
    name: String,
    text: String,
    qemu_status: String,
    kernel: Option<String>,
    steps: BTreeMap<String, String>,
    facts: BTreeMap<String, String>,
    ended: bool,
}

impl Console {
    fn read(dir: &Path, name: &str) -> Console {
        let text = fs::read_to_string(dir.join(format!("{name}.console"))).unwrap_or_default();
        let qemu_status = fs::read_to_string(dir.join(format!("{name}.status")))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "never ran".into());
        let mut console = Console {
            name: name.to_string(),
            text: String::new(),
            qemu_status,
            kernel: None,
            steps: BTreeMap::new(),
            facts: BTreeMap::new(),
            ended: false,
        };
        for line in text.lines() {
            // SeaBIOS's escape sequences may precede the first line on the same row.
            let Some(at) = line.find("@@ ") else { continue };
            let words: Vec<&str> = line[at + 3..].splitn(3, ' ').collect();
            match words[..] {
                ["KERNEL", release, machine] => {
                    console.kernel = Some(format!("{release} {machine}"));
                }
                ["STEP", step, result] => {
                    console.steps.insert(step.to_string(), result.to_string());
                }
                ["FACT", key, value] => {
                    console.facts.insert(key.to_string(), value.to_string());
                }
                ["END"] => console.ended = true,
                _ => {}
            }
        }
        console.text = text;
        console
    }

    fn fact(&self, key: &str) -> &str {
        self.facts
            .get(key)
            .map(String::as_str)
            .unwrap_or("(not seen)")
    }

    /// A failure that names the kernel, the architecture and the step, with the log.
    fn failure(&self, what: &str) -> String {
        format!(
            "kernel matrix, {} ({}): {what}\n---- console of {} (qemu exit status {}) ----\n{}\n---- end of console ----",
            self.name,
            self.kernel.as_deref().unwrap_or("kernel never reported"),
            self.name,
            self.qemu_status,
            self.text
        )
    }
}

/// Runs the matrix once; every test of this binary reads its output directory.
fn matrix() -> &'static Result<PathBuf, String> {
    static MATRIX: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    MATRIX.get_or_init(|| {
        let missing: Vec<&str> = [
            "qemu-system-x86_64",
            "qemu-system-aarch64",
            "cpio",
            "apt-get",
        ]
        .into_iter()
        .filter(|tool| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .collect();
        if !missing.is_empty() {
            let message = format!(
                "THE KERNEL MATRIX DID NOT RUN: {} missing (tests/deps.sh installs them)",
                missing.join(", ")
            );
            if std::env::var("CI").as_deref() == Ok("true") {
                return Err(message);
            }
            eprintln!("\n!!!!!!!! {message}; SKIPPED (an error under CI=true) !!!!!!!!\n");
            return Err(String::new());
        }
        let _lock = common::exclusive();
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kernel-matrix");
        let _ = fs::remove_dir_all(&out);
        let started = Instant::now();
        let output = Command::new("bash")
            .arg(Path::new(TOP).join("tests/vm/run-matrix.sh"))
            .arg(&out)
            .output()
            .map_err(|e| format!("cannot run tests/vm/run-matrix.sh: {e}"))?;
        eprintln!(
            "kernel matrix: {:.0} s in all\n{}",
            started.elapsed().as_secs_f64(),
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .filter(|l| l.starts_with("run-matrix.sh:"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        if !output.status.success() {
            return Err(format!(
                "tests/vm/run-matrix.sh failed ({}):\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(out)
    })
}

/// The console of VM `name`, or the test's failure (`None`: skipped loudly, not in CI).
fn console(name: &str) -> Option<Console> {
    match matrix() {
        Ok(dir) => Some(Console::read(dir, name)),
        Err(message) if message.is_empty() => None,
        Err(message) => panic!("{message}"),
    }
}

/// The steps every VM must have passed: one per file in tests/vm/steps.
fn steps() -> Vec<String> {
    let mut steps: Vec<String> = fs::read_dir(Path::new(TOP).join("tests/vm/steps"))
        .expect("tests/vm/steps")
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            Some(name.strip_suffix(".sh")?.to_string())
        })
        .collect();
    steps.sort();
    steps
}

fn every_step_passes(name: &str, release_prefix: &str, machine: &str) {
    let Some(console) = console(name) else { return };
    let kernel = console.kernel.clone().unwrap_or_default();
    assert!(
        kernel.starts_with(release_prefix) && kernel.ends_with(machine),
        "{}",
        console.failure(&format!(
            "booted {kernel:?}, not a {release_prefix} kernel on {machine}"
        ))
    );
    for step in steps() {
        let result = console.steps.get(&step).map(String::as_str);
        assert_eq!(
            result,
            Some("PASS"),
            "{}",
            console.failure(&format!("step {step}: {}", result.unwrap_or("never ran")))
        );
    }
    assert!(
        console.ended && console.qemu_status == "0",
        "{}",
        console.failure("the VM did not finish its steps and power off")
    );
}

#[test]
fn debian_11_kernel_5_10_amd64() {
    every_step_passes("bullseye-amd64", "5.10.", "x86_64");
}

#[test]
fn debian_12_kernel_6_1_amd64() {
    every_step_passes("bookworm-amd64", "6.1.", "x86_64");
}

#[test]
fn debian_12_kernel_6_1_arm64() {
    every_step_passes("bookworm-arm64", "6.1.", "aarch64");
}

#[test]
fn debian_13_kernel_6_12_amd64() {
    every_step_passes("trixie-amd64", "6.12.", "x86_64");
}

/// A kernel's answer (`OK`, `open:EACCES`, `write:EINVAL`) in the table's words.
fn answer(value: &str) -> String {
    match value {
        "OK" => "armed".into(),
        other => match other.split_once(':') {
            Some((operation, errno)) => format!("{operation}: {errno}"),
            None => other.into(),
        },
    }
}

fn mode(value: &str) -> String {
    let Some((mode, owner)) = value.split_once(':') else {
        return value.into();
    };
    let octal = mode
        .chars()
        .skip(1)
        .collect::<Vec<_>>()
        .chunks(3)
        .fold(0, |acc, rwx| {
            acc * 8
                + rwx
                    .iter()
                    .zip([4, 2, 1])
                    .map(|(&c, bit)| if c == '-' { 0 } else { bit })
                    .sum::<u32>()
        });
    format!("`{octal:04o}` {owner}")
}

/// The table of what each kernel allowed, built from the facts the VMs reported.
fn table(consoles: &[Console]) -> String {
    let exit = |c: &Console, key: &str| match c.facts.get(key) {
        Some(status) => format!("exit {status}"),
        None => "armed".into(),
    };
    type Row = (&'static str, Box<dyn Fn(&Console) -> String>);
    let rows: Vec<Row> = vec![
        (
            "`/proc/pressure/*` mode",
            Box::new(|c| mode(c.fact("mode.cpu"))),
        ),
        ("cpu `full` line", Box::new(|c| c.fact("full.cpu").into())),
        (
            "`/proc/pressure/irq`",
            Box::new(|c| c.fact("mode.irq").into()),
        ),
        (
            "cgroup v2 pressure files",
            Box::new(|c| c.fact("cgroup.files").replace(',', ", ")),
        ),
        (
            "root: 100 ms window",
            Box::new(|c| answer(c.fact("root.window_100ms"))),
        ),
        (
            "root: 500 ms window",
            Box::new(|c| answer(c.fact("root.window_500ms"))),
        ),
        (
            "root: cpu `full`",
            Box::new(|c| answer(c.fact("root.cpu_full"))),
        ),
        (
            "uid 1000, no capabilities: 2 s window",
            Box::new(|c| answer(c.fact("user.window_2s"))),
        ),
        (
            "uid 1000, no capabilities: 1 s window",
            Box::new(|c| answer(c.fact("user.window_1s"))),
        ),
        (
            "uid 1000, only CAP_SYS_RESOURCE: 1 s window",
            Box::new(|c| answer(c.fact("sys_resource.window_1s"))),
        ),
        (
            "uid 1000, only CAP_DAC_OVERRIDE: 2 s window",
            Box::new(|c| answer(c.fact("dac_override.window_2s"))),
        ),
        (
            "uid 1000, only CAP_DAC_OVERRIDE: 1 s window",
            Box::new(|c| answer(c.fact("dac_override.window_1s"))),
        ),
        (
            "psi-syslogd, default triggers, uid 1000 without capabilities",
            Box::new(move |c| exit(c, "refused.none.memory:some:10%:2s")),
        ),
        (
            "psi-syslogd `-t cpu:full:200ms:2s`, root",
            Box::new(move |c| exit(c, "refused.root.cpu:full:200ms:2s")),
        ),
        (
            "psi-syslogd `-t cpu:some:50ms:100ms`, root",
            Box::new(move |c| exit(c, "refused.root.cpu:some:50ms:100ms")),
        ),
        (
            "psi-syslogd `-t cpu:some:100ms:1s`, uid 1000 without capabilities",
            Box::new(move |c| exit(c, "refused.none.cpu:some:100ms:1s")),
        ),
        (
            "psi-syslogd `-t cpu:some:100ms:1s`, uid 1000 with CAP_SYS_RESOURCE",
            Box::new(move |c| exit(c, "refused.24.cpu:some:100ms:1s")),
        ),
        (
            "default configuration, uid 1000 in a private user namespace (systemd `PrivateUsers=yes`), no capabilities",
            Box::new(|c| match c.fact("private_users.none") {
                "0" => "armed".into(),
                other => format!("exit {other}"),
            }),
        ),
        (
            "the same with only CAP_DAC_OVERRIDE (`dac-override.conf`)",
            Box::new(|c| match c.fact("private_users.dac_override") {
                "0" => "armed".into(),
                other => format!("exit {other}"),
            }),
        ),
        (
            "sysvinit script runs the default configuration as",
            Box::new(|c| match c.fact("sysvinit.uid") {
                "0" => "root".into(),
                "65534" => "nobody".into(),
                other => other.into(),
            }),
        ),
        (
            "OpenRC script runs the default configuration as",
            Box::new(|c| match c.fact("openrc.user") {
                "root:root" => "root".into(),
                "nobody:nogroup" => "nobody".into(),
                other => other.into(),
            }),
        ),
    ];
    let mut text = String::from("| |");
    for (_, heading) in KERNELS {
        text.push_str(&format!(" {heading} |"));
    }
    text.push_str("\n| --- |");
    text.push_str(&" --- |".repeat(KERNELS.len()));
    text.push('\n');
    for (label, value) in rows {
        text.push_str(&format!("| {label} |"));
        for console in consoles {
            text.push_str(&format!(" {} |", value(console)));
        }
        text.push('\n');
    }
    text
}

#[test]
fn what_each_kernel_allowed_is_the_readme_table() {
    let consoles: Option<Vec<Console>> = KERNELS.iter().map(|(name, _)| console(name)).collect();
    let Some(consoles) = consoles else { return };
    for console in &consoles {
        assert!(
            console.facts.contains_key("mode.cpu"),
            "{}",
            console.failure("step 00-psi reported no facts")
        );
    }
    let table = table(&consoles);
    let versions: Vec<String> = consoles
        .iter()
        .map(|c| {
            let package = fs::read_to_string(
                matrix()
                    .as_ref()
                    .map(|dir| dir.join(format!("{}.package", c.name)))
                    .unwrap_or_default(),
            )
            .unwrap_or_default();
            format!("{}: {}", c.name, package.trim())
        })
        .collect();
    eprintln!(
        "What each kernel allowed ({}):\n\n{table}",
        versions.join(", ")
    );
    let readme = fs::read_to_string(Path::new(TOP).join("tests/README.md")).expect("README.md");
    assert!(
        readme.contains(&table),
        "tests/README.md's kernel table is not what the kernels did; the matrix saw:\n\n{table}"
    );
}

/// The matrix's scripts parse and pass shellcheck (the steps and vm.sh share
/// variables, so SC2034 and SC2154 are off for them).
#[test]
fn vm_scripts_pass_shellcheck() {
    let dir = Path::new(TOP).join("tests/vm");
    let run = |args: &[&str], files: Vec<PathBuf>| {
        let output = Command::new("shellcheck")
            .args(args)
            .args(&files)
            .output()
            .expect("run shellcheck (tests/deps.sh installs it)");
        assert!(
            output.status.success(),
            "shellcheck {files:?}:\n{}",
            String::from_utf8_lossy(&output.stdout)
        );
    };
    run(
        &["-s", "bash"],
        vec![dir.join("fetch.sh"), dir.join("run-matrix.sh")],
    );
    let mut guest = vec![dir.join("init"), dir.join("vm.sh")];
    guest.extend(
        steps()
            .iter()
            .map(|step| dir.join("steps").join(format!("{step}.sh"))),
    );
    run(&["-s", "sh", "-e", "SC2034,SC2154"], guest);
}
