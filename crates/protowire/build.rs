//! Compiles the vendored Kubernetes wire schema (`proto/k8s.io/**/generated.proto`) with
//! `protoc` (found by prost-build: `$PROTOC` or `protoc` on `PATH`) into a
//! FileDescriptorSet that the crate embeds and reads with prost-reflect.

use std::error::Error;
use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn Error>> {
    let proto_root = PathBuf::from("proto");
    let mut files = Vec::new();
    collect(&proto_root.join("k8s.io"), &mut files)?;
    files.sort();
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-env-changed=PROTOC");

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    // prost-build also renders Rust types; they are never compiled (the crate decodes
    // dynamically), so they go to a scratch directory.
    let scratch = out_dir.join("prost-unused");
    std::fs::create_dir_all(&scratch)?;
    prost_build::Config::new()
        .file_descriptor_set_path(out_dir.join("k8s.fds"))
        .out_dir(&scratch)
        .compile_protos(&files, &[proto_root])
        .map_err(|e| format!("compiling the Kubernetes .proto schema with protoc failed (install protobuf-compiler or set PROTOC): {e}"))?;
    Ok(())
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), Box<dyn Error>> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, files)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            files.push(path);
        }
    }
    Ok(())
}
