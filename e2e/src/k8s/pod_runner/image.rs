//! Images as local binaries: the project's images run the binaries cargo built, in
//! place of the image's `/usr/local/bin/<name>` ENTRYPOINT.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// One image the runner can "pull": its repository's last path segment, the host
/// binary that stands for it, and the path its ENTRYPOINT has inside the image.
#[derive(Clone, Debug)]
pub struct ImageBinary {
    pub repository: String,
    pub binary: PathBuf,
    pub entrypoint: String,
}

impl ImageBinary {
    pub fn new(repository: &str, binary: impl Into<PathBuf>, entrypoint: &str) -> Self {
        Self {
            repository: repository.into(),
            binary: binary.into(),
            entrypoint: entrypoint.into(),
        }
    }
}

/// `sqsraft/sqsraft-server:*` and `sqsraft/sqsraft-operator:*`, found in `bin_dir`.
pub fn project_images(bin_dir: &Path) -> Vec<ImageBinary> {
    ["sqsraft-server", "sqsraft-operator"]
        .into_iter()
        .map(|name| ImageBinary::new(name, bin_dir.join(name), &format!("/usr/local/bin/{name}")))
        .collect()
}

/// "Pulls" `images` into `dir`: each binary is linked (or copied) there once, so a pod
/// runs a snapshot that stays reachable whatever the pod mounts over the build's own
/// path (an emptyDir on `/tmp` hides a checkout under `/tmp`) and that a concurrent
/// `cargo build` cannot replace mid-run.
pub fn pull(images: Vec<ImageBinary>, dir: &Path) -> Result<Vec<ImageBinary>> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    images
        .into_iter()
        .map(|image| {
            let pulled = dir.join(&image.repository);
            // The file itself, not a symlink to it (`/bin/sh` is a relative link).
            let source = std::fs::canonicalize(&image.binary).with_context(|| {
                format!(
                    "pull image {}: {}",
                    image.repository,
                    image.binary.display()
                )
            })?;
            if std::fs::hard_link(&source, &pulled).is_err() {
                std::fs::copy(&source, &pulled).with_context(|| {
                    format!(
                        "pull image {}: copy {}",
                        image.repository,
                        image.binary.display()
                    )
                })?;
            }
            Ok(ImageBinary {
                binary: pulled,
                ..image
            })
        })
        .collect()
}

/// The repository name of `image`, without registry, owner, tag or digest.
fn repository_name(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or(image);
    let last = no_digest.rsplit('/').next().unwrap_or(no_digest);
    last.split(':').next().unwrap_or(last)
}

pub fn lookup<'a>(images: &'a [ImageBinary], image: &str) -> Result<&'a ImageBinary> {
    let name = repository_name(image);
    match images.iter().find(|i| i.repository == name) {
        Some(found) => Ok(found),
        None => bail!("image {image:?} has no local binary in the pod runner"),
    }
}

/// The argv to run: `command` (or the ENTRYPOINT) then `args`; any argv[0] naming an
/// image's entrypoint path becomes that image's host binary (preStop and exec probes
/// call the binary by its in-image path).
pub fn argv(
    images: &[ImageBinary],
    image: &ImageBinary,
    command: &[String],
    args: &[String],
) -> Vec<String> {
    let mut argv: Vec<String> = if command.is_empty() {
        vec![image.entrypoint.clone()]
    } else {
        command.to_vec()
    };
    argv.extend(args.iter().cloned());
    translate(images, Some(image), &mut argv);
    argv
}

/// Rewrites argv[0] from an in-image entrypoint path to the host binary: the
/// container's `own` image first (two images may share an entrypoint path, as a
/// wrapped server image does), then any image.
pub fn translate(images: &[ImageBinary], own: Option<&ImageBinary>, argv: &mut [String]) {
    if let Some(first) = argv.first_mut()
        && let Some(image) = own
            .filter(|i| i.entrypoint == *first)
            .or_else(|| images.iter().find(|i| i.entrypoint == *first))
    {
        *first = image.binary.display().to_string();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images() -> Vec<ImageBinary> {
        project_images(Path::new("/t/debug"))
    }

    #[test]
    fn image_references_map_to_project_binaries() {
        let images = images();
        for image in [
            "sqsraft/sqsraft-server:0.1.0",
            "registry.example/team/sqsraft-server@sha256:abc",
            "sqsraft-server",
        ] {
            assert_eq!(
                lookup(&images, image).unwrap().binary,
                Path::new("/t/debug/sqsraft-server")
            );
        }
        assert!(lookup(&images, "busybox:1").is_err());
    }

    #[test]
    fn entrypoint_and_in_image_paths_become_host_binaries() {
        let images = images();
        let server = lookup(&images, "sqsraft/sqsraft-server:dev").unwrap();
        assert_eq!(
            argv(&images, server, &[], &["--x".into()]),
            ["/t/debug/sqsraft-server", "--x"]
        );
        let hook = [
            "/usr/local/bin/sqsraft-server".to_string(),
            "transfer-leader".into(),
        ];
        assert_eq!(
            argv(&images, server, &hook, &[]),
            ["/t/debug/sqsraft-server", "transfer-leader"]
        );
        assert_eq!(argv(&images, server, &["/bin/sh".into()], &[]), ["/bin/sh"]);
    }

    #[test]
    fn a_shared_entrypoint_path_runs_the_containers_own_image() {
        let mut images = images();
        images.push(ImageBinary::new(
            "wrapped-server",
            "/t/wrapper.sh",
            "/usr/local/bin/sqsraft-server",
        ));
        let wrapped = lookup(&images, "wrapped-server:1").unwrap().clone();
        let hook = ["/usr/local/bin/sqsraft-server".to_string(), "x".into()];
        assert_eq!(argv(&images, &wrapped, &[], &[]), ["/t/wrapper.sh"]);
        assert_eq!(argv(&images, &wrapped, &hook, &[]), ["/t/wrapper.sh", "x"]);
        let server = lookup(&images, "sqsraft-server").unwrap();
        assert_eq!(
            argv(&images, server, &hook, &[]),
            ["/t/debug/sqsraft-server", "x"]
        );
    }
}
