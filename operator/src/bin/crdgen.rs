//! Writes every CRD of the operator as YAML.
//!
//! `crdgen [DIR]` writes one file per CRD into DIR (default: `crds/` at the repository
//! root). `crdgen -` prints them to standard output instead.

use std::path::PathBuf;

fn main() {
    let arg = std::env::args().nth(1);
    for (file, crd) in sqsraft_operator::crd::all_crds() {
        let yaml = match sqsraft_operator::crd::render_crd(&crd) {
            Ok(y) => y,
            Err(e) => {
                eprintln!("crdgen: cannot render {file}: {e}");
                std::process::exit(1);
            }
        };
        match arg.as_deref() {
            Some("-") => print!("---\n{yaml}"),
            other => {
                let dir = other
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crds"));
                let path = dir.join(file);
                if let Err(e) =
                    std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, yaml))
                {
                    eprintln!("crdgen: cannot write {}: {e}", path.display());
                    std::process::exit(1);
                }
                eprintln!("crdgen: wrote {}", path.display());
            }
        }
    }
}
