//! Disk format conversion end to end, on devcloud and on the real clouds alike: a server
//! booted from a qcow2 image arrives as a raw image, one booted from a raw image arrives as
//! qcow2, and `qemu-img compare` finds each target image's disk equal to the source
//! snapshot's. On devcloud the seeded `ehr-analytics` (whose disk is a generated qcow2) is
//! converted to raw too.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use s2d::cloud::compute::{ServerCreate, ServerNetwork};
use s2d::cloud::image::ImageCreate;
use s2d::cloud::{Cloud, ImageId, ServerId};

use crate::harness::{World, both};

fn qemu_img(args: &[&str], files: &[&Path]) -> std::process::Output {
    Command::new("qemu-img")
        .args(args)
        .args(files)
        .output()
        .expect("qemu-img must be installed (tests/run.sh installs qemu-utils)")
}

/// A 4 MiB disk with known bytes in its second and third MiB, as raw and as qcow2.
fn base_disks(dir: &Path) -> (PathBuf, PathBuf) {
    let raw = dir.join("base.raw");
    let mut bytes = vec![0u8; 4 << 20];
    for (i, b) in bytes.iter_mut().enumerate().skip(1 << 20).take(2 << 20) {
        *b = (i * 13 % 251) as u8;
    }
    std::fs::write(&raw, &bytes).expect("raw");
    let qcow2 = dir.join("base.qcow2");
    let out = qemu_img(
        &["convert", "-q", "-f", "raw", "-O", "qcow2"],
        &[&raw, &qcow2],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (raw, qcow2)
}

async fn upload_image(cloud: &Cloud, name: &str, format: &str, file: &Path) -> ImageId {
    let image = cloud
        .image
        .create(&ImageCreate {
            name: name.into(),
            disk_format: format.into(),
            container_format: "bare".into(),
            ..ImageCreate::default()
        })
        .await
        .expect("image");
    let bytes = std::fs::read(file).expect("read");
    let len = bytes.len() as u64;
    cloud
        .image
        .upload(
            &image.id,
            Some(len),
            futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(bytes))]),
        )
        .await
        .expect("upload");
    image.id
}

async fn boot(cloud: &Cloud, name: &str, image: &ImageId) -> ServerId {
    let network = cloud
        .network
        .networks(&[])
        .await
        .expect("networks")
        .into_iter()
        .find(|n| !n.external && n.name == "private")
        .expect("network private");
    let server = cloud
        .compute
        .create_server(&ServerCreate {
            name: name.into(),
            image: Some(image.clone()),
            flavor: "2".into(),
            key_name: Some("alice-key".into()),
            networks: vec![ServerNetwork::Network(network.id.clone())],
            ..ServerCreate::default()
        })
        .await
        .expect("server");
    cloud
        .compute
        .wait_for_server(&server, "ACTIVE", Duration::from_secs(120))
        .await
        .expect("ACTIVE");
    server
}

async fn download(cloud: &Cloud, id: &str, to: &Path) {
    let mut stream = cloud
        .image
        .download(&id.into(), None)
        .await
        .expect("download")
        .stream;
    let mut bytes = Vec::new();
    while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
        bytes.extend_from_slice(&chunk.expect("chunk"));
    }
    std::fs::write(to, &bytes).expect("write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_formats_convert_both_ways() {
    use futures_util::FutureExt;
    let world = World::start().await;
    let before = both(&world).await;
    let provider = world.cloud("provider").await;
    let (raw, qcow2) = base_disks(world.path());
    let base_qcow2 = upload_image(&provider, "fmt-base-qcow2", "qcow2", &qcow2).await;
    let base_raw = upload_image(&provider, "fmt-base-raw", "raw", &raw).await;
    let mut servers = Vec::new();
    let outcome = std::panic::AssertUnwindSafe(async {
        servers.push(boot(&provider, "fmt-qcow2", &base_qcow2).await);
        servers.push(boot(&provider, "fmt-raw", &base_raw).await);
        convert_and_compare(&world, &provider).await;
    })
    .catch_unwind()
    .await;
    // The clouds as they were, also after a failure (the real clouds are shared by the
    // tests that follow).
    let destroyed = world
        .s2d(&["destroy", "formats.toml", "--auto-approve"])
        .await;
    for server in &servers {
        provider
            .compute
            .delete_server(server)
            .await
            .expect("delete");
        provider
            .compute
            .wait_for_server_deleted(server, Duration::from_secs(120))
            .await
            .expect("deleted");
    }
    for image in [&base_qcow2, &base_raw] {
        provider.image.delete(image).await.expect("delete image");
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    assert_eq!(
        destroyed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&destroyed.stderr)
    );
    assert_eq!(
        both(&world).await,
        before,
        "the clouds are not as they were"
    );
}

/// The plan, apply, and each target image next to its source snapshot.
async fn convert_and_compare(world: &World, provider: &Cloud) {
    let target = world.cloud("hospital").await;
    // (source server, its snapshot's format, the format asked for)
    let mut cases = vec![("fmt-qcow2", "qcow2", "raw"), ("fmt-raw", "raw", "qcow2")];
    if world.devcloud.is_some() {
        cases.push(("ehr-analytics", "qcow2", "raw"));
    }
    let mut plan = String::from(
        "version = 1\n[source]\ncloud = \"provider\"\n[target]\ncloud = \"hospital\"\n\
         [defaults]\nnetwork = \"private\"\nkeypair = { import = \"alice-key\" }\n\
         floating_ip = false\n",
    );
    for (server, _, to) in &cases {
        plan.push_str(&format!(
            "\n[[server]]\nsource = \"{server}\"\nimage = {{ disk_format = \"{to}\" }}\n"
        ));
    }
    std::fs::write(world.path().join("formats.toml"), plan).expect("plan");
    world
        .s2d_ok(&["apply", "formats.toml", "--auto-approve"], 0)
        .await;

    for (server, from, to) in &cases {
        let snapshot = world.id(&format!("snapshot.{server}-s2d"));
        let copy = world.id(&format!("image.{server}-s2d"));
        let shown = provider
            .image
            .get(&snapshot.as_str().into())
            .await
            .expect("get")
            .expect("snapshot exists");
        assert_eq!(shown.disk_format.as_deref(), Some(*from), "{server}");
        let image = target
            .image
            .get(&copy.as_str().into())
            .await
            .expect("get")
            .expect("image exists");
        assert_eq!(image.disk_format.as_deref(), Some(*to), "{server}");
        assert_eq!(image.status, "active");
        let src = world.path().join(format!("{server}.snapshot"));
        let dst = world.path().join(format!("{server}.copy"));
        download(provider, &snapshot, &src).await;
        download(&target, &copy, &dst).await;
        for (file, format) in [(&src, from), (&dst, to)] {
            let info = qemu_img(&["info", "--output=json"], &[file]);
            let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap_or_default();
            assert_eq!(info["format"], *format, "{server}: {}", file.display());
            if *format == "qcow2" {
                let check = qemu_img(&["check", "-q", "-f", "qcow2"], &[file]);
                assert!(
                    check.status.success(),
                    "{server}: {}",
                    String::from_utf8_lossy(&check.stdout)
                );
            }
        }
        let compare = qemu_img(&["compare", "-f", from, "-F", to], &[&src, &dst]);
        assert!(
            compare.status.success(),
            "{server}: {}{}",
            String::from_utf8_lossy(&compare.stdout),
            String::from_utf8_lossy(&compare.stderr)
        );
    }
}
