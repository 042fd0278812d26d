//! Disk format conversion with `qemu-img convert`, for a plan whose `image.disk_format`
//! differs from the source image's (e.g. qcow2 to raw for a Ceph-backed target).
//!
//! Works on spooled files only (conversion needs random access to the whole image). The
//! converted file is written beside the input under a temporary name and renamed when
//! `qemu-img` succeeds, so a killed conversion never leaves a file that looks finished.

use std::path::{Path, PathBuf};
use std::process::Stdio;

/// The disk formats `qemu-img` knows by another name than Glance's.
fn qemu_format(glance_format: &str) -> &str {
    match glance_format {
        "vhd" => "vpc",
        "ploop" => "parallels",
        other => other,
    }
}

/// Glance formats that qemu-img can read and write.
const CONVERTIBLE: &[&str] = &["raw", "qcow2", "vmdk", "vdi", "vhd", "vhdx"];

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error(
        "qemu-img is not installed: converting {from} to {to} needs it (Debian/Ubuntu: \
         `apt-get install qemu-utils`; Fedora/RHEL: `dnf install qemu-img`)"
    )]
    Missing { from: String, to: String },
    #[error("cannot convert {from} to {to}: qemu-img converts between {}", CONVERTIBLE.join(", "))]
    Unsupported { from: String, to: String },
    #[error("qemu-img convert {from} to {to} failed ({status}): {stderr}")]
    Failed {
        from: String,
        to: String,
        status: String,
        stderr: String,
    },
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Convert `input` (in Glance format `from`) to `output` in Glance format `to`.
pub async fn convert(
    input: &Path,
    from: &str,
    output: &Path,
    to: &str,
) -> Result<(), ConvertError> {
    convert_with(Path::new("qemu-img"), input, from, output, to).await
}

/// [`convert`] with the `qemu-img` program given (tests use a missing one).
pub async fn convert_with(
    qemu_img: &Path,
    input: &Path,
    from: &str,
    output: &Path,
    to: &str,
) -> Result<(), ConvertError> {
    if !CONVERTIBLE.contains(&from) || !CONVERTIBLE.contains(&to) {
        return Err(ConvertError::Unsupported {
            from: from.into(),
            to: to.into(),
        });
    }
    let mut partial = output.as_os_str().to_owned();
    partial.push(".converting");
    let partial = PathBuf::from(partial);
    let result = tokio::process::Command::new(qemu_img)
        .args(["convert", "-f", qemu_format(from), "-O", qemu_format(to)])
        .arg(input)
        .arg(&partial)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output()
        .await;
    let out = match result {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ConvertError::Missing {
                from: from.into(),
                to: to.into(),
            });
        }
        Err(source) => {
            return Err(ConvertError::Io {
                action: "running qemu-img on",
                path: input.into(),
                source,
            });
        }
    };
    if !out.status.success() {
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(ConvertError::Failed {
            from: from.into(),
            to: to.into(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    tokio::fs::rename(&partial, output)
        .await
        .map_err(|source| ConvertError::Io {
            action: "completing",
            path: output.into(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qemu_img(args: &[&str]) -> std::process::Output {
        std::process::Command::new("qemu-img")
            .args(args)
            .output()
            .expect("qemu-img is part of the test setup (qemu-utils)")
    }

    #[tokio::test]
    async fn qcow2_to_raw_keeps_the_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let raw_in = dir.path().join("in.raw");
        // A disk with recognisable content at several offsets.
        let mut bytes = vec![0u8; 4 << 20];
        for (i, b) in bytes.iter_mut().enumerate().step_by(4093) {
            *b = (i % 251) as u8 + 1;
        }
        std::fs::write(&raw_in, &bytes).expect("writes");
        let qcow2 = dir.path().join("disk.qcow2");
        let made = qemu_img(&[
            "convert",
            "-f",
            "raw",
            "-O",
            "qcow2",
            raw_in.to_str().expect("utf-8"),
            qcow2.to_str().expect("utf-8"),
        ]);
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );

        let raw_out = dir.path().join("out.raw");
        convert(&qcow2, "qcow2", &raw_out, "raw")
            .await
            .expect("converts");
        assert_eq!(std::fs::read(&raw_out).expect("reads"), bytes);
        let compared = qemu_img(&[
            "compare",
            "-f",
            "qcow2",
            "-F",
            "raw",
            qcow2.to_str().expect("utf-8"),
            raw_out.to_str().expect("utf-8"),
        ]);
        assert!(
            compared.status.success(),
            "qemu-img compare: {}",
            String::from_utf8_lossy(&compared.stdout)
        );
        assert!(!dir.path().join("out.raw.converting").exists());
    }

    #[tokio::test]
    async fn a_missing_qemu_img_names_the_package() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = convert_with(
            Path::new("/nonexistent/qemu-img"),
            &dir.path().join("a"),
            "qcow2",
            &dir.path().join("b"),
            "raw",
        )
        .await
        .expect_err("missing");
        assert!(err.to_string().contains("qemu-utils"), "{err}");
    }

    #[tokio::test]
    async fn a_failed_conversion_leaves_no_output() {
        let dir = tempfile::tempdir().expect("tempdir");
        let garbage = dir.path().join("garbage.qcow2");
        std::fs::write(&garbage, b"not a qcow2 image").expect("writes");
        let out = dir.path().join("out.raw");
        let err = convert(&garbage, "qcow2", &out, "raw")
            .await
            .expect_err("fails");
        assert!(matches!(err, ConvertError::Failed { .. }), "{err}");
        assert!(!out.exists());
        assert!(!dir.path().join("out.raw.converting").exists());
    }

    #[tokio::test]
    async fn formats_qemu_cannot_write_are_refused_up_front() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = convert(&dir.path().join("a"), "qcow2", &dir.path().join("b"), "iso")
            .await
            .expect_err("refused");
        assert!(matches!(err, ConvertError::Unsupported { .. }), "{err}");
    }
}
